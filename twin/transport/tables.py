"""The transport pilot's tables: the current GTFS feed, the layers drawn from it (stops with their
routes, route lines) and line punctuality."""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Double,
    Float,
    Index,
    Integer,
    SmallInteger,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from twin.platform.tables import metadata

GTFS_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

gtfs_feed = Table(
    "gtfs_feed",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("checksum", Text, nullable=False),
    Column("feed_info", JSONB, nullable=False, server_default="{}"),
    Column("start_date", Date),
    Column("end_date", Date),
    Column("counts", JSONB, nullable=False, server_default="{}"),
    Column("loaded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("id = 1", name="gtfs_feed_single_row"),
)
gtfs_agency = Table(
    "gtfs_agency",
    metadata,
    Column("agency_id", Text, primary_key=True),
    Column("agency_name", Text, nullable=False),
    Column("agency_url", Text, nullable=False),
    Column("agency_timezone", Text, nullable=False),
)
gtfs_stop = Table(
    "gtfs_stop",
    metadata,
    Column("stop_id", Text, primary_key=True),
    Column("stop_code", Text),
    Column("stop_name", Text),
    Column("location_type", Integer, nullable=False),
    Column("parent_station", Text),
    Column("routes", Text, nullable=False, server_default=""),
    Column("route_count", Integer, nullable=False, server_default="0"),
    Column("geom", Geometry("POINT", srid=4326, spatial_index=False)),
)
gtfs_route = Table(
    "gtfs_route",
    metadata,
    Column("route_id", Text, primary_key=True),
    Column("agency_id", Text),
    Column("route_short_name", Text),
    Column("route_long_name", Text),
    Column("route_type", Integer, nullable=False),
    Column("route_color", Text),
    Column("route_text_color", Text),
)
gtfs_trip = Table(
    "gtfs_trip",
    metadata,
    Column("trip_id", Text, primary_key=True),
    Column("route_id", Text, nullable=False),
    Column("service_id", Text, nullable=False),
    Column("trip_headsign", Text),
    Column("direction_id", SmallInteger),
    Column("shape_id", Text),
)
gtfs_stop_time = Table(
    "gtfs_stop_time",
    metadata,
    Column("trip_id", Text, primary_key=True),
    Column("stop_sequence", Integer, primary_key=True),
    Column("stop_id", Text, nullable=False),
    Column("arrival_s", Integer),
    Column("departure_s", Integer),
)
gtfs_calendar = Table(
    "gtfs_calendar",
    metadata,
    Column("service_id", Text, primary_key=True),
    *(Column(day, Boolean, nullable=False) for day in GTFS_DAYS),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
)
gtfs_calendar_date = Table(
    "gtfs_calendar_date",
    metadata,
    Column("service_id", Text, primary_key=True),
    Column("date", Date, primary_key=True),
    Column("exception_type", SmallInteger, nullable=False),
)
gtfs_frequency = Table(
    "gtfs_frequency",
    metadata,
    Column("trip_id", Text, primary_key=True),
    Column("start_s", Integer, primary_key=True),
    Column("end_s", Integer, nullable=False),
    Column("headway_secs", Integer, nullable=False),
)
gtfs_shape = Table(
    "gtfs_shape",
    metadata,
    Column("shape_id", Text, primary_key=True),
    Column("point_count", Integer, nullable=False),
    Column("geom", Geometry("LINESTRING", srid=4326, spatial_index=False), nullable=False),
)
gtfs_route_line = Table(
    "gtfs_route_line",
    metadata,
    # route_id + ":" + direction_id ("" when the feed gives none): one feature per route and direction.
    Column("route_dir", Text, primary_key=True),
    Column("route_id", Text, nullable=False),
    Column("direction_id", SmallInteger),
    Column("route_short_name", Text),
    Column("route_long_name", Text),
    Column("route_type", Integer, nullable=False),
    Column("mode", Text, nullable=False),
    Column("route_color", Text),
    Column("headsign", Text),
    Column("trips", Integer, nullable=False),
    Column("patterns", Integer, nullable=False),
    Column("pattern_trips", Integer, nullable=False),
    Column("stops", Integer, nullable=False),
    Column("geometry_source", Text, nullable=False),
    Column("shape_id", Text),
    Column("length_m", Double),
    Column("geom", Geometry("LINESTRING", srid=4326, spatial_index=False), nullable=False),
    CheckConstraint("geometry_source IN ('shapes', 'stop_sequence')", name="gtfs_route_line_geometry_source"),
)
line_punctuality = Table(
    "line_punctuality",
    metadata,
    Column("line_id", Text, primary_key=True),
    Column("month", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("mode", Text, nullable=False),
    Column("median_delay_min", Float),
    Column("p90_delay_min", Float),
    Column("ontime_pct", Float),
    Column("served_pct", Float),
    Column("sample_n", Integer),
    Column("grade", Text),
    Column("caveats", Text, nullable=False, server_default=""),
)
Index("gtfs_stop_geom_idx", gtfs_stop.c.geom, postgresql_using="gist")
Index("gtfs_trip_route_idx", gtfs_trip.c.route_id)
Index("gtfs_route_line_geom_idx", gtfs_route_line.c.geom, postgresql_using="gist")
