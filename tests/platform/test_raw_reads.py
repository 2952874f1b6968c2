"""The request path's reads run on asyncpg itself (twin.platform.db.fetch_value / fetch_row): the same
parameters as SQLAlchemy's text(), the same DBAPIError for the handlers, and a lost connection leaves the
pool."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from twin.platform.db import fetch_row, fetch_value, make_async_engine, positional
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


def _run(settings: Settings, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = make_async_engine(settings)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def test_values_rows_and_a_data_exception(settings: Settings) -> None:
    async def work(engine: AsyncEngine) -> tuple[Any, ...]:
        async with engine.connect() as conn:
            product = await fetch_value(conn, "SELECT CAST(:a AS int) * :b", {"a": 6, "b": 7})
            row = await fetch_row(conn, "SELECT 1 AS one, CAST(:s AS text) AS s", {"s": "x"})
            none = await fetch_row(conn, "SELECT 1 WHERE false", {})
            with pytest.raises(DBAPIError) as caught:
                await fetch_value(conn, "SELECT 1 / CAST(:z AS int)", {"z": 0})
            after = await fetch_value(conn, "SELECT 2", {})  # a statement's error keeps the connection
            return product, dict(row or {}), none, caught.value, after

    product, row, none, error, after = _run(settings, work)
    assert product == 42
    assert row == {"one": 1, "s": "x"}
    assert none is None
    assert error.orig.sqlstate == "22012"  # division_by_zero: a data exception, answered 400
    assert not error.connection_invalidated
    assert after == 2


def test_a_connection_lost_midway_is_invalidated_and_the_next_one_is_new(settings: Settings) -> None:
    async def work(engine: AsyncEngine) -> tuple[Any, ...]:
        async with engine.connect() as conn:
            pid = await fetch_value(conn, "SELECT pg_backend_pid()", {})
            async with engine.connect() as other:
                await fetch_value(other, "SELECT pg_terminate_backend(CAST(:p AS int))", {"p": pid})
            await asyncio.sleep(0.1)
            with pytest.raises(DBAPIError) as caught:
                await fetch_value(conn, "SELECT 1", {})
        async with engine.connect() as conn:
            new_pid = await fetch_value(conn, "SELECT pg_backend_pid()", {})
        return pid, caught.value, new_pid

    pid, error, new_pid = _run(settings, work)
    assert error.connection_invalidated
    assert new_pid != pid
    assert os.getpid() not in (pid, new_pid)


def test_a_cancelled_statement_takes_its_connection_out_of_the_pool(settings: Settings) -> None:
    async def work(engine: AsyncEngine) -> tuple[Any, ...]:
        async with engine.connect() as conn:
            pid = await fetch_value(conn, "SELECT pg_backend_pid()", {})
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):  # the client went away: the request is cancelled
                    await fetch_value(conn, "SELECT pg_sleep(3)", {})
        started = asyncio.get_running_loop().time()
        async with engine.connect() as conn:
            new_pid = await fetch_value(conn, "SELECT pg_backend_pid()", {})
        return pid, new_pid, asyncio.get_running_loop().time() - started

    pid, new_pid, waited = _run(settings, work)
    assert new_pid != pid  # not the connection still sleeping
    assert waited < 1.0
