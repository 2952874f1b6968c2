"""Urban planning: buildings (real and synthetic), their coverage, green areas, streets, kindergartens and
schools, zones, versioned zoning rules, scenarios.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _geom(kind: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("geom", Geometry(kind, srid=4326, spatial_index=False), nullable=False)


def upgrade() -> None:
    op.create_table(
        "building",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("source_ref", sa.Text, nullable=False, unique=True),
        sa.Column("name", sa.Text),
        sa.Column("use", sa.Text, nullable=False),
        sa.Column("building_tag", sa.Text),
        sa.Column("floors", sa.Integer, nullable=False),
        sa.Column("height_m", sa.Double, nullable=False),
        sa.Column("height_from", sa.Text, nullable=False),
        sa.Column("footprint_m2", sa.Double, nullable=False),
        sa.Column("synthetic", sa.Boolean, nullable=False),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column("neighbourhood", sa.Text),
        _geom("MULTIPOLYGON"),
        sa.CheckConstraint("use IN ('residential', 'mixed', 'non-residential')", name="building_use_check"),
        sa.CheckConstraint("floors >= 1 AND floors <= 200", name="building_floors_check"),
        sa.CheckConstraint("height_m > 0 AND height_m <= 700", name="building_height_check"),
    )
    op.create_index("building_geom_idx", "building", ["geom"], postgresql_using="gist")
    op.create_index("building_synthetic_idx", "building", ["synthetic"])
    op.create_table(
        "building_coverage",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("origin", sa.Text, nullable=False, unique=True),
        sa.Column("buildings", sa.Integer, nullable=False),
        _geom("MULTIPOLYGON"),
    )
    op.create_table(
        "green_area",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("source_ref", sa.Text, nullable=False, unique=True),
        sa.Column("name", sa.Text),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("area_m2", sa.Double, nullable=False),
        sa.Column("synthetic", sa.Boolean, nullable=False),
        _geom("MULTIPOLYGON"),
    )
    op.create_index("green_area_geom_idx", "green_area", ["geom"], postgresql_using="gist")
    op.create_table(
        "street",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("osm_id", sa.BigInteger, nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("highway", sa.Text, nullable=False),
        sa.Column("length_m", sa.Double, nullable=False),
        _geom("LINESTRING"),
    )
    op.create_index("street_geom_idx", "street", ["geom"], postgresql_using="gist")
    op.create_table(
        "education_place",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("facility_type", sa.Text, nullable=False),
        sa.Column("capacity", sa.Integer),
        sa.Column("in_lozenets", sa.Boolean, nullable=False),
        _geom("POINT"),
        sa.CheckConstraint("kind IN ('kindergarten', 'school')", name="education_place_kind_check"),
    )
    op.create_table(
        "zone",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("synthetic", sa.Boolean, nullable=False),
        sa.Column("origin", sa.Text, nullable=False),
        _geom("MULTIPOLYGON"),
    )
    op.create_index("zone_geom_idx", "zone", ["geom"], postgresql_using="gist")
    op.create_table(
        "zoning_rule_set",
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("rules", JSONB, nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "scenario",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("changes", JSONB, nullable=False),
        sa.Column("report", JSONB, nullable=False),
        sa.Column("history", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        _geom("MULTIPOLYGON"),
    )
    # What GIS clients see of a scenario: its name, version and what it adds, at the footprints it touches.
    op.execute(
        """
        CREATE VIEW scenario_feature AS
        SELECT id, name, description, version, created_by, created_at, updated_at,
               CAST(report -> 'floor_area' ->> 'residents_added' AS double precision) AS residents_added,
               CAST(report -> 'floor_area' ->> 'gross_floor_area_added_m2' AS double precision)
                 AS gross_floor_area_added_m2,
               jsonb_array_length(changes) AS changes, geom
        FROM scenario
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW scenario_feature")
    for table in (
        "scenario",
        "zoning_rule_set",
        "zone",
        "education_place",
        "street",
        "green_area",
        "building_coverage",
        "building",
    ):
        op.drop_table(table)
