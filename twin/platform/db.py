"""Database URLs and engines. The app uses asyncpg; the CLI, importers and Alembic use psycopg 3."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from twin.core.errors import ClusterError, DatabaseUnavailable
from twin.platform.settings import Settings


def database_url(settings: Settings, database: str | None = None) -> URL:
    """The URL to use: DATABASE_URL when set, else the private cluster's (`twin db up` makes it)."""
    if settings.database_url is not None:
        url = make_url(settings.database_url.get_secret_value())
    else:
        from twin.platform.cluster import Cluster

        info = Cluster(settings).info()
        if info is None:
            raise ClusterError(
                "no database: DATABASE_URL is unset and the private cluster has not been created "
                "(run `twin db up`)"
            )
        url = make_url(info.url(settings.db_name))
    if database is not None:
        url = url.set(database=database)
    return url


def with_driver(url: URL, driver: str) -> URL:
    return url.set(drivername=f"postgresql+{driver}")


def libpq_url(url: URL) -> str:
    """The plain postgresql:// form, for psycopg.connect and psql."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def make_sync_engine(settings: Settings, url: URL | None = None, *, pool_size: int = 2) -> Engine:
    url = url or database_url(settings)
    return create_engine(
        with_driver(url, "psycopg"),
        pool_size=pool_size,
        max_overflow=2,
        pool_pre_ping=True,
        pool_timeout=30,
        hide_parameters=True,
        connect_args={"connect_timeout": max(1, int(settings.db_connect_timeout))},
    )


def make_async_engine(settings: Settings, url: URL | None = None) -> AsyncEngine:
    url = url or database_url(settings)
    return create_async_engine(
        with_driver(url, "asyncpg"),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
        pool_timeout=settings.db_connect_timeout,
        hide_parameters=True,
        # The app only reads (and a key's last use is one statement): no BEGIN/ROLLBACK round trips.
        isolation_level="AUTOCOMMIT",
        connect_args={"timeout": settings.db_connect_timeout},
    )


@asynccontextmanager
async def connect(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection; a database that cannot be reached becomes DatabaseUnavailable (503)."""
    try:
        conn = await engine.connect()
    except (OSError, TimeoutError, DBAPIError) as exc:
        raise DatabaseUnavailable("the database cannot be reached; try again shortly") from exc
    try:
        yield conn
    finally:
        await conn.close()
