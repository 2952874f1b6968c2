"""Layer options: how the catalog serves a base layer whose table is a view over a large table (its key
column, whether numberMatched is counted, the layer whose extent it reports).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("layer", sa.Column("options", JSONB, nullable=False, server_default="{}"))


def downgrade() -> None:
    op.drop_column("layer", "options")
