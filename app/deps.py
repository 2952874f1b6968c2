"""Dependencies shared by the routers: settings, the database, the caller's API key, the layer service,
the responder, and the path parameters every collection route takes."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path as FilePath
from typing import Annotated, Any

import anyio
import orjson
from fastapi import Depends, Path, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import ClientDisconnect

from app.negotiation import Responder
from twin.core.errors import InvalidParameter, PayloadTooLarge
from twin.core.serving import LayerService
from twin.platform.db import connect
from twin.platform.keys import Principal, authenticate
from twin.platform.ratelimit import WriteLimiter
from twin.platform.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer ltw_…`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key, as a header")


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_engine(request: Request) -> AsyncEngine:
    return request.app.state.engine  # type: ignore[no-any-return]


async def get_conn(
    engine: Annotated[AsyncEngine, Depends(get_engine)],
) -> AsyncIterator[AsyncConnection]:
    async with connect(engine) as conn:  # admitted like every other read (twin.platform.db.Admission)
        yield conn


async def get_layers(request: Request) -> LayerService:
    return request.app.state.layers  # type: ignore[no-any-return]


async def get_responder(request: Request) -> Responder:
    return request.app.state.responder  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
ConnDep = Annotated[AsyncConnection, Depends(get_conn)]
LayersDep = Annotated[LayerService, Depends(get_layers)]
ResponderDep = Annotated[Responder, Depends(get_responder)]

CollectionId = Annotated[str, Path(description="A collection id, as listed at /collections.", max_length=200)]


async def json_object(request: Request, limit_bytes: int) -> dict[str, Any]:
    """The request body as a JSON object, read at most `limit_bytes` (413 past it, 400 when it is not a
    JSON object), never whole in memory before the limit is known to hold."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit_bytes:
        raise PayloadTooLarge(f"the body is {int(declared)} bytes; at most {limit_bytes} are accepted")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit_bytes:
            raise PayloadTooLarge(f"the body is larger than {limit_bytes} bytes (TWIN_BODY_MAX_KB)")
        chunks.append(chunk)
    try:
        body = orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError as exc:
        raise InvalidParameter(f"the body is not JSON: {exc}", parameter="body") from exc
    if not isinstance(body, dict):
        raise InvalidParameter("the body must be a JSON object", parameter="body")
    return body


async def _presented_key(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header: Annotated[str | None, Security(_header)],
) -> str | None:
    if bearer is not None:
        return bearer.credentials
    return header


async def principal(
    request: Request, engine: EngineDep, key: Annotated[str | None, Depends(_presented_key)]
) -> Principal:
    """Who writes (every write route asks for this): the key checked, then its write allowance spent."""
    async with engine.begin() as conn:
        who = await authenticate(conn, key)
    limiter: WriteLimiter | None = getattr(request.app.state, "write_limiter", None)
    if limiter is not None and request.method not in ("GET", "HEAD", "OPTIONS"):
        limiter.take(who.key_id, who.name)
    return who


PrincipalDep = Annotated[Principal, Depends(principal)]


async def read_access(request: Request) -> None:
    """Reads are public unless TWIN_REQUIRE_READ_KEY is set; then any valid key will do.

    It reads the key itself rather than through sub-dependencies: every read passes here, and the
    public case should cost nothing."""
    settings: Settings = request.app.state.settings
    if not settings.require_read_key:
        return
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    key = credentials.strip() if scheme.lower() == "bearer" else request.headers.get("x-api-key")
    async with connect(request.app.state.engine) as conn, conn.begin():
        await authenticate(conn, key)


async def receive_file(request: Request, path: FilePath, limit: int, *, what: str = "the file") -> str:
    """Stream the body to `path` (never whole in memory); its sha256. 413 past `limit` bytes, 400 when
    empty or cut short."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {int(declared)} bytes; at most {limit} are accepted")
    digest = hashlib.sha256()
    size = 0
    async with await anyio.open_file(path, "wb") as out:
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"the body is larger than {limit} bytes (TWIN_UPLOAD_MAX_MB)")
                digest.update(chunk)
                await out.write(chunk)
        except ClientDisconnect as exc:
            # Nobody is left to read the answer; a 400 keeps it out of the error log.
            raise InvalidParameter(
                "the client went away before the body was complete", parameter="body"
            ) from exc
    if size == 0:
        raise InvalidParameter(f"the request body is empty: send {what} as the body", parameter="body")
    return digest.hexdigest()
