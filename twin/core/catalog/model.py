"""The catalog: every registered layer as a collection — where its rows live, which properties it has,
its extent and its provenance. Built from the layer registry and the tables' own definitions, so a new
base layer appears by registering its table, and a derived layer by registering its scenario."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from twin.core.errors import NotFound

if TYPE_CHECKING:
    from twin.core.derived.contract import DerivedLayer

# PostgreSQL type -> JSON Schema type of a property
PG_TYPES: dict[str, str] = {
    "int2": "integer",
    "int4": "integer",
    "int8": "integer",
    "float4": "number",
    "float8": "number",
    "numeric": "number",
    "text": "string",
    "varchar": "string",
    "bpchar": "string",
    "bool": "boolean",
    "date": "date",
    "timestamptz": "datetime",
    "timestamp": "datetime",
}


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class Property:
    name: str
    type: str
    """JSON Schema type: string, integer, number, boolean, date or datetime."""
    sql: str
    """A trusted SQL expression over the table alias ``t``."""
    title: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Provenance:
    source: str
    source_url: str | None
    licence: str
    attribution: str
    source_date: str | None
    synthetic: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "sourceUrl": self.source_url,
            "licence": self.licence,
            "attribution": self.attribution,
            "sourceDate": self.source_date,
            "synthetic": self.synthetic,
        }


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    kind: str
    geometry_type: str
    table: str
    id_sql: str
    id_type: str
    geometry_sql: str
    srid: int
    properties: tuple[Property, ...]
    provenance: Provenance
    data_version: int
    updated_at: datetime
    extent: tuple[float, float, float, float] | None = None
    temporal: Property | None = None
    temporal_extent: tuple[datetime | None, datetime | None] | None = None
    row_estimate: int = 0
    derived: DerivedLayer | None = None
    fixed_sql: str | None = None
    fixed_params: dict[str, Any] = field(default_factory=dict)
    id_is_key: bool = False
    """The id column is a primary key (unique and never NULL; a derived layer's within one result): a
    page in id order then has its first and last keys in its smallest and largest id."""

    def prop(self, name: str) -> Property:
        for prop in self.properties:
            if prop.name == name:
                return prop
        raise KeyError(name)

    @property
    def property_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.properties)

    def bound_to(self, cache_key: str) -> Collection:
        """A derived collection restricted to one computed result."""
        return replace(
            self, fixed_sql="t.cache_key = CAST(:cache_key AS text)", fixed_params={"cache_key": cache_key}
        )


@dataclass(frozen=True)
class Catalog:
    collections: dict[str, Collection]
    fingerprint: str

    def get(self, collection_id: str) -> Collection:
        try:
            return self.collections[collection_id]
        except KeyError:
            raise NotFound(
                f"no collection {collection_id!r}; the list is at /collections", collection=collection_id
            ) from None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.collections.values())
