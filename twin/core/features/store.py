"""Running feature and tile queries: one bound statement each (the SQL is built in
twin.core.features.sql and twin.core.tiles from catalog names only)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from twin.core.catalog.model import Collection
from twin.core.crs import Crs
from twin.core.features import sql
from twin.core.features.query import ItemsQuery
from twin.core.tiles import tile_sql


async def read_page(conn: AsyncConnection, collection: Collection, query: ItemsQuery) -> RowMapping:
    """One row: ``features`` (joined GeoJSON texts), ``fetched`` (up to limit + 1), ``scan_first`` and
    ``scan_last`` (the sort keys at both ends, as JSON)."""
    statement, params = sql.page_sql(collection, query)
    return (await conn.execute(text(statement), params)).mappings().one()


async def count(conn: AsyncConnection, collection: Collection, query: ItemsQuery) -> int:
    statement, params = sql.count_sql(collection, query)
    return int((await conn.execute(text(statement), params)).scalar_one())


async def read_feature(
    conn: AsyncConnection, collection: Collection, feature_id: str, crs: Crs
) -> str | None:
    """One feature's GeoJSON text, or None (also for an id that cannot be one of the collection's)."""
    built = sql.item_sql(collection, feature_id, crs)
    if built is None:
        return None
    found: Any = (await conn.execute(text(built[0]), built[1])).scalar()
    return None if found is None else str(found)


async def read_tile(
    conn: AsyncConnection, collection: Collection, z: int, x: int, y: int, max_features: int
) -> bytes:
    statement, params = tile_sql(collection, z, x, y, max_features)
    data: Any = (await conn.execute(text(statement), params)).scalar()
    return bytes(data or b"")
