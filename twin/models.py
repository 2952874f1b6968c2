"""Tables of the twin, as SQLAlchemy Core/GeoAlchemy2 metadata. Alembic owns their creation."""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Double,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = MetaData()

LAYER_KINDS = ("base", "derived")
IMPORT_STATUSES = ("running", "succeeded", "unchanged", "failed")
ROLES = ("planner", "transport", "sensor-ingest", "admin")

layer = Table(
    "layer",
    metadata,
    Column("id", Text, primary_key=True),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("geometry_type", Text, nullable=False),
    Column("table_name", Text),
    Column("source_ids", ARRAY(Text), nullable=False, server_default="{}"),
    Column("source", Text, nullable=False),
    Column("source_url", Text),
    Column("licence", Text, nullable=False),
    Column("attribution", Text, nullable=False),
    Column("source_date", Text),
    Column("synthetic", Boolean, nullable=False),
    Column("data_version", BigInteger, nullable=False, server_default="1"),
    Column("content_hash", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("temporal_column", Text),
    Column("parameters", JSONB),
    Column("input_layers", ARRAY(Text), nullable=False, server_default="{}"),
    CheckConstraint("kind IN ('base', 'derived')", name="layer_kind_check"),
)

district = Table(
    "district",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name_bg", Text, nullable=False),
    Column("name_en", Text, nullable=False),
    Column("population_estimate", Integer),
    Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
)

neighbourhood = Table(
    "neighbourhood",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("district_id", Text, ForeignKey("district.id", ondelete="CASCADE"), nullable=False),
    Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
)

import_run = Table(
    "import_run",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("loader", Text, nullable=False),
    Column("sources", JSONB, nullable=False, server_default="[]"),
    Column("checksum", Text),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", Text, nullable=False),
    Column("row_counts", JSONB, nullable=False, server_default="{}"),
    Column("error", Text),
    Column("note", Text),
    Column("triggered_by", Text, nullable=False, server_default="cli"),
    CheckConstraint(
        "status IN ('running', 'succeeded', 'unchanged', 'failed')", name="import_run_status_check"
    ),
)

api_key = Table(
    "api_key",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False),
    Column("prefix", Text, nullable=False, unique=True),
    Column("key_hash", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True)),
    Column("last_used_at", DateTime(timezone=True)),
    CheckConstraint("role IN ('planner', 'transport', 'sensor-ingest', 'admin')", name="api_key_role_check"),
)

derived_run = Table(
    "derived_run",
    metadata,
    Column("cache_key", Text, primary_key=True),
    Column("layer_id", Text, ForeignKey("layer.id", ondelete="CASCADE"), nullable=False),
    Column("params", JSONB, nullable=False),
    Column("input_versions", JSONB, nullable=False),
    Column("feature_count", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_used_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

derived_feature = Table(
    "derived_feature",
    metadata,
    Column("cache_key", Text, ForeignKey("derived_run.cache_key", ondelete="CASCADE"), primary_key=True),
    Column("fid", BigInteger, primary_key=True),
    Column("props", JSONB, nullable=False),
    Column("geom", Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=False),
)

Index("derived_run_layer_idx", derived_run.c.layer_id, derived_run.c.last_used_at)
Index("derived_feature_geom_idx", derived_feature.c.geom, postgresql_using="gist")
Index("import_run_loader_started_idx", import_run.c.loader, import_run.c.started_at)
Index("district_geom_idx", district.c.geom, postgresql_using="gist")
Index("neighbourhood_geom_idx", neighbourhood.c.geom, postgresql_using="gist")

# -- GTFS (one current feed) ------------------------------------------------------------------------
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
