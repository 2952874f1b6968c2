"""The urban-planning pilot's tables.

``building`` holds the baseline stock: real footprints from every import (OpenStreetMap, CityGML,
CityJSON, GeoPackage/GeoJSON) and, where no real footprint is loaded, the seeded synthetic stock; each
row says which (``synthetic``) and where its height came from. ``building_coverage`` is the area each
import of real buildings covers (the synthetic stock stays out of it). Zones are a synthetic default
drawn from the neighbourhoods until real zoning polygons are imported; their rules are versioned in
``zoning_rule_set``. Scenarios keep their changes and their report; their buildings are computed from
the baseline and the changes, never written over it.
"""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from twin.platform.tables import metadata

USES = ("residential", "mixed", "non-residential")

building = Table(
    "building",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("source_ref", Text, nullable=False, unique=True),
    Column("name", Text),
    Column("use", Text, nullable=False),
    Column("building_tag", Text),
    Column("floors", Integer, nullable=False),
    Column("height_m", Double, nullable=False),
    Column("height_from", Text, nullable=False),
    Column("footprint_m2", Double, nullable=False),
    Column("synthetic", Boolean, nullable=False),
    Column("origin", Text, nullable=False),
    Column("neighbourhood", Text),
    Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
    CheckConstraint("use IN ('residential', 'mixed', 'non-residential')", name="building_use_check"),
    CheckConstraint("floors >= 1 AND floors <= 200", name="building_floors_check"),
    CheckConstraint("height_m > 0 AND height_m <= 700", name="building_height_check"),
)
Index("building_geom_idx", building.c.geom, postgresql_using="gist")
Index("building_synthetic_idx", building.c.synthetic)

building_coverage = Table(
    "building_coverage",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("origin", Text, nullable=False, unique=True),
    Column("buildings", Integer, nullable=False),
    Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
)

green_area = Table(
    "green_area",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("source_ref", Text, nullable=False, unique=True),
    Column("name", Text),
    Column("kind", Text, nullable=False),
    Column("area_m2", Double, nullable=False),
    Column("synthetic", Boolean, nullable=False),
    Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
)
Index("green_area_geom_idx", green_area.c.geom, postgresql_using="gist")

street = Table(
    "street",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("osm_id", BigInteger, nullable=False),
    Column("name", Text),
    Column("highway", Text, nullable=False),
    Column("length_m", Double, nullable=False),
    Column("geom", Geometry("LINESTRING", srid=4326, spatial_index=False), nullable=False),
)
Index("street_geom_idx", street.c.geom, postgresql_using="gist")

education_place = Table(
    "education_place",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("facility_type", Text, nullable=False),
    Column("capacity", Integer),
    Column("in_lozenets", Boolean, nullable=False),
    Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
    CheckConstraint("kind IN ('kindergarten', 'school')", name="education_place_kind_check"),
)

zone = Table(
    "zone",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("synthetic", Boolean, nullable=False),
    Column("origin", Text, nullable=False),
    Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
)
Index("zone_geom_idx", zone.c.geom, postgresql_using="gist")

zoning_rule_set = Table(
    "zoning_rule_set",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("rules", JSONB, nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

scenario = Table(
    "scenario",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("version", Integer, nullable=False, server_default=text("1")),
    Column("changes", JSONB, nullable=False),
    Column("report", JSONB, nullable=False),
    Column("history", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
)
