"""The floor of a cold answer (issue 12): a bare ASGI app that does only what every cold answer must do,
one statement through an asyncpg pool, and sends the text PostGIS built. No routing, no parameter
checks, no ETag, no links, no log, no cache. bench/run.py runs each cold case's own PostGIS-alone
statement with it, under the same uvicorn and flags as the twin: no Python server on this machine can
answer that case faster, so a target above this floor cannot be met by any request path.

Settings (environment): BARE_DSN, the database; BARE_SQL, the statement (``$1``, when present, is the
integer at the end of the request's path: the random id of the one-feature case); BARE_POOL, the
pool's size (the twin's TWIN_DB_POOL_SIZE default)."""

from __future__ import annotations

import os
from typing import Any

import asyncpg

SQL = os.environ["BARE_SQL"]
TAKES_ID = "$1" in SQL
_pool: list[asyncpg.Pool] = []


async def _kept(_connection: asyncpg.Connection) -> None:
    return None


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                size = int(os.environ.get("BARE_POOL", "10"))
                # reset=_kept: asyncpg's default reset is a round trip per release (RESET ALL, UNLISTEN …);
                # the floor's only statement changes no session state.
                pool = await asyncpg.create_pool(
                    os.environ["BARE_DSN"], min_size=size, max_size=size, reset=_kept
                )
                _pool.append(pool)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await _pool[0].close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    args = (int(scope["path"].rsplit("/", 1)[1]),) if TAKES_ID else ()
    async with _pool[0].acquire() as conn:
        value = await conn.fetchval(SQL, *args)
    body = value.encode() if isinstance(value, str) else bytes(value)
    headers = [(b"content-type", b"application/geo+json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
