"""Air quality: stations and sensors, measurements partitioned by year, the daily rollup, and the view
that serves measurements as features.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIRST_YEAR, LAST_YEAR = 2010, 2035
"""Yearly partitions made now, each a calendar year of Sofia (from midnight of 1 January, always UTC+2):
a year's or a month's query reads one partition. A value outside them lands in the default partition;
a later migration adds the years after 2035 (before any value of theirs arrives, since a partition
cannot be attached over rows the default one already holds)."""


def upgrade() -> None:
    op.create_table(
        "air_station",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("operator", sa.Text, nullable=False),
        sa.Column("network", sa.Text, nullable=False),
        sa.Column("class", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("pollutants", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("active_from", sa.DateTime(timezone=True)),
        sa.Column("active_to", sa.DateTime(timezone=True)),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("licence", sa.Text, nullable=False),
        sa.Column("notes", sa.Text, nullable=False, server_default=""),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.CheckConstraint("class IN ('reference', 'indicative')", name="air_station_class_check"),
        sa.CheckConstraint("kind IN ('station', 'sensor', 'cluster')", name="air_station_kind_check"),
    )
    op.create_index("air_station_geom_idx", "air_station", ["geom"], postgresql_using="gist")
    op.execute("CREATE SEQUENCE air_measurement_id_seq")
    op.execute(
        """
        CREATE TABLE air_measurement (
            id bigint NOT NULL DEFAULT nextval('air_measurement_id_seq'),
            station_id text NOT NULL REFERENCES air_station (id) ON DELETE CASCADE,
            pollutant text NOT NULL,
            start_time timestamptz NOT NULL,
            end_time timestamptz NOT NULL,
            value double precision NOT NULL,
            unit text NOT NULL,
            aggregation text NOT NULL,
            validity smallint NOT NULL,
            verification smallint NOT NULL,
            import_run bigint,
            CONSTRAINT air_measurement_pkey PRIMARY KEY (station_id, pollutant, start_time, end_time),
            CONSTRAINT air_measurement_aggregation_check CHECK (aggregation IN ('hour', 'day')),
            CONSTRAINT air_measurement_interval_check CHECK (end_time > start_time)
        ) PARTITION BY RANGE (start_time)
        """
    )
    op.execute("ALTER SEQUENCE air_measurement_id_seq OWNED BY air_measurement.id")
    for year in range(FIRST_YEAR, LAST_YEAR + 1):
        op.execute(
            f"CREATE TABLE air_measurement_p{year} PARTITION OF air_measurement"
            f" FOR VALUES FROM ('{year}-01-01 00:00+02') TO ('{year + 1}-01-01 00:00+02')"
        )
    op.execute("CREATE TABLE air_measurement_pdefault PARTITION OF air_measurement DEFAULT")
    op.create_index("air_measurement_start_idx", "air_measurement", ["start_time"])
    op.create_index("air_measurement_id_idx", "air_measurement", ["id"])
    op.create_table(
        "air_daily",
        sa.Column(
            "station_id", sa.Text, sa.ForeignKey("air_station.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("pollutant", sa.Text, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("value_sum", sa.Double, nullable=False),
        sa.Column("valid_count", sa.Integer, nullable=False),
        sa.Column("expected_count", sa.Integer, nullable=False),
        sa.Column("max_value", sa.Double),
        sa.Column("captured", sa.Boolean, nullable=False),
        sa.Column("aggregation", sa.Text, nullable=False),
        sa.Column("verified", sa.Boolean, nullable=False),
        sa.Column("hours_above", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("air_daily_day_idx", "air_daily", ["pollutant", "day"])
    # LEFT JOIN (every measurement has its station, by the foreign key): the planner then drops the join
    # where no station column is read, so the catalog's first and last time use the start_time index.
    op.execute(
        """
        CREATE VIEW air_measurement_feature AS
        SELECT m.id, m.station_id, s.name AS station_name, s.class AS station_class, m.pollutant,
               m.start_time, m.end_time, m.value, m.unit, m.aggregation, m.validity, m.verification,
               s.geom
        FROM air_measurement m LEFT JOIN air_station s ON s.id = m.station_id
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW air_measurement_feature")
    op.drop_table("air_daily")
    op.execute("DROP TABLE air_measurement")  # its partitions and sequence go with it
    op.drop_table("air_station")
