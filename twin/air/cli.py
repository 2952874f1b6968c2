"""`twin air …`: poll sensor.community's live API, import its archive files."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console

from twin.air.settings import AirSettings

err = Console(stderr=True)


def commands() -> typer.Typer:
    group = typer.Typer(no_args_is_help=True, help="Air quality: the live citizen-sensor API, archive files.")
    group.command("poll")(poll)
    group.command("archive")(archive)
    return group


def poll(
    once: Annotated[
        bool, typer.Option("--once", help="Poll once, write the hours that ended, stop.")
    ] = False,
    url: Annotated[
        str | None, typer.Option("--url", help="The live API (default TWIN_AIR_LIVE_URL).")
    ] = None,
    every: Annotated[
        int | None,
        typer.Option("--every", min=60, help="Seconds between polls (default TWIN_AIR_POLL_SECONDS)."),
    ] = None,
) -> None:
    """Poll the live API on an interval and store hourly means of each citizen sensor.

    Off by default: nothing polls unless this command runs. Stop with Ctrl-C; the hour in progress is
    not written."""
    from twin.air.live import LivePoller
    from twin.platform.db import make_sync_engine
    from twin.platform.settings import Settings

    settings = AirSettings()
    target = url or str(settings.live_url)
    engine = make_sync_engine(Settings())
    with httpx.Client(timeout=30, headers={"User-Agent": "lozenets-twin (air pilot)"}) as client:

        def fetch() -> object:
            response = client.get(target)
            response.raise_for_status()
            return response.json()

        poller = LivePoller(engine, fetch)
        try:
            while True:
                try:
                    result = poller.poll()
                except (httpx.HTTPError, ValueError) as exc:
                    err.print(f"poll failed: {exc}; trying again at the next interval")
                else:
                    note = f"; refused: {result.refused}" if result.refused else ""
                    err.print(
                        f"{result.readings} readings, {result.hours_written} hours written, "
                        f"{result.inserted} new values{note}"
                    )
                if once:
                    break
                time.sleep(every or settings.poll_seconds)
        finally:
            engine.dispose()


def archive(
    files: Annotated[
        list[Path], typer.Argument(help="sensor.community archive CSV files (one sensor-day each).")
    ],
) -> None:
    """Import archive CSV files as hourly means.

    Each file all or nothing; a file already imported changes nothing."""
    from twin.air import batches
    from twin.air.importers import sensor_community
    from twin.core.errors import TwinError
    from twin.platform.db import make_sync_engine
    from twin.platform.settings import Settings

    engine = make_sync_engine(Settings())
    try:
        for path in files:
            if not path.is_file():
                raise TwinError(f"{path} is not a file")
            sensors, rows = sensor_community.read_archive(path.read_bytes(), path.name)
            result = batches.write_citizen_readings(engine, sensors, rows, f"archive:{path.name}")
            err.print(f"{path.name}: {result.rows} hourly values, {result.inserted} new")
    finally:
        engine.dispose()
