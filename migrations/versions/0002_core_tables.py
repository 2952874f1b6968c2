"""Core tables: the layer registry, import runs, API keys, the district and its neighbourhoods.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _multipolygon() -> Geometry:
    # spatial_index=False: the GiST index is created explicitly below, once.
    return Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)


def upgrade() -> None:
    op.create_table(
        "layer",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("geometry_type", sa.Text, nullable=False),
        sa.Column("table_name", sa.Text),
        sa.Column("source_ids", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("source_url", sa.Text),
        sa.Column("licence", sa.Text, nullable=False),
        sa.Column("attribution", sa.Text, nullable=False),
        sa.Column("source_date", sa.Text),
        sa.Column("synthetic", sa.Boolean, nullable=False),
        sa.Column("data_version", sa.BigInteger, nullable=False, server_default="1"),
        sa.Column("content_hash", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("kind IN ('base', 'derived')", name="layer_kind_check"),
    )
    op.create_table(
        "import_run",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("loader", sa.Text, nullable=False),
        sa.Column("sources", JSONB, nullable=False, server_default="[]"),
        sa.Column("checksum", sa.Text),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("row_counts", JSONB, nullable=False, server_default="{}"),
        sa.Column("error", sa.Text),
        sa.Column("triggered_by", sa.Text, nullable=False, server_default="cli"),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'unchanged', 'failed')",
            name="import_run_status_check",
        ),
    )
    op.create_index("import_run_loader_started_idx", "import_run", ["loader", "started_at"])
    op.create_table(
        "api_key",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("prefix", sa.Text, nullable=False, unique=True),
        sa.Column("key_hash", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(
            "role IN ('planner', 'transport', 'sensor-ingest', 'admin')", name="api_key_role_check"
        ),
    )
    op.create_table(
        "district",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name_bg", sa.Text, nullable=False),
        sa.Column("name_en", sa.Text, nullable=False),
        sa.Column("population_estimate", sa.Integer),
        sa.Column("geom", _multipolygon(), nullable=False),
    )
    op.create_index("district_geom_idx", "district", ["geom"], postgresql_using="gist")
    op.create_table(
        "neighbourhood",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column(
            "district_id",
            sa.Text,
            sa.ForeignKey("district.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("geom", _multipolygon(), nullable=False),
    )
    op.create_index("neighbourhood_geom_idx", "neighbourhood", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_table("neighbourhood")
    op.drop_table("district")
    op.drop_table("api_key")
    op.drop_table("import_run")
    op.drop_table("layer")
