"""Line punctuality (Закъснява ли?, June 2026): delay figures per official line id, not spatial; and
a note on import runs (why a run changed nothing, e.g. an uploaded feed was kept).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "line_punctuality",
        sa.Column("line_id", sa.Text, primary_key=True),
        sa.Column("month", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("mode", sa.Text, nullable=False),
        sa.Column("median_delay_min", sa.Float),
        sa.Column("p90_delay_min", sa.Float),
        sa.Column("ontime_pct", sa.Float),
        sa.Column("served_pct", sa.Float),
        sa.Column("sample_n", sa.Integer),
        sa.Column("grade", sa.Text),
        sa.Column("caveats", sa.Text, nullable=False, server_default=""),
    )
    op.add_column("import_run", sa.Column("note", sa.Text))


def downgrade() -> None:
    op.drop_column("import_run", "note")
    op.drop_table("line_punctuality")
