"""Knowing, without asking the database on every request, whether any layer changed.

Imports `NOTIFY twin_layers` when they commit. Each worker keeps one listening connection; while it is
connected the fingerprint held here is current, so cached responses and ETags cost no query. While it
is not (the database is down, or restarting), every caller asks the database itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable

import asyncpg
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("twin.versions")

CHANNEL = "twin_layers"
"""The channel on which writers announce changed layers (delivered at their commit)."""
PROBE_REUSE_S = 1.0
PROBE = "probe:"
"""Payload prefix of the notices this module sends itself to prove its connection still hears."""


def announce(conn: Connection, payload: str) -> None:
    """Tell every worker, when `conn`'s transaction commits, that layers changed (`payload` says who)."""
    conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload})


async def send_notice(engine: AsyncEngine, payload: str) -> None:
    """A notice on the channel right away (the health probe of the listening connections)."""
    async with engine.connect() as conn:
        await conn.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
        )


class LayerVersions:
    def __init__(
        self,
        dsn: str,
        read_fingerprint: Callable[[], Awaitable[str]],
        *,
        connect_timeout: float = 3.0,
        safety_interval: float = 5.0,
    ) -> None:
        self._dsn = dsn
        self._read = read_fingerprint
        self._connect_timeout = connect_timeout
        self._safety_interval = safety_interval
        self._fingerprint: str | None = None
        self._listening = False
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._lost: asyncio.Event | None = None
        self._probes: dict[str, asyncio.Future[None]] = {}
        self._last_heard = -PROBE_REUSE_S
        self._probe_lock = asyncio.Lock()

    @property
    def listening(self) -> bool:
        return self._listening

    def current(self) -> str | None:
        """The fingerprint when it is known to be current (listening), else None; never waits."""
        return self._fingerprint if self._listening else None

    async def fingerprint(self) -> str:
        """The current layer fingerprint: from memory while listening, else from the database."""
        if self._listening and self._fingerprint is not None:
            return self._fingerprint
        self._fingerprint = await self._read()
        return self._fingerprint

    async def probe(self, send: Callable[[str], Awaitable[None]], timeout: float = 2.0) -> bool:
        """Whether the listening connection still hears: `send` issues a NOTIFY with the given payload
        on another connection, and the notice must come back within `timeout`. A connection that was
        sent a notice and did not hear it (a database restart it did not notice) is dropped and reopened
        at once; a notice that could not be sent proves nothing and drops nothing."""
        if not self._listening:
            return False
        async with self._probe_lock:  # one probe in flight per process; the others take its answer
            if time.monotonic() - self._last_heard < PROBE_REUSE_S:
                # Readiness may be polled often (and by anyone): one notice per second is proof enough.
                return True
            token = PROBE + secrets.token_hex(8)
            heard = asyncio.get_running_loop().create_future()
            self._probes[token] = heard
            try:
                try:
                    await asyncio.wait_for(send(token), timeout)
                except Exception:  # (a busy pool, say): the listener is not in question
                    return False
                try:
                    await asyncio.wait_for(heard, timeout)
                except TimeoutError:
                    self._listening = False
                    if self._lost is not None:
                        self._lost.set()
                        self._changed.set()
                    return False
                self._last_heard = time.monotonic()
                return True
            finally:
                self._probes.pop(token, None)

    def _on_notice(self, *args: object) -> None:
        payload = str(args[-1]) if args else ""
        if payload.startswith(PROBE):  # ours, or another worker's: no layer changed
            heard = self._probes.get(payload)
            if heard is not None and not heard.done():
                heard.set_result(None)
            return
        self._changed.set()

    async def refresh(self) -> str:
        """Re-read now (after a write made by this process, before answering its caller)."""
        self._fingerprint = await self._read()
        return self._fingerprint

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="twin-layer-versions")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen_forever(self) -> None:
        delay = 0.5
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(self._dsn, timeout=self._connect_timeout)
                lost = asyncio.Event()
                self._lost = lost
                connection.add_termination_listener(lambda _c, lost=lost: lost.set())
                await connection.add_listener(CHANNEL, self._on_notice)
                self._changed.clear()
                self._fingerprint = await self._read()
                self._listening = True
                delay = 0.5
                while not lost.is_set() and not connection.is_closed():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), timeout=self._safety_interval)
                    # Cleared before reading, so a notice that arrives during the read is kept.
                    self._changed.clear()
                    if lost.is_set() or connection.is_closed():
                        break
                    # On a notice, or every safety interval: also catches a silently dead socket.
                    await connection.execute("SELECT 1")
                    self._fingerprint = await self._read()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: fall back to asking the database, and retry
                log.info("layer-change listener unavailable; retrying", extra={"error": str(exc)[:200]})
            finally:
                self._listening = False
                self._last_heard = -PROBE_REUSE_S  # a new connection must prove itself afresh
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=1)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
