"""The request path's reads run on asyncpg itself (twin.platform.db.fetch_value / fetch_row), on a
connection of SQLAlchemy's pool or of the request path's own asyncpg pool (RawReads): the same
parameters as SQLAlchemy's text(), the same DBAPIError for the handlers, and a lost or interrupted
connection leaves the pool. Each test runs on both kinds of connection."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import pytest
from sqlalchemy.exc import DBAPIError

from twin.platform import db
from twin.platform.db import (
    RawConnection,
    RawReads,
    ReadConnection,
    fetch_row,
    fetch_value,
    make_async_engine,
    positional,
)
from twin.platform.settings import Settings

T = TypeVar("T")


def test_named_parameters_become_numbered_once_per_name() -> None:
    statement = "SELECT CAST(:a AS int) + :b, :a, t.x::text, '{\"k\":1}' FROM t WHERE y = :b_2"
    sql, names = positional(statement)
    assert sql == "SELECT CAST($1 AS int) + $2, $1, t.x::text, '{\"k\":1}' FROM t WHERE y = $3"
    assert names == ("a", "b", "b_2")
    assert positional(statement) is positional(statement)  # compiled once per statement text
    # As SQLAlchemy's text(): a name followed by a cast or a colon is not a parameter.
    assert positional("SELECT :lim::int, arr[:lo:hi]") == ("SELECT :lim::int, arr[:lo:hi]", ())


Connect = Callable[[], AbstractAsyncContextManager[ReadConnection]]
KINDS = ("sqlalchemy pool", "asyncpg pool")


def _run(settings: Settings, kind: str, work: Callable[[Connect], Awaitable[T]]) -> T:
    """`work` given a way to take a connection of that kind."""

    async def main() -> T:
        engine = make_async_engine(settings)
        raw = RawReads(settings, engine)

        @asynccontextmanager
        async def from_sqlalchemy() -> AsyncIterator[ReadConnection]:
            async with engine.connect() as conn:
                yield conn

        try:
            return await work(from_sqlalchemy if kind == "sqlalchemy pool" else raw.connection)
        finally:
            await raw.stop()
            await engine.dispose()

    return asyncio.run(main())


@pytest.mark.parametrize("kind", KINDS)
def test_values_rows_and_a_data_exception(settings: Settings, kind: str) -> None:
    async def work(connect: Connect) -> tuple[Any, ...]:
        async with connect() as conn:
            product = await fetch_value(conn, "SELECT CAST(:a AS int) * :b", {"a": 6, "b": 7})
            row = await fetch_row(conn, "SELECT 1 AS one, CAST(:s AS text) AS s", {"s": "x"})
            none = await fetch_row(conn, "SELECT 1 WHERE false", {})
            with pytest.raises(DBAPIError) as caught:
                await fetch_value(conn, "SELECT 1 / CAST(:z AS int)", {"z": 0})
            after = await fetch_value(conn, "SELECT 2", {})  # a statement's error keeps the connection
            return product, dict(row or {}), none, caught.value, after

    product, row, none, error, after = _run(settings, kind, work)
    assert product == 42
    assert row == {"one": 1, "s": "x"}
    assert none is None
    assert error.orig.sqlstate == "22012"  # division_by_zero: a data exception, answered 400
    assert not error.connection_invalidated
    assert after == 2


@pytest.mark.parametrize("kind", KINDS)
def test_a_connection_lost_midway_is_invalidated_and_the_next_one_is_new(
    settings: Settings, kind: str
) -> None:
    async def work(connect: Connect) -> tuple[Any, ...]:
        async with connect() as conn:
            pid = await fetch_value(conn, "SELECT pg_backend_pid()", {})
            async with connect() as other:
                await fetch_value(other, "SELECT pg_terminate_backend(CAST(:p AS int))", {"p": pid})
            await asyncio.sleep(0.1)
            with pytest.raises(DBAPIError) as caught:
                await fetch_value(conn, "SELECT 1", {})
        async with connect() as conn:
            new_pid = await fetch_value(conn, "SELECT pg_backend_pid()", {})
        return pid, caught.value, new_pid

    pid, error, new_pid = _run(settings, kind, work)
    assert error.connection_invalidated
    assert new_pid != pid
    assert os.getpid() not in (pid, new_pid)


@pytest.mark.parametrize("kind", KINDS)
def test_a_cancelled_statement_takes_its_connection_out_of_the_pool(settings: Settings, kind: str) -> None:
    async def work(connect: Connect) -> tuple[Any, ...]:
        async with connect() as conn:
            pid = await fetch_value(conn, "SELECT pg_backend_pid()", {})
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):  # the client went away: the request is cancelled
                    await fetch_value(conn, "SELECT pg_sleep(3)", {})
        started = asyncio.get_running_loop().time()
        async with connect() as conn:
            new_pid = await fetch_value(conn, "SELECT pg_backend_pid()", {})
        return pid, new_pid, asyncio.get_running_loop().time() - started

    pid, new_pid, waited = _run(settings, kind, work)
    assert new_pid != pid  # not the connection still sleeping
    assert waited < 1.0


def test_a_rested_connection_that_does_not_answer_its_ping_is_replaced(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "REST_BEFORE_PING_S", 0.1)
    quick = settings.model_copy(update={"db_connect_timeout": 1.0})

    async def work(connect: Connect) -> tuple[Any, ...]:
        async with connect() as conn:
            pid = await fetch_value(conn, "SELECT pg_backend_pid()", {})
            assert isinstance(conn, RawConnection)
            # A socket that no longer answers, without the driver knowing (a firewall dropped it).
            conn.driver._transport.pause_reading()  # type: ignore[attr-defined]
        await asyncio.sleep(0.2)  # a rest: the next checkout pings it
        started = asyncio.get_running_loop().time()
        async with connect() as conn:
            new_pid = await fetch_value(conn, "SELECT pg_backend_pid()", {})
        return pid, new_pid, asyncio.get_running_loop().time() - started

    pid, new_pid, waited = _run(quick, "asyncpg pool", work)
    assert new_pid != pid
    assert 1.0 <= waited < 3.0  # the ping's timeout, then a new connection


def test_at_most_the_pool_size_is_kept_idle(settings: Settings) -> None:
    small = settings.model_copy(update={"db_pool_size": 2})

    async def work(connect: Connect) -> tuple[Any, ...]:
        async with contextlib.AsyncExitStack() as stack:
            held = [await stack.enter_async_context(connect()) for _ in range(4)]  # the pool and its overflow
            pids = {await fetch_value(conn, "SELECT pg_backend_pid()", {}) for conn in held}
        assert isinstance(held[0], RawConnection)
        idle = held[0].pool._idle
        return len(pids), len(idle), sum(not conn.driver.is_closed() for conn in held)

    opened, idle, still_open = _run(small, "asyncpg pool", work)
    assert (opened, idle, still_open) == (4, 2, 2)  # the two given back last were closed


def test_a_ping_cancelled_midway_closes_its_connection(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "REST_BEFORE_PING_S", 0.1)

    async def work(connect: Connect) -> tuple[Any, ...]:
        async with connect() as conn:
            assert isinstance(conn, RawConnection)
            rested = conn
            conn.driver._transport.pause_reading()  # type: ignore[attr-defined]  # the ping will wait
        await asyncio.sleep(0.2)

        async def take() -> None:
            async with connect():
                pass

        with pytest.raises(TimeoutError):  # the client went away while the rested one was pinged
            await asyncio.wait_for(take(), 0.3)
        return rested.driver.is_closed(), len(rested.pool._idle)

    closed, idle = _run(settings, "asyncpg pool", work)
    assert closed  # terminated, not dropped while half-used
    assert idle == 0
