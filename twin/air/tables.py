"""The air-quality pilot's tables.

``air_measurement`` holds every value, hourly or daily, partitioned by year of its start (native range
partitions: a query for a period reads only its years) with a B-tree on the start time (the period
scans, and the first and last time of the catalog) and the key (station, pollutant, start, end) that
makes re-imports idempotent. ``air_daily`` is the rollup the importers keep up to date: per station,
pollutant and day in Sofia, the sum and count of valid values and whether the day is captured; every
statistic (daily, monthly, annual, exceedances, percentiles) is read from it.
"""

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
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from twin.platform.tables import metadata

STATION_CLASSES = ("reference", "indicative")

air_station = Table(
    "air_station",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("operator", Text, nullable=False),
    Column("network", Text, nullable=False),
    Column("class", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("pollutants", ARRAY(Text), nullable=False, server_default="{}"),
    Column("active_from", DateTime(timezone=True)),
    Column("active_to", DateTime(timezone=True)),
    Column("source", Text, nullable=False),
    Column("licence", Text, nullable=False),
    Column("notes", Text, nullable=False, server_default=""),
    Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
    CheckConstraint("class IN ('reference', 'indicative')", name="air_station_class_check"),
    CheckConstraint("kind IN ('station', 'sensor', 'cluster')", name="air_station_kind_check"),
)
Index("air_station_geom_idx", air_station.c.geom, postgresql_using="gist")

air_measurement = Table(
    "air_measurement",
    metadata,
    Column("id", BigInteger, nullable=False, server_default=text("nextval('air_measurement_id_seq')")),
    Column("station_id", Text, ForeignKey("air_station.id", ondelete="CASCADE"), primary_key=True),
    Column("pollutant", Text, primary_key=True),
    Column("start_time", DateTime(timezone=True), primary_key=True),
    Column("end_time", DateTime(timezone=True), primary_key=True),
    Column("value", Double, nullable=False),
    Column("unit", Text, nullable=False),
    Column("aggregation", Text, nullable=False),
    Column("validity", SmallInteger, nullable=False),
    Column("verification", SmallInteger, nullable=False),
    Column("import_run", BigInteger),
    CheckConstraint("aggregation IN ('hour', 'day')", name="air_measurement_aggregation_check"),
    CheckConstraint("end_time > start_time", name="air_measurement_interval_check"),
    postgresql_partition_by="RANGE (start_time)",
)
Index("air_measurement_start_idx", air_measurement.c.start_time)
Index("air_measurement_id_idx", air_measurement.c.id)

air_daily = Table(
    "air_daily",
    metadata,
    Column("station_id", Text, ForeignKey("air_station.id", ondelete="CASCADE"), primary_key=True),
    Column("pollutant", Text, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("value_sum", Double, nullable=False),
    Column("valid_count", Integer, nullable=False),
    Column("expected_count", Integer, nullable=False),
    Column("max_value", Double),
    Column("captured", Boolean, nullable=False),
    Column("aggregation", Text, nullable=False),
    Column("verified", Boolean, nullable=False),
    Column("hours_above", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("air_daily_day_idx", air_daily.c.pollutant, air_daily.c.day)
