"""Dependencies: the database connection, the caller's API key, the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from twin.db import connect
from twin.keys import Principal, authenticate, require_role
from twin.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer ltw_…`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key, as a header")


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_engine(request: Request) -> AsyncEngine:
    return request.app.state.engine  # type: ignore[no-any-return]


async def get_conn(
    engine: Annotated[AsyncEngine, Depends(get_engine)],
) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        yield conn


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
ConnDep = Annotated[AsyncConnection, Depends(get_conn)]


async def _presented_key(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header: Annotated[str | None, Security(_header)],
) -> str | None:
    if bearer is not None:
        return bearer.credentials
    return header


async def principal(engine: EngineDep, key: Annotated[str | None, Depends(_presented_key)]) -> Principal:
    async with engine.begin() as conn:
        return await authenticate(conn, key)


PrincipalDep = Annotated[Principal, Depends(principal)]


def requires(role: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that admits keys with `role` (or admin)."""

    async def check(who: PrincipalDep) -> Principal:
        require_role(who, role)
        return who

    return check


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
