"""Where a read goes: a streaming replica that is fresh enough, else the primary.

Reads of base layers may go to the replicas named by ``TWIN_READ_REPLICAS``; writes, imports, derived
results and the change feed stay on the primary (NOTIFY never reaches a standby). A background task
checks every ``TWIN_REPLICA_CHECK_SECONDS`` how far each replica has replayed the primary's WAL. A replica
takes reads only when it answers, is still a standby, lags at most ``TWIN_REPLICA_MAX_LAG_SECONDS``, and has
replayed the *barrier*: the primary's WAL position taken whenever this process learned that data
changed (:meth:`ReadRoute.changed`). So no answer is older than a change the process already knows of:
right after an import every read goes to the primary, until a replica has caught up.

With no replica configured the route is the primary engine itself: no task, no check, no extra query.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from twin.core.errors import DatabaseUnavailable, Overloaded
from twin.platform.db import RawReads, ReadConnection, connect, make_async_engine
from twin.platform.settings import Settings

log = logging.getLogger("twin.reads")

T = TypeVar("T")

# The insert position, not pg_current_wal_lsn() (the write position): with synchronous_commit off a
# commit is visible before its WAL is written, and the barrier must lie past that commit record.
_PRIMARY_POSITION = text("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint")
_REPLICA_POSITION = text(
    "SELECT pg_is_in_recovery() AS standby, (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint AS replayed"
)
CHECK_TIMEOUT_SECONDS = 2.0
"""A replica that takes longer to say where it is counts as unreachable until the next check."""
CATCHING_UP_CHECK_SECONDS = 0.25
"""How often a replica that is only behind the barrier is asked again (it usually is within a second)."""
SAMPLE_WINDOW_SECONDS = 600.0
"""How long the primary's past positions are kept: lags longer than this read as at least this."""
_WAL_PAGE = 8192
_PAGE_HEADER = 24

IN_USE = "in use"
BEHIND = "behind"
"""Fresh enough, but has not replayed a change this process knows of yet: reads go to the primary."""
LAGGING = "lagging"
UNREACHABLE = "unreachable"
NOT_A_STANDBY = "not a standby"
"""Answers, but is no longer in recovery (promoted): its data may part from the primary's."""
UNCHECKED = "not checked yet"


def _settled(position: int) -> int:
    """The insert position just past a page header is also the end of the record before it: a replica
    that replayed up to the page boundary has everything."""
    return position - _PAGE_HEADER if position % _WAL_PAGE == _PAGE_HEADER else position


@dataclass
class Replica:
    name: str
    """host:port/database, never the password."""
    engine: AsyncEngine
    state: str = UNCHECKED
    replayed: int | None = None
    lag_seconds: float | None = None
    reads: int = 0
    failures: int = 0

    def status(self) -> dict[str, Any]:
        lag = None if self.lag_seconds is None else round(self.lag_seconds, 3)
        return {
            "name": self.name,
            "state": self.state,
            "lag_seconds": lag,
            "reads": self.reads,
            "failures": self.failures,
        }


class ReadRoute:
    """Chooses, for each read, a usable replica (round robin) or the primary."""

    def __init__(self, settings: Settings, primary: AsyncEngine) -> None:
        self.primary = primary
        self.raw = RawReads(settings, primary)
        """The primary's own pool for these reads (asyncpg's, without SQLAlchemy's checkout)."""
        self._max_lag = settings.replica_max_lag_seconds
        self._interval = settings.replica_check_seconds
        urls = [_replica_url(secret, position) for position, secret in enumerate(settings.read_replicas, 1)]
        self.replicas = tuple(Replica(_name(url), make_async_engine(settings, url)) for url in urls)
        self._turn = itertools.count()
        self._barrier: int | None = None  # none yet: every read goes to the primary until the first
        self._samples: deque[tuple[float, int]] = deque()  # (monotonic time, primary's position)
        self._primary_reads = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        if self.replicas and self._task is None:
            self._task = asyncio.create_task(self._check_forever(), name="twin-read-replicas")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for replica in self.replicas:
            await replica.engine.dispose()
        await self.raw.stop()

    # -- reads ---------------------------------------------------------------------------------------
    async def read(self, work: Callable[[ReadConnection], Awaitable[T]], *, prefer_replica: bool = True) -> T:
        """`work` done on a usable replica, or on the primary. A replica that fails (before or during the
        work) is marked down at once and the work is done again on the primary: the caller never sees a
        replica's failure."""
        replica = self._choose() if prefer_replica else None
        if replica is not None:
            try:
                async with connect(replica.engine) as conn:
                    result = await work(conn)
            except (DatabaseUnavailable, PoolTimeout, OSError, DBAPIError) as exc:
                if not self._fall_back(replica, exc):
                    raise
            else:
                replica.reads += 1
                return result
        elif prefer_replica and self.replicas:
            self._primary_reads += 1
        async with self.raw.connection() as raw:
            return await work(raw)

    def _choose(self) -> Replica | None:
        if not self.replicas:
            return None
        usable = [r for r in self.replicas if r.state == IN_USE and self._passed_barrier(r)]
        if not usable:
            return None
        return usable[next(self._turn) % len(usable)]

    def _passed_barrier(self, replica: Replica) -> bool:
        return (
            self._barrier is not None and replica.replayed is not None and replica.replayed >= self._barrier
        )

    def _fall_back(self, replica: Replica, exc: BaseException) -> bool:
        """Whether the read may be done again on the primary; a replica that went away is marked down."""
        sqlstate = str(getattr(getattr(exc, "orig", None), "sqlstate", None) or "")
        if isinstance(exc, Overloaded):  # its queue is full: busy, not gone
            return True
        gone = (
            isinstance(exc, DatabaseUnavailable | OSError | InterfaceError)
            or sqlstate.startswith(("08", "57P"))
            or (isinstance(exc, DBAPIError) and exc.connection_invalidated)
        )
        # Busy (its pool, or its connection slots) or a query cancelled by a conflict with recovery
        # (40001): the primary answers this one; the replica stays in use.
        busy = isinstance(exc, PoolTimeout) or sqlstate == "40001" or sqlstate.startswith("53")
        if gone:
            self._mark_down(replica)
        return gone or busy

    @staticmethod
    def _mark_down(replica: Replica) -> None:
        """Until the next check says otherwise: the next reads go elsewhere at once."""
        replica.state = UNREACHABLE
        replica.failures += 1
        log.warning("read replica unreachable; reading from the primary", extra={"replica": replica.name})

    # -- freshness -----------------------------------------------------------------------------------
    async def changed(self) -> None:
        """This process learned that data changed (a new fingerprint, its own write): replicas take reads
        again only once they have replayed the primary's present position."""
        if not self.replicas:
            return
        async with connect(self.primary) as conn:
            position = int((await conn.execute(_PRIMARY_POSITION)).scalar_one())
        self._barrier = max(position, self._barrier or 0)
        for replica in self.replicas:
            if replica.state == IN_USE and not self._passed_barrier(replica):
                replica.state = BEHIND
        self._wake.set()

    async def _check_forever(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the primary is down, say: the replicas keep their last state
                log.info("read replicas not checked", extra={"error": str(exc)[:200]})
            catching_up = any(r.state == BEHIND for r in self.replicas)
            delay = min(self._interval, CATCHING_UP_CHECK_SECONDS) if catching_up else self._interval
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def check(self) -> None:
        """Ask the primary where it is, then every replica where it has replayed to (at once)."""
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS), connect(self.primary) as conn:
            position = int((await conn.execute(_PRIMARY_POSITION)).scalar_one())
        now = time.monotonic()
        self._samples.append((now, position))
        while self._samples and now - self._samples[0][0] > SAMPLE_WINDOW_SECONDS:
            self._samples.popleft()
        await asyncio.gather(*(self._check_replica(r) for r in self.replicas))

    async def _check_replica(self, replica: Replica) -> None:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS), connect(replica.engine) as conn:
                row = (await conn.execute(_REPLICA_POSITION)).one()
        except (DatabaseUnavailable, PoolTimeout, OSError, DBAPIError, TimeoutError):
            replica.state, replica.lag_seconds = UNREACHABLE, None
            return
        if not row.standby:
            replica.state, replica.lag_seconds = NOT_A_STANDBY, None
            return
        replica.replayed = int(row.replayed)
        replica.lag_seconds = self._lag(replica.replayed)
        if replica.lag_seconds > self._max_lag:
            replica.state = LAGGING
        elif not self._passed_barrier(replica):
            replica.state = BEHIND
        else:
            replica.state = IN_USE

    def _lag(self, replayed: int) -> float:
        """How long ago the primary was where the replica is now: 0 when it has caught up, else the time
        since the first sample at which the primary was past it."""
        newest = self._samples[-1]
        if replayed >= _settled(newest[1]):
            return 0.0
        past = next((t for t, position in self._samples if _settled(position) > replayed), newest[0])
        return time.monotonic() - past

    # -- health --------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any] | None:
        """The replicas' states for /healthz and /readyz (None when none are configured)."""
        if not self.replicas:
            return None
        return {
            "replicas": [r.status() for r in self.replicas],
            "primary_reads": self._primary_reads,
            "max_lag_seconds": self._max_lag,
        }


def _replica_url(secret: SecretStr, position: int) -> URL:
    try:
        url = make_url(secret.get_secret_value())
    except ArgumentError:
        url = None
    if url is None or not url.drivername.startswith("postgres"):
        # The message never repeats the URL: it holds the password.
        raise ValueError(f"TWIN_READ_REPLICAS: replica {position} is not a postgresql:// URL")
    return url


def _name(url: URL) -> str:
    """host:port/database, for logs and health: never the password."""
    return f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"
