"""How long the Sofia GTFS feed takes to import, next to gtfs_kit reading the same zip (issue 4's target:
the whole import within twice gtfs_kit's ``read_feed``).

``.venv/bin/twin db up && .venv/bin/python -m bench.gtfs_import [--runs N]`` (N ≥ 3, default 5). In one
run, on this machine, on the zip ``twin load gtfs`` uses (the mirror, or the download cache):

1. database ``twin_bench_gtfs`` is (re)created in the cluster the settings name (the private one, or
   ``DATABASE_URL``'s server, as bench/run.py does) and migrated;
2. N rounds, each timing in turn: ``gtfs_kit.read_feed(zip, dist_units="km")`` (reading into
   DataFrames, no checks), ``twin.transport.gtfs.read_feed(zip)`` (reading and validating) and the
   whole import exactly as ``twin load gtfs --force`` runs it (``run_import``: verify the source,
   validate, replace the feed in one transaction, layer versions, audit record, commit). Interleaving
   the three spreads the noise of a shared machine over all of them;
3. the database is dropped, and a markdown table of best and median times, with the import's ratio to
   gtfs_kit, is printed (and written to ``bench/results/gtfs_import.md``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql
from pydantic import SecretStr

from twin.core.imports.fetch import resolve_all
from twin.core.imports.manifest import load_manifest
from twin.core.imports.runner import run_import
from twin.core.registry import loaders
from twin.platform.cluster import create_database
from twin.platform.db import database_url, libpq_url, make_sync_engine
from twin.platform.migrate import upgrade
from twin.platform.settings import Settings
from twin.transport.gtfs import read_feed

DB_NAME = "twin_bench_gtfs"
RESULTS = Path(__file__).resolve().parent / "results"


def say(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m", file=sys.stderr, flush=True)


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds of the three timings (at least 3)")
    args = parser.parse_args(argv)
    if args.runs < 3:
        parser.error("--runs must be at least 3")
    try:
        import gtfs_kit
    except ImportError:
        parser.error("gtfs_kit is missing: install the dev extras (pip install -e '.[dev]')")

    base = Settings()
    manifest = load_manifest(base.manifest)
    loader = loaders()["gtfs"]
    (feed_zip,) = resolve_all(manifest.for_loader(loader.name), base).values()
    say(f"database {DB_NAME}: create and migrate")
    admin = libpq_url(database_url(base, "postgres"))
    create_database(admin, DB_NAME, drop_first=True)
    settings = base.model_copy(update={"database_url": SecretStr(libpq_url(database_url(base, DB_NAME)))})
    engine = make_sync_engine(settings)
    times: dict[str, list[float]] = {"gtfs_kit": [], "validation": [], "import": []}
    try:
        upgrade(engine)
        say("one import first, so every timed one replaces a feed (as a new feed does)")
        run_import(engine, settings, manifest, loader, force=True)
        for round_ in range(1, args.runs + 1):
            times["gtfs_kit"].append(timed(lambda: gtfs_kit.read_feed(feed_zip, dist_units="km")))
            times["validation"].append(timed(lambda: read_feed(feed_zip)))
            times["import"].append(timed(lambda: run_import(engine, settings, manifest, loader, force=True)))
            say(f"round {round_}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in times.items()))
    finally:
        engine.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB_NAME)))

    report = render(times, feed_zip, args.runs, importlib.metadata.version("gtfs_kit"))
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "gtfs_import.md").write_text(report)
    return 0


def render(times: dict[str, list[float]], feed_zip: Path, runs: int, kit_version: str) -> str:
    kit_best, kit_median = min(times["gtfs_kit"]), statistics.median(times["gtfs_kit"])
    names = {
        "gtfs_kit": f"`gtfs_kit.read_feed` {kit_version} (read only)",
        "validation": "`twin.transport.gtfs.read_feed` (read and validate)",
        "import": "`twin load gtfs --force` (run_import: validate, replace in one transaction, commit)",
    }
    lines = [
        f"GTFS import, {feed_zip.name} ({feed_zip.stat().st_size / 1e6:.1f} MB), {runs} rounds,"
        f" {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()},"
        f" Python {platform.python_version()}",
        "",
        "| step | best (s) | median (s) | ratio to gtfs_kit (best / median) |",
        "| --- | --- | --- | --- |",
    ]
    for key, name in names.items():
        best, median = min(times[key]), statistics.median(times[key])
        lines.append(
            f"| {name} | {best:.3f} | {median:.3f} | {best / kit_best:.2f}× / {median / kit_median:.2f}× |"
        )
    ratio = min(times["import"]) / kit_best
    verdict = "met" if ratio <= 2 else "not met"
    lines += ["", f"Target (import ≤ 2× gtfs_kit, best of {runs}): {verdict} ({ratio:.2f}×).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
