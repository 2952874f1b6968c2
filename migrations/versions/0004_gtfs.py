"""GTFS static feed tables (one current feed; an import replaces it in one transaction).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gtfs_feed",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("checksum", sa.Text, nullable=False),
        sa.Column("feed_info", JSONB, nullable=False, server_default="{}"),
        sa.Column("start_date", sa.Date),
        sa.Column("end_date", sa.Date),
        sa.Column("counts", JSONB, nullable=False, server_default="{}"),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("id = 1", name="gtfs_feed_single_row"),
    )
    op.create_table(
        "gtfs_agency",
        sa.Column("agency_id", sa.Text, primary_key=True),
        sa.Column("agency_name", sa.Text, nullable=False),
        sa.Column("agency_url", sa.Text, nullable=False),
        sa.Column("agency_timezone", sa.Text, nullable=False),
    )
    op.create_table(
        "gtfs_stop",
        sa.Column("stop_id", sa.Text, primary_key=True),
        sa.Column("stop_code", sa.Text),
        sa.Column("stop_name", sa.Text),
        sa.Column("location_type", sa.Integer, nullable=False),
        sa.Column("parent_station", sa.Text),
        sa.Column("routes", sa.Text, nullable=False, server_default=""),
        sa.Column("route_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False)),
    )
    op.create_index("gtfs_stop_geom_idx", "gtfs_stop", ["geom"], postgresql_using="gist")
    op.create_table(
        "gtfs_route",
        sa.Column("route_id", sa.Text, primary_key=True),
        sa.Column("agency_id", sa.Text),
        sa.Column("route_short_name", sa.Text),
        sa.Column("route_long_name", sa.Text),
        sa.Column("route_type", sa.Integer, nullable=False),
        sa.Column("route_color", sa.Text),
        sa.Column("route_text_color", sa.Text),
    )
    op.create_table(
        "gtfs_trip",
        sa.Column("trip_id", sa.Text, primary_key=True),
        sa.Column("route_id", sa.Text, nullable=False),
        sa.Column("service_id", sa.Text, nullable=False),
        sa.Column("trip_headsign", sa.Text),
        sa.Column("direction_id", sa.SmallInteger),
        sa.Column("shape_id", sa.Text),
    )
    op.create_index("gtfs_trip_route_idx", "gtfs_trip", ["route_id"])
    op.create_table(
        "gtfs_stop_time",
        sa.Column("trip_id", sa.Text, primary_key=True),
        sa.Column("stop_sequence", sa.Integer, primary_key=True),
        sa.Column("stop_id", sa.Text, nullable=False),
        sa.Column("arrival_s", sa.Integer),
        sa.Column("departure_s", sa.Integer),
    )
    op.create_index("gtfs_stop_time_stop_idx", "gtfs_stop_time", ["stop_id", "departure_s"])
    op.create_table(
        "gtfs_calendar",
        sa.Column("service_id", sa.Text, primary_key=True),
        *(sa.Column(day, sa.Boolean, nullable=False) for day in _DAYS),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date, nullable=False),
    )
    op.create_table(
        "gtfs_calendar_date",
        sa.Column("service_id", sa.Text, primary_key=True),
        sa.Column("date", sa.Date, primary_key=True),
        sa.Column("exception_type", sa.SmallInteger, nullable=False),
    )
    op.create_table(
        "gtfs_frequency",
        sa.Column("trip_id", sa.Text, primary_key=True),
        sa.Column("start_s", sa.Integer, primary_key=True),
        sa.Column("end_s", sa.Integer, nullable=False),
        sa.Column("headway_secs", sa.Integer, nullable=False),
    )


_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def downgrade() -> None:
    for table in (
        "gtfs_frequency",
        "gtfs_calendar_date",
        "gtfs_calendar",
        "gtfs_stop_time",
        "gtfs_trip",
        "gtfs_route",
        "gtfs_stop",
        "gtfs_agency",
        "gtfs_feed",
    ):
        op.drop_table(table)
