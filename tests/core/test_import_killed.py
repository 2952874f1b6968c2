"""An import killed with SIGKILL midway: the previous data still serves, the run is marked failed at the
next start of the service, and running the import again succeeds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
from sqlalchemy import text

from app.main import create_app
from tests.support.databases import scratch_database
from tests.support.live import LiveServer
from twin.core.imports.manifest import Manifest
from twin.core.imports.runner import run_import
from twin.core.registry import loaders
from twin.platform import migrate
from twin.platform.db import make_sync_engine
from twin.platform.settings import Settings

# The lozenets import, stopped between its last write and its commit: it prints LOADED and waits to die.
IMPORTER = textwrap.dedent(
    """
    import dataclasses, sys, time
    from twin.core.imports.manifest import load_manifest
    from twin.core.imports.runner import run_import
    from twin.core.registry import loaders
    from twin.platform.db import make_sync_engine
    from twin.platform.settings import Settings

    settings = Settings()
    real = loaders()["lozenets"]

    def load_then_hang(conn, paths):
        counts = real.load(conn, paths)
        print("LOADED", counts.get("district", 0), flush=True)
        time.sleep(600)
        return counts

    run_import(make_sync_engine(settings), settings, load_manifest(settings.manifest),
               dataclasses.replace(real, load=load_then_hang), force=True)
    """
)


def test_an_import_killed_midway_loses_nothing(base_settings: Settings, manifest: Manifest) -> None:
    scratch = scratch_database(base_settings, "twin_test_killed")
    engine = make_sync_engine(scratch)
    try:
        migrate.upgrade(engine)
        first = run_import(engine, scratch, manifest, loaders()["lozenets"])
        assert first.status == "succeeded"
        assert scratch.database_url is not None
        environment = {
            **os.environ,
            "DATABASE_URL": scratch.database_url.get_secret_value(),
            "TWIN_SOURCES_DIR": str(scratch.sources_dir),
            "TWIN_MANIFEST": str(scratch.manifest),
        }
        importer = subprocess.Popen(
            [sys.executable, "-c", IMPORTER],
            env=environment,
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            line = importer.stdout.readline() if importer.stdout else ""
            assert line.startswith("LOADED 1"), (line, importer.stderr.read() if importer.stderr else "")
            with engine.connect() as conn:
                killed_run = conn.execute(
                    text("SELECT max(id) FROM import_run WHERE loader = 'lozenets' AND status = 'running'")
                ).scalar_one()
            assert killed_run is not None
            assert killed_run > first.run_id
        finally:
            importer.send_signal(signal.SIGKILL)
            importer.communicate(timeout=30)  # reaps it and closes its pipes
        assert importer.returncode == -signal.SIGKILL

        with engine.connect() as conn:
            # Nobody has looked yet: the row still says running. The half-written rows never committed.
            assert (
                conn.execute(
                    text("SELECT status FROM import_run WHERE id = :id"), {"id": killed_run}
                ).scalar_one()
                == "running"
            )
            assert conn.execute(text("SELECT count(*) FROM district")).scalar_one() == 1

        with LiveServer(create_app(scratch)) as live, httpx.Client(base_url=live.url) as http:
            run = http.get(f"/imports/{killed_run}").json()
            assert run["status"] == "failed", run
            assert "interrupted" in run["error"]
            items = http.get("/collections/district/items").json()
            assert items["numberReturned"] == 1
            assert items["features"][0]["properties"]["name_bg"] == "Лозенец"

        again = run_import(engine, scratch, manifest, loaders()["lozenets"], force=True)
        assert again.status == "succeeded"
        assert again.row_counts["district"] == 1
        with engine.connect() as conn:
            statuses = conn.execute(
                text("SELECT status FROM import_run WHERE loader = 'lozenets' ORDER BY id")
            ).scalars()
            assert list(statuses) == ["succeeded", "failed", "succeeded"]
    finally:
        engine.dispose()
