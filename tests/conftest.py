"""Fixtures: a fresh test database on the real PostGIS (the private cluster, or DATABASE_URL's server),
migrated once per session and loaded with Lozenets from the source mirror."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver import Chrome
from sqlalchemy import Engine, text

from app.main import create_app
from tests.support.browser import start_browser
from tests.support.databases import ProcessServer, scratch_database
from tests.support.live import LiveServer
from twin.core.imports.manifest import Manifest, load_manifest
from twin.core.imports.runner import run_import
from twin.core.registry import loaders
from twin.platform import migrate
from twin.platform.db import make_sync_engine
from twin.platform.keys import create_key
from twin.platform.settings import PROJECT_ROOT, Settings

# Two test sessions at once (two terminals, two checkouts) each name their own database.
TEST_DB = os.environ.get("TWIN_TEST_DB", "twin_test")


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    settings = Settings()
    if settings.sources_dir is None:
        pytest.exit("TWIN_SOURCES_DIR must name the source mirror (scripts/test.sh sets it)", returncode=2)
    return settings


@pytest.fixture(scope="session")
def settings(base_settings: Settings) -> Settings:
    return scratch_database(base_settings, TEST_DB)


@pytest.fixture(scope="session")
def manifest(settings: Settings) -> Manifest:
    return load_manifest(settings.manifest)


@pytest.fixture(scope="session")
def engine(settings: Settings, manifest: Manifest) -> Iterator[Engine]:
    engine = make_sync_engine(settings)
    migrate.upgrade(engine)
    run_import(engine, settings, manifest, loaders()["lozenets"])
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def air_loaded(engine: Engine, settings: Settings, manifest: Manifest) -> None:
    """The air sources (the air tests, and the planning tests that ask the air pilot)."""
    run_import(engine, settings, manifest, loaders()["air"])


@pytest.fixture(scope="session")
def server(settings: Settings, engine: Engine) -> Iterator[LiveServer]:
    """The app served by uvicorn on a free loopback port: real HTTP, as GIS clients see it."""
    with LiveServer(create_app(settings)) as live:
        yield live


@pytest.fixture(scope="session")
def process_server(
    settings: Settings, engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProcessServer]:
    """The app in a uvicorn process of its own, for clients that hold the GIL while they wait on the
    network (GDAL through pyogrio would otherwise starve an in-process server)."""
    assert settings.database_url is not None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": settings.database_url.get_secret_value(), "TWIN_LOG_LEVEL": "INFO"}
    log = tmp_path_factory.mktemp("process-server") / "server.log"
    log_file = log.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log_file,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the app process did not start")
            time.sleep(0.1)
        yield ProcessServer(url, log)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log_file.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Chrome]:
    """Debian's headless Chromium (the map's tests); skipped without chromedriver, except in CI."""
    yield from start_browser()


@pytest.fixture(scope="session")
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


@pytest.fixture
def make_key(engine: Engine) -> Iterator[object]:
    created: list[int] = []

    def make(role: str, name: str = "test") -> str:
        with engine.begin() as conn:
            key, row = create_key(conn, name, role)
        created.append(row["id"])
        return key

    yield make
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM api_key WHERE id = ANY(:ids)"), {"ids": created})


@pytest.fixture
def mirror_copy(settings: Settings, tmp_path: Path) -> Path:
    """A private mirror: links to the real files, so a test may replace one without touching the rest."""
    assert settings.sources_dir is not None
    for source in settings.sources_dir.rglob("*"):
        if source.is_file():
            target = tmp_path / source.relative_to(settings.sources_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source)
    return tmp_path
