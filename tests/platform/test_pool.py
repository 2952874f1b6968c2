"""Pooled connections are not pinged on every checkout (a second round trip per answer), only after a
rest: a connection cut while it rested (the database restarted, a firewall's idle timeout) is replaced
without the request noticing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine, text

from app.main import create_app
from tests.support.databases import scratch_database
from tests.support.live import LiveServer
from twin.core.imports.manifest import Manifest
from twin.core.imports.runner import run_import
from twin.core.registry import loaders
from twin.platform import db, migrate
from twin.platform.db import make_sync_engine
from twin.platform.settings import Settings


def _cut_every_other_connection(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname ="
                    " current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                )
            ).scalar_one()
        )


@pytest.fixture
def one_connection_service(
    base_settings: Settings, manifest: Manifest
) -> Iterator[tuple[Engine, httpx.Client]]:
    """The service on a scratch database with Lozenets, one pooled connection (and its overflow), and an
    engine of the test's own to cut the service's connections with."""
    scratch = scratch_database(base_settings, "twin_test_pool").model_copy(update={"db_pool_size": 1})
    engine = make_sync_engine(scratch)
    try:
        migrate.upgrade(engine)
        run_import(engine, scratch, manifest, loaders()["lozenets"])
        with LiveServer(create_app(scratch)) as live, httpx.Client(base_url=live.url) as http:
            yield engine, http
    finally:
        engine.dispose()


def test_a_connection_cut_while_it_rested_is_replaced(
    one_connection_service: tuple[Engine, httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "REST_BEFORE_PING_S", 0.3)
    engine, http = one_connection_service
    assert http.get("/collections/neighbourhoods/items", params={"limit": 2}).status_code == 200
    assert _cut_every_other_connection(engine) >= 1  # the service's pooled ones among them
    time.sleep(0.5)  # longer than the rest: the next checkout pings, finds it dead, reconnects
    again = http.get("/collections/neighbourhoods/items", params={"limit": 3})
    assert again.status_code == 200, again.text
    assert again.json()["numberReturned"] == 3


def test_a_connection_cut_while_idle_is_replaced_without_a_ping(
    one_connection_service: tuple[Engine, httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request path's own connections (twin.platform.db.RawReads) are asyncpg's: the driver reads
    the server's goodbye on the idle socket and marks the connection closed, so the next request takes a
    new one without a ping and without an error. (A connection cut in the middle of a statement is a
    503 and closes every older one: tests/platform/test_raw_reads.py.)"""
    monkeypatch.setattr(db, "REST_BEFORE_PING_S", 600.0)  # no ping
    engine, http = one_connection_service
    assert http.get("/collections/neighbourhoods/items/133").status_code == 200
    assert _cut_every_other_connection(engine) >= 1
    time.sleep(0.2)
    again = http.get("/collections/district/items/09")
    assert again.status_code == 200, again.text
    assert again.json()["id"] == "09"
