"""Timing the PTAL layer at 100 m and 50 m cells, in one run on this machine.

``.venv/bin/twin db up && TWIN_SOURCES_DIR=../shared/data .venv/bin/python -m bench.ptal [--runs N]``

1. database ``twin_bench_ptal`` is (re)created in the private cluster (or ``DATABASE_URL``'s server, as
   ``bench.run`` finds it), migrated, and loaded with Lozenets and the Sofia GTFS feed from the mirror;
2. the scenario's compute function runs on database inputs (district, stops, the service day's
   schedule and routes read afresh each time), and its core, :func:`twin.transport.layers.ptal.ptal_index`,
   alone on the same inputs;
3. the HTTP first request: for each run the stored PTAL results are deleted and a new app process is
   started (so neither the stored result, nor the process's binding of it, nor its response cache can
   answer), then ``/collections/ptal/items?…&limit=10000`` (the whole layer, one page) is timed.

Every case runs ``--runs`` times (at least 3) with the same parameters; the best and median are printed
as a markdown table. Every server started here is stopped at the end, also on errors.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pandas as pd
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from bench.run import clean_env, free_port, loaded_database
from twin.core.derived.engine import DatabaseInputs
from twin.core.grids import centre_grid
from twin.core.registry import providers
from twin.platform.db import libpq_url, make_sync_engine
from twin.platform.settings import Settings
from twin.questions import TRANSIT
from twin.transport.layers.ptal import PTAL, PtalParameters, ptal_index, route_frequencies
from twin.transport.metrics import parse_window

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "twin_bench_ptal"
DAY = dt.date(2026, 12, 1)  # a weekday inside the feed's calendar: every run counts the same service
CELLS = (100, 50)


def say(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m", file=sys.stderr, flush=True)


def prepare() -> tuple[URL, Settings]:
    if Settings().sources_dir is None:
        raise SystemExit("set TWIN_SOURCES_DIR to the source mirror (e.g. ../shared/data)")
    return loaded_database(DB_NAME, ("lozenets", "gtfs"))


def timed(runs: int, work: Callable[[], object]) -> list[float]:
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - start)
    return seconds


def compute(engine: Engine, params: PtalParameters) -> int:
    with engine.connect() as conn:
        return len(PTAL.compute(DatabaseInputs(conn, providers()), params))


def core_only(engine: Engine, params: PtalParameters) -> Callable[[], object]:
    """ptal_index alone, on inputs read once."""
    with engine.connect() as conn:
        inputs = DatabaseInputs(conn, providers())
        window = parse_window(params.window)
        cells = centre_grid(inputs.frame("district"), params.cell_m)
        stops = inputs.frame("stops")
        frequencies = route_frequencies(
            inputs.get(TRANSIT).schedule(params.date, window), inputs.get(TRANSIT).routes(), window
        )
    located = pd.DataFrame({"stop_id": stops["stop_id"], "x": stops.geometry.x, "y": stops.geometry.y})
    saps = frequencies.merge(located, on="stop_id")
    points = cells[["x", "y"]].to_numpy()
    return lambda: ptal_index(points, saps, detour_factor=params.detour_factor)


def first_requests(engine: Engine, url: URL, params: PtalParameters, runs: int) -> tuple[int, list[float]]:
    """Features returned and the seconds of each first request."""
    query: dict[str, str | int] = {"date": params.date.isoformat(), "cell_m": params.cell_m, "limit": 10000}
    env = {**clean_env(), "DATABASE_URL": libpq_url(url), "TWIN_LOG_LEVEL": "WARNING"}
    env["TWIN_ITEMS_MAX_LIMIT"] = "10000"
    returned, seconds = set(), []
    for _ in range(runs):
        with engine.begin() as conn:  # no stored result: the request computes it
            conn.execute(text("DELETE FROM derived_run WHERE layer_id = 'ptal'"))
        port = free_port()
        cmd = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--port", str(port)]
        cmd += ["--host", "127.0.0.1", "--log-level", "warning", "--no-access-log"]
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_listed(proc, base)
            start = time.perf_counter()
            response = httpx.get(f"{base}/collections/ptal/items", params=query, timeout=120)
            seconds.append(time.perf_counter() - start)
            response.raise_for_status()
            returned.add(int(response.json()["numberReturned"]))
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    [count] = returned
    return count, seconds


def wait_listed(proc: subprocess.Popen[bytes], base: str) -> None:
    """Ready when the catalog lists the layer (not timed)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            listed = httpx.get(f"{base}/collections", timeout=5).json()["collections"]
            if any(c["id"] == "ptal" for c in listed):
                return
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the app did not start")
        time.sleep(0.2)


def row(case: str, cell_m: int, cells: int, seconds: list[float]) -> str:
    best, median = min(seconds), statistics.median(seconds)
    return f"| {case} | {cell_m} m | {cells:,} | {best * 1000:,.0f} | {median * 1000:,.0f} | {len(seconds)} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per case (at least 3)")
    args = parser.parse_args(argv)
    runs = max(3, args.runs)
    say(f"database {DB_NAME}: create, migrate, load Lozenets and the GTFS feed")
    url, settings = prepare()
    engine = make_sync_engine(settings)
    lines = [
        f"PTAL layer, service date {DAY}, window 08:15-09:15, {runs} runs per case, "
        f"{os.cpu_count()} CPUs, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        "| case | cell | cells | best ms | median ms | runs |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    try:
        for cell_m in CELLS:
            params = PtalParameters(date=DAY, cell_m=cell_m)
            say(f"{cell_m} m: compute on database inputs")
            cells = compute(engine, params)
            took = timed(runs, functools.partial(compute, engine, params))
            lines.append(row("compute (database inputs + index)", cell_m, cells, took))
            say(f"{cell_m} m: ptal_index alone")
            lines.append(row("ptal_index alone", cell_m, cells, timed(runs, core_only(engine, params))))
            say(f"{cell_m} m: HTTP first request, a fresh app and no stored result each time")
            served, took = first_requests(engine, url, params, runs)
            assert served == cells, (served, cells)
            lines.append(row("HTTP first request (whole layer)", cell_m, cells, took))
    finally:
        engine.dispose()
    report = "\n".join(lines) + "\n"
    print(report)
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "ptal.md").write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
