"""A derived result keeps the account of its computation (method, fit, fallbacks, the reason it is
empty), served with its features.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("derived_run", sa.Column("computation", JSONB, nullable=True))


def downgrade() -> None:
    op.drop_column("derived_run", "computation")
