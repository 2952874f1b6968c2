"""GTFS shapes and route lines (one per route and direction); stop_times loses its stop index.

The (stop_id, departure_s) index of 0004 is dropped: no query uses it (a service day's schedule is
indexed in memory by twin.stop_metrics), and building it took longer than the rest of a feed import.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("gtfs_stop_time_stop_idx", table_name="gtfs_stop_time")
    op.create_table(
        "gtfs_shape",
        sa.Column("shape_id", sa.Text, primary_key=True),
        sa.Column("point_count", sa.Integer, nullable=False),
        sa.Column("geom", Geometry("LINESTRING", srid=4326, spatial_index=False), nullable=False),
    )
    op.create_table(
        "gtfs_route_line",
        sa.Column("route_dir", sa.Text, primary_key=True),
        sa.Column("route_id", sa.Text, nullable=False),
        sa.Column("direction_id", sa.SmallInteger),
        sa.Column("route_short_name", sa.Text),
        sa.Column("route_long_name", sa.Text),
        sa.Column("route_type", sa.Integer, nullable=False),
        sa.Column("mode", sa.Text, nullable=False),
        sa.Column("route_color", sa.Text),
        sa.Column("headsign", sa.Text),
        sa.Column("trips", sa.Integer, nullable=False),
        sa.Column("patterns", sa.Integer, nullable=False),
        sa.Column("pattern_trips", sa.Integer, nullable=False),
        sa.Column("stops", sa.Integer, nullable=False),
        sa.Column("geometry_source", sa.Text, nullable=False),
        sa.Column("shape_id", sa.Text),
        sa.Column("length_m", sa.Double),
        sa.Column("geom", Geometry("LINESTRING", srid=4326, spatial_index=False), nullable=False),
        sa.CheckConstraint(
            "geometry_source IN ('shapes', 'stop_sequence')", name="gtfs_route_line_geometry_source"
        ),
    )
    op.create_index("gtfs_route_line_geom_idx", "gtfs_route_line", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_table("gtfs_route_line")
    op.drop_table("gtfs_shape")
    op.create_index("gtfs_stop_time_stop_idx", "gtfs_stop_time", ["stop_id", "departure_s"])
