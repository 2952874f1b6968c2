"""Reading the catalog: the layer registry joined with each table's columns, geometry and extent."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from twin.core.catalog.model import (
    PG_TYPES,
    Catalog,
    Collection,
    Property,
    Provenance,
    quote_ident,
    quote_literal,
)
from twin.core.derived.contract import DerivedLayer
from twin.core.values import SQL_TYPES

log = logging.getLogger("twin.catalog")

MAX_LAYERS = 1000
UNCOUNTED = 2**62
"""The row estimate of a layer declared too large to count: larger than any exact-count setting."""

_FINGERPRINT = text(
    "SELECT coalesce(string_agg(id || ':' || data_version || ':' || extract(epoch FROM updated_at), ','"
    " ORDER BY id), '') FROM (SELECT id, data_version, updated_at FROM layer ORDER BY id LIMIT 1000) l"
)
_LAYERS = text("SELECT * FROM layer ORDER BY id LIMIT 1000")
_COLUMNS = text(
    "SELECT c.relname AS table_name, a.attname AS column_name, t.typname AS type_name, "
    " coalesce(a.attnum = ANY(i.indkey), false) AND i.indnatts = 1 AS is_key, "
    " greatest(c.reltuples, -1)::bigint AS row_estimate "
    "FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
    "JOIN pg_type t ON t.oid = a.atttypid "
    "LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary "
    "WHERE n.nspname = current_schema() AND c.relname = ANY(:tables) "
    "ORDER BY c.relname, a.attnum"
)
_GEOMETRY = text(
    "SELECT f_table_name AS table_name, f_geometry_column AS column_name, srid, type "
    "FROM geometry_columns WHERE f_table_schema = current_schema() AND f_table_name = ANY(:tables)"
)


async def fingerprint(conn: AsyncConnection) -> str:
    """Changes whenever any layer is added, removed or gets new data."""
    value = (await conn.execute(_FINGERPRINT)).scalar() or ""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


async def load_catalog(conn: AsyncConnection, derived: Mapping[str, DerivedLayer]) -> Catalog:
    # The fingerprint is read first: if an import commits while the rest is read, the catalog holds
    # data at least as new as its fingerprint says, and the next request sees a new one and rebuilds.
    current = await fingerprint(conn)
    layers = [dict(r) for r in (await conn.execute(_LAYERS)).mappings()]
    tables = sorted({r["table_name"] for r in layers if r["kind"] == "base" and r["table_name"]})
    columns: dict[str, list[dict[str, Any]]] = {}
    for column in (await conn.execute(_COLUMNS, {"tables": tables})).mappings():
        columns.setdefault(column["table_name"], []).append(dict(column))
    geometry = {
        r["table_name"]: dict(r) for r in (await conn.execute(_GEOMETRY, {"tables": tables})).mappings()
    }

    collections: dict[str, Collection] = {}
    extents: dict[str, tuple[float, float, float, float] | None] = {}
    borrowed: dict[str, str] = {}
    for row in layers:
        if row["kind"] != "base":
            continue
        table = row["table_name"]
        built = _base_collection(row, columns.get(table, []), geometry.get(table))
        if built is None:
            continue
        options = row.get("options") or {}
        if options.get("extent_layer"):
            # A view over millions of rows whose geometries are another layer's: that layer's extent.
            borrowed[built.id] = str(options["extent_layer"])
            extent = None
        else:
            extent = await _extent(conn, built)
        temporal_extent = await _temporal_extent(conn, built) if built.temporal else None
        collections[built.id] = replace(built, extent=extent, temporal_extent=temporal_extent)
        extents[built.id] = extent
    for layer_id, other in borrowed.items():
        extents[layer_id] = extents.get(other)
        collections[layer_id] = replace(collections[layer_id], extent=extents[layer_id])
    for row in layers:
        layer = derived.get(row["id"])
        if row["kind"] != "derived" or layer is None:
            continue
        # The extent of the input that bounds the result (the district for a grid over it), not the
        # first input read: a grid over Lozenets does not cover all of Sofia's stops.
        extent = extents.get(layer.extent_layer) if layer.extent_layer else None
        collections[row["id"]] = _derived_collection(row, layer, extent)
    return Catalog(collections=collections, fingerprint=current)


def _provenance(row: Mapping[str, Any]) -> Provenance:
    return Provenance(
        source=row["source"],
        source_url=row["source_url"],
        licence=row["licence"],
        attribution=row["attribution"],
        source_date=row["source_date"],
        synthetic=bool(row["synthetic"]),
    )


def _base_collection(
    row: Mapping[str, Any], columns: list[dict[str, Any]], geometry: Mapping[str, Any] | None
) -> Collection | None:
    options = row.get("options") or {}
    declared = options.get("key_column")
    keys = [c for c in columns if (c["column_name"] == declared if declared else c["is_key"])]
    if row["geometry_type"] == "None":  # a table of figures other layers join (in /layers, not a collection)
        return None
    if geometry is None or len(keys) != 1:
        log.warning("layer %s skipped: its table needs one geometry column and a one-column key", row["id"])
        return None
    key = keys[0]
    geom_column = geometry["column_name"]
    properties = tuple(
        Property(
            name=c["column_name"], type=PG_TYPES[c["type_name"]], sql=f"t.{quote_ident(c['column_name'])}"
        )
        for c in columns
        if c["column_name"] not in (geom_column, key["column_name"]) and c["type_name"] in PG_TYPES
    )
    temporal = next((p for p in properties if p.name == row.get("temporal_column")), None)
    return Collection(
        id=row["id"],
        title=row["title"],
        description=row["description"],
        kind="base",
        geometry_type=row["geometry_type"],
        table=quote_ident(row["table_name"]),
        id_sql=f"t.{quote_ident(key['column_name'])}",
        id_type="integer" if PG_TYPES.get(key["type_name"]) == "integer" else "string",
        id_is_key=bool(key["is_key"]),  # a declared key_column of a view may hold NULLs or repeats
        geometry_sql=f"t.{quote_ident(geom_column)}",
        srid=int(geometry["srid"]),
        properties=properties,
        provenance=_provenance(row),
        data_version=int(row["data_version"]),
        updated_at=row["updated_at"],
        temporal=temporal,
        # A layer too large to count per request says so; its pages then omit numberMatched.
        row_estimate=int(columns[0]["row_estimate"]) if options.get("exact_count", True) else UNCOUNTED,
    )


def _derived_collection(
    row: Mapping[str, Any], layer: DerivedLayer, extent: tuple[float, float, float, float] | None
) -> Collection:
    properties = tuple(
        Property(
            name=p.name,
            type=p.type,
            sql=f"CAST(t.props->>{quote_literal(p.name)} AS {SQL_TYPES[p.type]})",
            description=p.description,
        )
        for p in layer.properties
    )
    return Collection(
        id=row["id"],
        title=row["title"],
        description=row["description"],
        kind="derived",
        geometry_type=row["geometry_type"],
        table="derived_feature",
        id_sql="t.fid",
        id_type="integer",
        id_is_key=True,  # derived_feature's primary key is (cache_key, fid), and a page reads one result
        geometry_sql="t.geom",
        srid=4326,
        properties=properties,
        provenance=_provenance(row),
        data_version=int(row["data_version"]),
        updated_at=row["updated_at"],
        extent=extent,
        derived=layer,
    )


async def _extent(conn: AsyncConnection, c: Collection) -> tuple[float, float, float, float] | None:
    sql = text(
        f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM ("  # noqa: S608  (trusted catalog names)
        f" SELECT ST_Transform(ST_SetSRID(ST_Extent({c.geometry_sql})::geometry, {c.srid}), 4326) AS e"
        f" FROM {c.table} t) x"
    )
    row = (await conn.execute(sql)).first()
    if row is None or row[0] is None:
        return None
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


async def _temporal_extent(conn: AsyncConnection, c: Collection) -> tuple[Any, Any] | None:
    assert c.temporal is not None
    sql = text(f"SELECT min({c.temporal.sql}), max({c.temporal.sql}) FROM {c.table} t")  # noqa: S608
    row = (await conn.execute(sql)).first()
    return (row[0], row[1]) if row else None
