"""Database URLs and engines. The app uses asyncpg; the CLI, importers and Alembic use psycopg 3."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import time
import weakref
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, NoReturn, TypeAlias

import asyncpg
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import PoolProxiedConnection

from twin.core.errors import ClusterError, DatabaseUnavailable, Overloaded
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


class Admission:
    """How much database work one worker runs at once, and how much may wait for it.

    The pool alone queues every request that finds its connections busy, without bound, and fails one
    only after TWIN_DB_CONNECT_TIMEOUT: under a burst, load was shed by accident of the pool's size, late,
    after the client had given up. Here a request takes a slot (as many as the pool has connections,
    overflow included) in arrival order; one that finds `queue` others waiting is refused at once, and
    one that waited `wait_s` is refused then: a 503 with Retry-After, only when truly saturated."""

    def __init__(self, capacity: int, queue: int, wait_s: float) -> None:
        self.capacity = capacity
        self.queue = queue
        self.wait_s = wait_s
        self._slots = asyncio.Semaphore(capacity)
        self.waiting = 0
        self.refused = 0

    @asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        await self.enter()
        try:
            yield
        finally:
            self.leave()

    async def enter(self) -> None:
        """Take a slot (`admitted` as two calls, for the request path's own context manager)."""
        if self._slots.locked():
            if self.waiting >= self.queue:
                self.refused += 1
                raise Overloaded(
                    f"all {self.capacity} database connections are busy and {self.waiting} requests wait "
                    "for one; try again in a second"
                )
            self.waiting += 1
            try:
                async with asyncio.timeout(self.wait_s):
                    await self._slots.acquire()
            except TimeoutError as exc:
                self.refused += 1
                raise Overloaded(
                    f"no database connection came free within {self.wait_s:g} s; try again in a second"
                ) from exc
            finally:
                self.waiting -= 1
        else:
            await self._slots.acquire()

    def leave(self) -> None:
        self._slots.release()

    def status(self) -> dict[str, int]:
        return {"capacity": self.capacity, "waiting": self.waiting, "refused": self.refused}


_admissions: weakref.WeakKeyDictionary[AsyncEngine, Admission] = weakref.WeakKeyDictionary()


def admission_of(engine: AsyncEngine) -> Admission | None:
    return _admissions.get(engine)


REST_BEFORE_PING_S = 2.0
"""A pooled connection used this recently is taken as alive: asking costs a round trip per request."""


def _ping_after_rest(engine: AsyncEngine) -> None:
    """Ping a connection on checkout only when it rested in the pool for REST_BEFORE_PING_S or more.

    pool_pre_ping would ping on every checkout: a second round trip for every answer. A connection that
    rested may have been cut (the database restarted, a firewall's idle timeout): one that fails its
    ping is replaced at once, the request never sees it. One used within the last seconds fails only if
    the database went away in those seconds; that request is a 503, and SQLAlchemy then drops every
    older connection of the pool, so the next ones connect afresh."""
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _rested_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _ping_if_rested(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("checked_in", 0.0) < REST_BEFORE_PING_S:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("a rested connection did not answer its ping") from exc
        if alive is False:
            raise DisconnectionError("a rested connection did not answer its ping")


def make_async_engine(settings: Settings, url: URL | None = None) -> AsyncEngine:
    url = url or database_url(settings)
    overflow = settings.db_pool_size  # as many again as the pool holds, for bursts
    engine = create_async_engine(
        with_driver(url, "asyncpg"),
        pool_size=settings.db_pool_size,
        max_overflow=overflow,
        pool_pre_ping=False,  # pinged only after a rest: _ping_after_rest
        pool_timeout=settings.db_connect_timeout,
        hide_parameters=True,
        # The app only reads (and a key's last use is one statement): no BEGIN/ROLLBACK round trips.
        isolation_level="AUTOCOMMIT",
        connect_args={"timeout": settings.db_connect_timeout},
    )
    _ping_after_rest(engine)
    # As many requests may work at once as the pool can open connections.
    _admissions[engine] = Admission(
        settings.db_pool_size + overflow, settings.db_queue_max, settings.db_queue_seconds
    )
    return engine


@asynccontextmanager
async def connect(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection, once the engine's admission lets the request in (Overloaded, a 503, when it
    does not); a database that cannot be reached becomes DatabaseUnavailable (503)."""
    admission = _admissions.get(engine)
    async with admission.admitted() if admission is not None else contextlib.nullcontext():
        try:
            conn = await engine.connect()
        except (OSError, TimeoutError, DBAPIError) as exc:
            raise DatabaseUnavailable("the database cannot be reached; try again shortly") from exc
        try:
            yield conn
        finally:
            await conn.close()


# -- reads straight on asyncpg ------------------------------------------------------------------------
# SQLAlchemy's execute (text() construction, its compile cache, the cursor adapter, the result proxy)
# cost more of a one-feature request than asyncpg's own round trip did (profiled: 17 % against 10 %).
# The reads of the request path run their statement on asyncpg itself, on a connection of RawReads
# (below) or of SQLAlchemy's pool (replicas), and errors become the same DBAPIError the handlers
# already answer (a 503 for a lost connection, a 400 for a data exception).

_NAMED = re.compile(r"""('(?:[^']|'')*'|"(?:[^"]|"")*")|(?<![:\w\\]):(\w+)(?![:\w])""")
"""A quoted literal or identifier (kept as it is), or a bound parameter as SQLAlchemy's text() finds
them (``::type`` casts are not parameters, nor is ``:name::type``: write CAST; text() would also take
``:1`` inside a literal). The statements are the stores' own: no comments, no dollar quoting."""


@functools.lru_cache(maxsize=1024)
def positional(statement: str) -> tuple[str, tuple[str, ...]]:
    """A statement with ``:name`` parameters as asyncpg's ``$n`` and the names in order; compiled once
    per statement text (the shape of a query: its values are always bound)."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] is not None:
            return match[1]
        name = match[2]
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _NAMED.sub(number, statement), tuple(names)


async def fetch_row(
    conn: ReadConnection, statement: str, params: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """The first row of a statement (by column name), or None; see `positional` for the parameters."""
    sql, names = positional(statement)
    args = [params[name] for name in names]
    if isinstance(conn, RawConnection):
        return await conn.run(conn.driver.fetchrow, statement, sql, args)  # type: ignore[no-any-return]
    fairy = await _pooled(conn)
    try:
        row: Mapping[str, Any] | None = await fairy.driver_connection.fetchrow(sql, *args)
    except BaseException as exc:
        await _fail(conn, fairy, statement, exc)
        raise
    return row


async def fetch_value(conn: ReadConnection, statement: str, params: Mapping[str, Any]) -> Any:
    """The first column of the first row of a statement, or None."""
    sql, names = positional(statement)
    args = [params[name] for name in names]
    if isinstance(conn, RawConnection):
        return await conn.run(conn.driver.fetchval, statement, sql, args)
    fairy = await _pooled(conn)
    try:
        return await fairy.driver_connection.fetchval(sql, *args)
    except BaseException as exc:
        await _fail(conn, fairy, statement, exc)
        raise


async def _pooled(conn: AsyncConnection) -> Any:
    """The pool's connection under an AsyncConnection (a PoolProxiedConnection: ``driver_connection``
    is asyncpg's, ``dbapi_connection`` SQLAlchemy's adapter of it)."""
    sync = conn.sync_connection
    # A checked-out connection holds its DBAPI connection; only an invalidated one must reconnect,
    # which SQLAlchemy does inside its greenlet.
    fairy = sync.connection if sync is not None and not sync.invalidated else await conn.get_raw_connection()
    return fairy


async def _fail(
    conn: AsyncConnection, fairy: PoolProxiedConnection, statement: str, exc: BaseException
) -> None:
    """What SQLAlchemy does when a statement fails: the driver's error is raised as the DBAPIError the
    handlers answer; a lost connection is invalidated, with every older connection of its pool (they
    were cut by the same cause); a statement interrupted (cancelled, a bare OSError) leaves only its own
    connection, which may still be running it. Returns when `exc` is to be raised as it is."""
    if not isinstance(exc, Exception) or isinstance(exc, OSError):
        await conn.invalidate(exc)
        return
    adapted: Any = fairy.dbapi_connection
    try:
        adapted._handle_exception(exc)  # raises asyncpg's error translated to the adapter's DBAPI classes
    except Exception as translated:
        dbapi_error: Any = translated
    dialect = conn.sync_engine.dialect
    if not isinstance(dbapi_error, dialect.loaded_dbapi.Error):
        return
    lost = dialect.is_disconnect(dbapi_error, adapted, None)
    if lost:
        conn.sync_engine.pool._invalidate(fairy, exc, _checkin=False)
        await conn.invalidate(exc)
    _raise_as_sqlalchemy(dialect, statement, dbapi_error, exc, lost=lost)


def _raise_as_sqlalchemy(
    dialect: Any, statement: str, dbapi_error: Any, exc: BaseException, *, lost: bool
) -> NoReturn:
    """The DBAPIError SQLAlchemy's own execute would raise (parameters hidden), from the driver's error."""
    raise DBAPIError.instance(
        statement,
        None,
        dbapi_error,
        dialect.loaded_dbapi.Error,
        hide_parameters=True,
        connection_invalidated=lost,
        dialect=dialect,
    ) from exc


# -- the request path's own connections ---------------------------------------------------------------
# Checking a connection out of SQLAlchemy's async pool and back in runs two greenlet switches, the
# pool's events and a Connection object: profiled, 12-15 % of a cold one-feature answer, more than the
# statement's own round trip (measured: one feature 3,185 → 4,788 req/s at 8 clients without it). The
# reads of pages, features and tiles on the primary therefore take plain asyncpg connections, under the
# same rules: the engine's admission, a ping only after a rest, a lost connection closed with every
# older one, errors raised as the DBAPIError SQLAlchemy would raise (the handlers answer them as before).


class RawConnection:
    """One connection of `RawReads`, for `fetch_row` and `fetch_value`."""

    __slots__ = ("driver", "generation", "pool", "used_at")

    def __init__(self, driver: asyncpg.Connection, pool: RawReads, generation: int) -> None:
        self.driver = driver
        self.pool = pool
        self.generation = generation
        self.used_at = time.monotonic()

    async def run(self, call: Any, statement: str, sql: str, args: list[Any]) -> Any:
        try:
            return await call(sql, *args)
        except BaseException as exc:
            self.pool.failed(self, statement, exc)
            raise


class RawCheckout:
    """`RawReads.connection`: the admission's slot, then a connection, given back in reverse order. A
    class, not an asynccontextmanager: two nested generator-based ones cost 3 µs of every cold read."""

    __slots__ = ("conn", "reads")

    def __init__(self, reads: RawReads) -> None:
        self.reads = reads

    async def __aenter__(self) -> RawConnection:
        admission = self.reads.admission
        if admission is not None:
            await admission.enter()
        try:
            self.conn = await self.reads._checkout()
        except BaseException:
            if admission is not None:
                admission.leave()
            raise
        return self.conn

    async def __aexit__(self, *_exc: object) -> None:
        try:
            self.reads._checkin(self.conn)
        finally:
            if self.reads.admission is not None:
                self.reads.admission.leave()


ReadConnection: TypeAlias = AsyncConnection | RawConnection
"""What the stores' reads run on: SQLAlchemy's connection (replicas, tests) or the request path's own."""

_UNREACHABLE = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class RawReads:
    """The request path's own connections to the primary, plain asyncpg ones. No pool object is needed
    to bound them: every checkout happens inside the engine's admission, so no more are in use than it
    lets work at once. Idle ones are reused most recent first; at most TWIN_DB_POOL_SIZE are kept idle,
    as in SQLAlchemy's pool. asyncpg's own pool was not used: it resets every connection it takes back (a
    round trip per answer) and detaches a connection the server cut, mid-request."""

    def __init__(self, settings: Settings, engine: AsyncEngine) -> None:
        self.engine = engine
        self.admission = _admissions.get(engine)
        self.connect_timeout = settings.db_connect_timeout
        self.size = settings.db_pool_size
        url = engine.url
        self._options: dict[str, Any] = url.translate_connect_args(username="user", database="database")
        self._options.update(url.query)
        self._idle: list[RawConnection] = []  # the most recently used last
        self._generation = 0
        """Raised when a connection is found lost: every older one is closed when next seen."""
        self._stopped = False
        # Nothing is opened here: connections open on demand (the database may be down at start-up).

    async def stop(self) -> None:
        self._stopped = True
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(*_UNREACHABLE):
                await conn.driver.close(timeout=2)

    def connection(self) -> RawCheckout:
        """A connection, once the admission lets the request in (Overloaded, a 503, when it does not); a
        database that cannot be reached becomes DatabaseUnavailable (503). Used as ``async with``."""
        return RawCheckout(self)

    async def _checkout(self) -> RawConnection:
        while self._idle:
            conn = self._idle.pop()
            if conn.driver.is_closed() or conn.generation != self._generation:
                conn.driver.terminate()
                continue
            if time.monotonic() - conn.used_at < REST_BEFORE_PING_S:
                return conn
            # A rested connection may have been cut (a restart, a firewall): pinged, and replaced at once.
            try:
                await conn.driver.fetchval("SELECT 1", timeout=self.connect_timeout)
            except _UNREACHABLE:
                conn.driver.terminate()
                continue
            except BaseException:  # cancelled mid-ping (the client went away): not left half-used
                conn.driver.terminate()
                raise
            return conn
        try:
            driver = await asyncpg.connect(timeout=self.connect_timeout, **self._options)
        except _UNREACHABLE as exc:
            raise DatabaseUnavailable("the database cannot be reached; try again shortly") from exc
        return RawConnection(driver, self, self._generation)

    def _checkin(self, conn: RawConnection) -> None:
        if self._stopped or conn.driver.is_closed() or conn.generation != self._generation:
            conn.driver.terminate()
            return
        if len(self._idle) >= self.size:  # as SQLAlchemy's overflow: closed when given back
            conn.driver.terminate()
            return
        conn.used_at = time.monotonic()
        self._idle.append(conn)

    def failed(self, conn: RawConnection, statement: str, exc: BaseException) -> None:
        """What `_fail` does for SQLAlchemy's connections: a statement interrupted (cancelled, a bare
        OSError) closes its connection (the server may still run it); a lost connection closes every
        older one too; a driver error is raised as the DBAPIError the handlers answer."""
        driver = conn.driver
        if not isinstance(exc, Exception) or isinstance(exc, OSError):
            driver.terminate()
            return
        dialect = self.engine.sync_engine.dialect
        try:
            AsyncAdapt_asyncpg_connection._handle_exception_no_connection(dialect.loaded_dbapi, exc)
        except Exception as translated:
            dbapi_error: Any = translated
        if not isinstance(dbapi_error, dialect.loaded_dbapi.Error):
            return
        lost = driver.is_closed()
        if lost:
            self._generation += 1
        _raise_as_sqlalchemy(dialect, statement, dbapi_error, exc, lost=lost)
