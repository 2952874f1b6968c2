"""Readiness follows the database: down -> 503, back -> 200, without restarting the app."""

from __future__ import annotations

import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from app.main import create_app
from tests.support.databases import scratch_database
from tests.support.live import LiveServer
from twin.platform import migrate
from twin.platform.cluster import Cluster
from twin.platform.db import make_sync_engine
from twin.platform.settings import Settings


@pytest.mark.slow
def test_readyz_follows_the_database_down_and_back(
    base_settings: Settings, client: httpx.Client, engine: Engine
) -> None:
    if not base_settings.uses_private_cluster:
        pytest.skip("DATABASE_URL names a server this suite must not stop")
    cluster = Cluster(base_settings)
    assert client.get("/readyz").status_code == 200
    assert cluster.down() is True
    try:
        down = client.get("/readyz")
        assert down.status_code == 503
        assert down.headers["content-type"] == "application/problem+json"
        assert down.json()["checks"]["database"] == "unreachable"
        # A data request while the database is down is a 503 problem too, not a 500.
        layers = client.get("/layers")
        assert layers.status_code == 503, layers.text
        assert layers.json()["type"] == "/problems/database-unavailable"
        assert client.get("/healthz").status_code == 200
    finally:
        cluster.up()
    back = client.get("/readyz")
    assert back.status_code == 200, back.text
    assert back.json()["status"] == "ready"
    # The change feed (LISTEN) reconnects on its own; later tests rely on it for the front cache.
    deadline = time.monotonic() + 30
    while client.get("/readyz").json()["checks"]["change_feed"] != "listening":
        assert time.monotonic() < deadline, "the change feed did not reconnect within 30 s"
        time.sleep(0.2)


def _traffic(base_url: str, stop: threading.Event, seed: int) -> list[tuple[int, float, str, str]]:
    """Uncached reads until `stop`: (status, seconds, content type, Retry-After) of each."""
    rng = random.Random(seed)
    seen = []
    with httpx.Client(base_url=base_url, timeout=30) as http:
        while not stop.is_set():
            lon, lat = 23.30 + rng.random() * 0.04, 42.65 + rng.random() * 0.03
            path = rng.choice(
                [
                    f"/collections/neighbourhoods/items?bbox={lon},{lat},{lon + 0.004},{lat + 0.003}",
                    f"/collections/district/items?bbox={lon},{lat},{lon + 0.01},{lat + 0.01}&limit={seed}",
                    "/layers",
                ]
            )
            started = time.monotonic()
            answer = http.get(path)
            seen.append(
                (
                    answer.status_code,
                    time.monotonic() - started,
                    answer.headers.get("content-type", ""),
                    answer.headers.get("retry-after", ""),
                )
            )
    return seen


@pytest.mark.slow
def test_the_database_stopped_under_traffic(
    base_settings: Settings, settings: Settings, server: LiveServer, client: httpx.Client
) -> None:
    """Eight clients reading while PostGIS stops and starts again: every answer is a 200 or a 503
    problem with Retry-After, none waits longer than the connect timeout allows (no hung worker), and
    the same running service answers 200 again once the database is back."""
    if not base_settings.uses_private_cluster:
        pytest.skip("DATABASE_URL names a server this suite must not stop")
    cluster = Cluster(base_settings)
    stop = threading.Event()
    with ThreadPoolExecutor(8) as pool:
        clients = [pool.submit(_traffic, server.url, stop, seed) for seed in range(1, 9)]
        time.sleep(1.0)
        assert cluster.down() is True
        try:
            time.sleep(2.0)
            assert client.get("/readyz").status_code == 503
        finally:
            cluster.up()
        time.sleep(1.0)
        stop.set()
        seen = [answer for future in clients for answer in future.result()]
    statuses = {status for status, *_ in seen}
    assert statuses <= {200, 503}, statuses
    unavailable = [answer for answer in seen if answer[0] == 503]
    assert len(unavailable) >= 8, "the stop was not seen by the clients"
    assert all(kind == "application/problem+json" and retry.isdigit() for _s, _t, kind, retry in unavailable)
    slowest = max(seconds for _s, seconds, *_ in seen)
    assert slowest < settings.db_connect_timeout + 3, slowest
    back = client.get("/collections/neighbourhoods/items?bbox=23.31,42.66,23.312,42.662")
    assert back.status_code == 200, back.text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_app_starts_without_a_database_and_says_so(settings: Settings) -> None:
    nowhere = settings.model_copy(
        update={
            "database_url": SecretStr(f"postgresql://x:y@127.0.0.1:{_free_port()}/none"),
            "db_connect_timeout": 1.0,
        }
    )
    with LiveServer(create_app(nowhere)) as live, httpx.Client(base_url=live.url) as http:
        assert http.get("/healthz").status_code == 200
        response = http.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["database"] == "unreachable"


def test_readyz_names_what_is_missing(base_settings: Settings) -> None:
    empty = scratch_database(base_settings, "twin_test_empty")
    with LiveServer(create_app(empty)) as live, httpx.Client(base_url=live.url) as http:
        body = http.get("/readyz").json()
        assert body["status"] == 503
        assert body["checks"]["schema"]["ok"] is False
        assert "twin migrate" in body["detail"]
        engine = make_sync_engine(empty)
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()
        body = http.get("/readyz").json()
        assert body["checks"]["schema"]["ok"] is True
        assert body["checks"]["lozenets"] == {"districts": 0, "neighbourhoods": 0, "ok": False}
        assert "twin load lozenets" in body["detail"]
