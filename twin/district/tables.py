"""The district pilot's tables: the Lozenets boundary and its neighbourhoods."""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import Column, ForeignKey, Index, Integer, Table, Text

from twin.platform.tables import metadata

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

Index("district_geom_idx", district.c.geom, postgresql_using="gist")
Index("neighbourhood_geom_idx", neighbourhood.c.geom, postgresql_using="gist")
