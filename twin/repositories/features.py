"""Running feature and tile queries (the SQL itself is built in twin.features and twin.tiles)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection


async def scalar(conn: AsyncConnection, sql: str, params: dict[str, Any]) -> Any:
    return (await conn.execute(text(sql), params)).scalar()


async def one_row(conn: AsyncConnection, sql: str, params: dict[str, Any]) -> RowMapping:
    return (await conn.execute(text(sql), params)).mappings().one()
