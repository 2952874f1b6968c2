"""Running feature and tile queries: one bound statement each (the SQL is built in
twin.core.features.sql and twin.core.tiles from catalog names only), run on asyncpg itself
(twin.platform.db.fetch_row / fetch_value: the request path's reads skip SQLAlchemy's execute)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twin.core.catalog.model import Collection
from twin.core.crs import Crs
from twin.core.features import sql
from twin.core.features.query import ItemsQuery
from twin.core.tiles import tile_sql
from twin.platform.db import ReadConnection, fetch_row, fetch_value


async def read_page(
    conn: ReadConnection, collection: Collection, query: ItemsQuery, *, count_matched: bool = False
) -> Mapping[str, Any]:
    """One row: ``features`` (joined GeoJSON texts), ``fetched`` (up to limit + 1), ``matched`` (with
    `count_matched`, when more rows follow), ``scan_first`` and ``scan_last`` (the sort keys at both
    ends, as JSON)."""
    statement, params = sql.page_sql(collection, query, count_matched=count_matched)
    row = await fetch_row(conn, statement, params)
    assert row is not None  # an aggregate without GROUP BY: always one row
    return row


async def read_feature(conn: ReadConnection, collection: Collection, feature_id: str, crs: Crs) -> str | None:
    """One feature's GeoJSON text, or None (also for an id that cannot be one of the collection's)."""
    built = sql.item_sql(collection, feature_id, crs)
    if built is None:
        return None
    found = await fetch_value(conn, *built)
    return None if found is None else str(found)


async def read_tile(
    conn: ReadConnection, collection: Collection, z: int, x: int, y: int, max_features: int
) -> bytes:
    statement, params = tile_sql(collection, z, x, y, max_features)
    data = await fetch_value(conn, statement, params)
    return bytes(data or b"")
