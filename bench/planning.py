"""The urban-planning benchmark, in one run on this machine.

``./bench/planning.sh [--runs N]``
(or ``TWIN_SOURCES_DIR=../shared/data .venv/bin/python -m bench.planning``):

1. database ``twin_bench_planning`` is (re)created, migrated and loaded with Lozenets, the planning
   sources (streets, schools and kindergartens, rules, buildings: the real window and the synthetic
   stock), the GTFS feed and the air sources (a proposal's report asks both pilots);
2. **indicators** over the whole stock per zone, neighbourhood and H3 hexagon (resolution 9): the
   derived layer's computation on database inputs, next to PostGIS alone computing built-up area,
   gross floor area and density per neighbourhood in one SQL statement;
3. **a proposal's report** with 1 and with 50 new buildings (checked, applied, reported: zones and
   rules, floor area, walking access, transit and air at the site, green), in a transaction rolled back;
4. **15-minute kindergarten access** for the district (the walk_access layer's computation), next to
   PostGIS alone finding each home's nearest kindergarten (a KNN query);
5. **city scale**: the same access for a generated stock of 150,000 buildings and 600 kindergartens over
   a 20 × 20 km square (seeded), straight line × detour, next to the same computation done the naive
   way (a dense homes × places matrix), both in one process;
6. **the transport layers walking the streets**: PTAL (100 m), the stop catchments and the service
   coverage with the street graph (the planning pilot's answer to ``walking``) next to the same layers
   with circles (``street_graph=false``), and what the graph changes.

The report is bench/results/planning.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
from pyproj import Transformer
from sqlalchemy import Engine, text

from bench.run import loaded_database
from twin.core.derived.engine import DatabaseInputs
from twin.core.registry import providers
from twin.planning import scenario_service, walking
from twin.planning.layers.access import WALK_ACCESS, AccessParameters
from twin.planning.layers.indicators import PLANNING_INDICATORS, IndicatorParameters
from twin.platform.db import make_sync_engine
from twin.platform.settings import Settings
from twin.transport.layers.coverage import SERVICE_COVERAGE, CoverageParameters
from twin.transport.layers.ptal import PTAL, PtalParameters
from twin.transport.layers.stops import STOP_CATCHMENTS, CatchmentParameters

RESULTS = Path(__file__).resolve().parent / "results"
DB_NAME = "twin_bench_planning"
DAY = dt.date(2026, 12, 1)  # a weekday inside the feed's calendar
TO_WGS84 = Transformer.from_crs(32634, 4326, always_xy=True)


def say(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m", file=sys.stderr, flush=True)


def timed(runs: int, work: Callable[[], object]) -> list[float]:
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - start)
    return seconds


def ms(seconds: list[float]) -> str:
    return f"{statistics.median(seconds) * 1000:,.0f} (best {min(seconds) * 1000:,.0f})"


PLAIN_INDICATORS = """
WITH d AS (SELECT ST_Transform(geom, 32634) AS g FROM district),
u AS (SELECT n.id, ST_Intersection(ST_Transform(n.geom, 32634), d.g) AS g FROM neighbourhood n, d),
p AS (SELECT u.id, ST_Area(ST_Intersection(ST_Transform(b.geom, 32634), u.g)) AS a, b.floors
      FROM u JOIN building b ON ST_Intersects(ST_Transform(b.geom, 32634), u.g))
SELECT u.id, sum(p.a) AS footprint, sum(p.a * p.floors) AS gfa, sum(p.a) / ST_Area(u.g) AS density
FROM u LEFT JOIN p ON p.id = u.id GROUP BY u.id, u.g
"""

PLAIN_NEAREST = """
SELECT b.id, k.d FROM building b CROSS JOIN LATERAL (
  SELECT ST_Distance(ST_Transform(ST_PointOnSurface(b.geom), 32634), ST_Transform(e.geom, 32634)) AS d
  FROM education_place e WHERE e.kind = 'kindergarten'
  ORDER BY ST_Transform(e.geom, 32634) <-> ST_Transform(ST_PointOnSurface(b.geom), 32634) LIMIT 1) k
WHERE b.use <> 'non-residential'
"""


def indicators_cases(engine: Engine, runs: int) -> list[str]:
    lines = []
    for unit in ("zone", "neighbourhood", "h3"):
        params = IndicatorParameters(unit=unit, h3_resolution=9)

        def compute(p: IndicatorParameters = params) -> int:
            with engine.connect() as conn:
                return len(PLANNING_INDICATORS.compute(DatabaseInputs(conn, providers()), p))

        units = compute()
        lines.append(f"| indicators per {unit} ({units} units) | {ms(timed(runs, compute))} | |")

    def plain() -> int:
        with engine.connect() as conn:
            return len(conn.execute(text(PLAIN_INDICATORS)).all())

    plain()
    lines.append(
        f"| PostGIS alone: area, floor area, density per neighbourhood (one SQL) | {ms(timed(runs, plain))} |"
        " |"
    )
    return lines


def proposal(n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """n new 20 × 20 m blocks on a grid in жк. Лозенец's south (kept apart, all inside the district)."""
    changes = []
    for k in range(n):
        x, y = 689900 + 45 * (k % 10), 4726700 + 45 * (k // 10)
        corners = [(x, y), (x + 20, y), (x + 20, y + 20), (x, y + 20), (x, y)]
        changes.append(
            {
                "type": "add",
                "footprint": {
                    "type": "Polygon",
                    "coordinates": [[list(TO_WGS84.transform(a, b)) for a, b in corners]],
                },
                "floors": int(rng.integers(4, 16)),
                "use": "residential",
            }
        )
    return changes


def report_cases(engine: Engine, runs: int) -> list[str]:
    rng = np.random.default_rng(10)
    lines = []
    for n in (1, 50):
        changes = proposal(n, rng)

        def once(c: list[dict[str, Any]] = changes) -> dict[str, Any]:
            with engine.connect() as conn, conn.begin() as tx:
                _, found, _ = scenario_service.compute(conn, c, dt.date(2026, 12, 1))
                tx.rollback()
                return found

        found = once()
        assert found["transit"]["available"], found["transit"]
        assert found["air"]["available"], found["air"]
        lines.append(
            f"| a proposal's report, {n} new building{'s' if n > 1 else ''} | {ms(timed(runs, once))} | |"
        )
    return lines


def access_cases(engine: Engine, runs: int) -> list[str]:
    params = AccessParameters()

    def compute() -> int:
        with engine.connect() as conn:
            return len(WALK_ACCESS.compute(DatabaseInputs(conn, providers()), params))

    compute()
    ours = timed(runs, compute)

    def plain() -> int:
        with engine.connect() as conn:
            return len(conn.execute(text(PLAIN_NEAREST)).all())

    homes = plain()
    theirs = timed(runs, plain)
    return [
        f"| 15-minute kindergarten and school access, the district (walk_access) | {ms(ours)} | |",
        f"| PostGIS alone: each of {homes:,} homes' nearest kindergarten (KNN) | {ms(theirs)} | |",
    ]


def street_graph_cases(engine: Engine, runs: int) -> list[str]:
    """The transport layers walking the planning pilot's streets, next to the same layers with circles
    (street_graph=false), and what the graph changes."""
    lines = []
    frames: dict[tuple[str, bool], gpd.GeoDataFrame] = {}
    for layer, make in (
        (PTAL, lambda graph: PtalParameters(date=DAY, street_graph=graph)),
        (STOP_CATCHMENTS, lambda graph: CatchmentParameters(street_graph=graph)),
        (SERVICE_COVERAGE, lambda graph: CoverageParameters(date=DAY, street_graph=graph)),
    ):
        times = {}
        for graph in (True, False):
            params = make(graph)

            def compute(p: Any = params, lay: Any = layer, g: bool = graph) -> int:
                with engine.connect() as conn:
                    frames[(lay.id, g)] = lay.compute(DatabaseInputs(conn, providers()), p)
                return len(frames[(lay.id, g)])

            compute()
            times[graph] = timed(runs, compute)
        ratio = statistics.median(times[True]) / statistics.median(times[False])
        lines.append(f"| {layer.id}, walking the street graph | {ms(times[True])} | {ratio:,.2f}× |")
        lines.append(f"| {layer.id}, circles (street_graph=false) | {ms(times[False])} | 1× |")
    ptal, straight = frames[("ptal", True)], frames[("ptal", False)]
    changed = int((ptal["ai"].to_numpy() != straight["ai"].to_numpy()).sum())
    on_graph = int((ptal["walk"] == "street graph").sum())
    catchments = frames[("stop_catchments", True)]
    drawn = catchments[catchments["walk"] == "street graph"]
    circle = np.pi * float(catchments["radius_m"].iloc[0]) ** 2
    coverage, circles = frames[("service_coverage", True)], frames[("service_coverage", False)]
    FIGURES.extend(
        [
            f"- PTAL at 100 m on {DAY}: {on_graph} of {len(ptal)} cells walk the street graph to their "
            f"nearest stop; {changed} cells change their index (median AI "
            f"{ptal['ai'].median():.2f} with the graph, {straight['ai'].median():.2f} without).",
            f"- Stop catchments (400 m): {len(drawn)} of {len(catchments)} stops drawn along the streets, "
            f"their area {drawn.geometry.area.median() / circle:.2f}× the circle's (median).",
            f"- Service coverage (≥ 6 an hour): share {coverage['share'].iloc[0]:.3f} with the graph, "
            f"{circles['share'].iloc[0]:.3f} with circles; residents covered "
            f"{coverage['residents_covered'].iloc[0]:,.0f} of {coverage['residents_total'].iloc[0]:,.0f}.",
        ]
    )
    return lines


FIGURES: list[str] = []


def city_case(runs: int) -> list[str]:
    rng = np.random.default_rng(150_000)
    homes_xy = rng.uniform(0, 20_000, (150_000, 2))
    residents = rng.uniform(1, 60, 150_000)
    places_xy = rng.uniform(0, 20_000, (600, 2))
    capacity = rng.uniform(40, 250, 600)
    graph = walking.graph_of(gpd.GeoDataFrame(geometry=[], crs=32634))
    reach_m = 15 * walking.WALK_M_PER_MIN

    def sparse_way() -> np.ndarray[Any, Any]:
        found = walking.reach(graph, homes_xy, places_xy, reach_m)
        return walking.two_step_sparse(found.within, residents, capacity)

    def dense_way() -> np.ndarray[Any, Any]:
        distance, _ = walking.distances(graph, homes_xy, places_xy)
        return walking.two_step(distance, residents, capacity, reach_m)

    assert np.allclose(sparse_way(), dense_way())
    ours, theirs = timed(runs, sparse_way), timed(runs, dense_way)
    ratio = statistics.median(theirs) / statistics.median(ours)
    return [
        f"| city scale: 150,000 homes, 600 kindergartens, 2SFCA within 15 min (sparse) | {ms(ours)} |"
        f" {ratio:,.1f}× |",
        f"| the same, a dense homes × places matrix (the naive way) | {ms(theirs)} | 1× |",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per case (at least 3)")
    args = parser.parse_args(argv)
    runs = max(3, args.runs)
    if Settings().sources_dir is None:
        raise SystemExit("set TWIN_SOURCES_DIR to the source mirror (e.g. ../shared/data)")
    say(f"database {DB_NAME}: Lozenets, the planning sources, the feed, the air sources")
    _, settings = loaded_database(
        DB_NAME, ("lozenets", "streets", "education", "zoning", "buildings", "gtfs", "air")
    )
    engine = make_sync_engine(settings)
    with engine.connect() as conn:
        stock = conn.execute(text("SELECT count(*), count(*) FILTER (WHERE synthetic) FROM building")).one()
    lines = [
        f"# Urban planning benchmark ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs,"
        f" {runs} runs a case)",
        "",
        f"Stock: {stock[0]:,} buildings ({stock[1]:,} synthetic). Times in ms, median (best).",
        "",
        "| case | ms | ratio |",
        "| --- | --- | --- |",
    ]
    try:
        say("indicators per zone, neighbourhood, hexagon")
        lines += indicators_cases(engine, runs)
        say("a proposal's report with 1 and 50 new buildings")
        lines += report_cases(engine, runs)
        say("15-minute kindergarten access for the district")
        lines += access_cases(engine, runs)
        say("city scale: 150,000 homes")
        lines += city_case(runs)
        say("the transport layers walking the streets")
        lines += street_graph_cases(engine, runs)
    finally:
        engine.dispose()
    report = "\n".join([*lines, "", *FIGURES]) + "\n"
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "planning.md").write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
