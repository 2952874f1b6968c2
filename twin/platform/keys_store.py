"""The SQL of API keys: rows hold a prefix, the SHA-256 of the key, a role and timestamps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from twin.platform.tables import api_key

MAX_KEYS_LISTED = 1000


def insert_key(conn: Connection, *, name: str, prefix: str, key_hash: str, role: str) -> dict[str, Any]:
    row = (
        conn.execute(
            api_key.insert()
            .values(name=name, prefix=prefix, key_hash=key_hash, role=role)
            .returning(api_key.c.id, api_key.c.name, api_key.c.prefix, api_key.c.role, api_key.c.created_at)
        )
        .mappings()
        .one()
    )
    return dict(row)


def list_keys(conn: Connection) -> list[dict[str, Any]]:
    stmt = (
        select(
            api_key.c.id,
            api_key.c.name,
            api_key.c.prefix,
            api_key.c.role,
            api_key.c.created_at,
            api_key.c.revoked_at,
            api_key.c.last_used_at,
        )
        .order_by(api_key.c.id)
        .limit(MAX_KEYS_LISTED)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def revoke(conn: Connection, *, key_id: int | None = None, prefix: str | None = None) -> datetime | None:
    """Mark a key revoked (once: the first revocation's time stays); None when no key matches."""
    column, value = (api_key.c.prefix, prefix) if prefix is not None else (api_key.c.id, key_id)
    revoked: datetime | None = conn.execute(
        update(api_key)
        .where(column == value)
        .values(revoked_at=func.coalesce(api_key.c.revoked_at, func.now()))
        .returning(api_key.c.revoked_at)
    ).scalar()
    return revoked


async def find_key(conn: AsyncConnection, prefix: str) -> Any:
    """The key's id, name, role, hash and revocation (a row), or None."""
    result = await conn.execute(
        select(api_key.c.id, api_key.c.name, api_key.c.role, api_key.c.key_hash, api_key.c.revoked_at).where(
            api_key.c.prefix == prefix
        )
    )
    return result.first()


async def mark_used(conn: AsyncConnection, key_id: int) -> None:
    await conn.execute(update(api_key).where(api_key.c.id == key_id).values(last_used_at=func.now()))
