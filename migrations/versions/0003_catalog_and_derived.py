"""Catalog metadata and derived-layer results.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("layer", sa.Column("temporal_column", sa.Text))
    op.add_column("layer", sa.Column("parameters", JSONB))
    op.add_column("layer", sa.Column("input_layers", sa.ARRAY(sa.Text), nullable=False, server_default="{}"))
    op.create_table(
        "derived_run",
        sa.Column("cache_key", sa.Text, primary_key=True),
        sa.Column("layer_id", sa.Text, sa.ForeignKey("layer.id", ondelete="CASCADE"), nullable=False),
        sa.Column("params", JSONB, nullable=False),
        sa.Column("input_versions", JSONB, nullable=False),
        sa.Column("feature_count", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("derived_run_layer_idx", "derived_run", ["layer_id", "last_used_at"])
    op.create_table(
        "derived_feature",
        sa.Column(
            "cache_key",
            sa.Text,
            sa.ForeignKey("derived_run.cache_key", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("fid", sa.BigInteger, primary_key=True),
        sa.Column("props", JSONB, nullable=False),
        sa.Column("geom", Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=False),
    )
    op.create_index("derived_feature_geom_idx", "derived_feature", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_table("derived_feature")
    op.drop_table("derived_run")
    op.drop_column("layer", "input_layers")
    op.drop_column("layer", "parameters")
    op.drop_column("layer", "temporal_column")
