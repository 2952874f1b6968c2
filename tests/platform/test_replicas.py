"""Reads on a real streaming replica (pg_basebackup of the private cluster): used while fresh, skipped while
behind a change the service knows of, lagging or stopped; two services on one primary stay fresh."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import httpx
import psycopg
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, text

from app.main import create_app
from tests.support.databases import scratch_database
from tests.support.live import LiveServer
from tests.support.replica import StreamingReplica, streaming_replica
from twin.core.catalog.layers_store import touch
from twin.core.imports.manifest import load_manifest
from twin.core.imports.runner import run_import
from twin.core.registry import loaders
from twin.core.tiles import tile_index
from twin.core.versions import announce
from twin.platform import migrate
from twin.platform.db import database_url, libpq_url, make_sync_engine
from twin.platform.settings import Settings

SCRATCH = f"{os.environ.get('TWIN_TEST_DB', 'twin_test')}_replicas"
RENAMED = "Лозенец (реплика)"


@pytest.fixture
def loaded(base_settings: Settings) -> Iterator[tuple[Settings, Engine]]:
    """A database of its own on the primary, migrated and loaded with Lozenets; dropped afterwards."""
    if not base_settings.uses_private_cluster:
        pytest.skip("DATABASE_URL is set: no private cluster to make a replica of")
    scratch = scratch_database(base_settings, SCRATCH)
    engine = make_sync_engine(scratch)
    try:
        migrate.upgrade(engine)
        run_import(engine, scratch, load_manifest(scratch.manifest), loaders()["lozenets"])
        yield scratch, engine
    finally:
        engine.dispose()
        admin = libpq_url(database_url(base_settings, "postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {SCRATCH} WITH (FORCE)")  # type: ignore[arg-type]


def _wait(check: Callable[[], bool], seconds: float, what: str) -> float:
    """Seconds until check() holds; fails after `seconds`."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, f"{what} within {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - started


def _replica(server: LiveServer) -> dict[str, Any]:
    status = httpx.get(f"{server.url}/healthz", timeout=10).json()["read_replicas"]
    assert len(status["replicas"]) == 1
    return {**status["replicas"][0], "primary_reads": status["primary_reads"]}


def _name_bg(server: LiveServer, limit: int = 1) -> str:
    answer = httpx.get(f"{server.url}/collections/district/items", params={"limit": limit}, timeout=10)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["features"][0]["properties"]["name_bg"])


def _serves(server: LiveServer, name: str) -> bool:
    return _name_bg(server) == name


def _in_state(server: LiveServer, state: str) -> bool:
    return bool(_replica(server)["state"] == state)


def _same_page(server: LiveServer, reference: LiveServer, path: str) -> None:
    mine, theirs = (httpx.get(f"{s.url}{path}", timeout=10) for s in (server, reference))
    assert mine.status_code == theirs.status_code == 200, mine.text
    assert mine.content == theirs.content or (
        mine.json()["features"] == theirs.json()["features"]
        and mine.json().get("numberMatched") == theirs.json().get("numberMatched")
    )


@pytest.mark.slow
def test_reads_use_a_fresh_replica_and_never_an_older_answer(
    base_settings: Settings, loaded: tuple[Settings, Engine]
) -> None:
    scratch, engine = loaded
    with streaming_replica(base_settings, SCRATCH) as replica:
        with_replica = scratch.model_copy(
            update={
                "read_replicas": [SecretStr(replica.url(SCRATCH))],
                # Long enough that a paused replica reads as "behind" (not "lagging") during the test.
                "replica_max_lag_seconds": 60.0,
                "replica_check_seconds": 0.2,
            }
        )
        # B checks its replica only every 30 s: it learns of a stopped one from a failed read.
        rarely_checked = with_replica.model_copy(update={"replica_check_seconds": 30.0})
        with (
            LiveServer(create_app(with_replica)) as a,
            LiveServer(create_app(rarely_checked)) as b,
            LiveServer(create_app(scratch)) as primary_only,
        ):
            _replica_serves_base_layers(a, primary_only)
            _a_change_is_seen_at_once_while_the_replica_is_behind(a, b, engine, replica)
            _a_stopped_replica_is_skipped(a, b, replica)


def _replica_serves_base_layers(a: LiveServer, primary_only: LiveServer) -> None:
    waited = _wait(lambda: _replica(a)["state"] == "in use", 30, "the replica is in use")
    print(f"replica in use {waited:.2f} s after the service started")
    before = _replica(a)["reads"]
    _same_page(a, primary_only, "/collections/neighbourhoods/items?limit=3")
    _same_page(a, primary_only, "/collections/neighbourhoods/items?bbox=23.31,42.66,23.33,42.68")
    assert _replica(a)["reads"] == before + 2  # a page with its count (3 of 7), and a page
    feature = httpx.get(f"{a.url}/collections/district/items/09", timeout=10)
    assert feature.status_code == 200, feature.text
    x, y = tile_index(23.33, 42.67, 13)
    tile = httpx.get(f"{a.url}/collections/district/tiles/WebMercatorQuad/13/{y}/{x}", timeout=10)
    assert tile.status_code == 200
    assert len(tile.content) > 0
    assert _replica(a)["reads"] == before + 4
    # A derived layer's result is computed and written on the primary: read there too.
    grid = httpx.get(f"{a.url}/collections/lozenets_grid/items", params={"limit": 1}, timeout=120)
    assert grid.status_code == 200, grid.text
    assert _replica(a)["reads"] == before + 4


def _a_change_is_seen_at_once_while_the_replica_is_behind(
    a: LiveServer, b: LiveServer, engine: Engine, replica: StreamingReplica
) -> None:
    original = _name_bg(a)
    assert _name_bg(b) == original
    replica.execute("SELECT pg_wal_replay_pause()")
    _wait(
        lambda: replica.execute("SELECT pg_get_wal_replay_pause_state()") == "paused",
        10,
        "replay paused",
    )
    primary_reads = _replica(a)["primary_reads"]
    with engine.begin() as conn:  # a write as the API's own writes make it: data, version, notice
        conn.execute(text("UPDATE district SET name_bg = :name"), {"name": RENAMED})
        touch(conn, ["district"])
        announce(conn, "district")
    for server in (a, b):
        seconds = _wait(partial(_serves, server, RENAMED), 2, "the new name is served")
        print(f"the change served {seconds:.3f} s after its commit")
    assert _stale_on_the_replica(replica) == original  # the replica really is behind
    state = _replica(a)
    assert state["state"] == "behind", state
    assert state["primary_reads"] > primary_reads
    assert _replica(b)["state"] == "behind"
    _wait(lambda: (_replica(a)["lag_seconds"] or 0) >= 1.0, 10, "the lag is measured")
    replica.execute("SELECT pg_wal_replay_resume()")
    for server in (a, b):
        waited = _wait(partial(_in_state, server, "in use"), 15, "the replica is in use again")
        print(f"replica in use again {waited:.2f} s after replay resumed")
        reads = _replica(server)["reads"]
        assert _name_bg(server, limit=2) == RENAMED  # a page not asked before: read on the replica
        assert _replica(server)["reads"] == reads + 1


def _stale_on_the_replica(replica: StreamingReplica) -> str:
    with psycopg.connect(replica.url(SCRATCH), autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SELECT name_bg FROM district LIMIT 1").fetchone()
    assert row is not None
    return str(row[0])


def _a_stopped_replica_is_skipped(a: LiveServer, b: LiveServer, replica: StreamingReplica) -> None:
    replica.stop()
    statuses = []
    for server in (a, b):
        for limit in range(1, 6):  # pages not asked before: each one a read
            answer = httpx.get(
                f"{server.url}/collections/neighbourhoods/items", params={"limit": limit}, timeout=10
            )
            statuses.append(answer.status_code)
    assert statuses == [200] * 10
    for server in (a, b):
        _wait(partial(_in_state, server, "unreachable"), 10, "the replica is unreachable")
    assert _replica(b)["failures"] == 1  # the first read after the stop, answered by the primary
    ready = httpx.get(f"{a.url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["read_replicas"]["replicas"][0]["state"] == "unreachable"
