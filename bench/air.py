"""The air-quality benchmark, in one run on this machine: ingest, statistics, surfaces, EDR.

``./bench/air.sh [--runs N] [--seconds N]`` (or ``TWIN_SOURCES_DIR=../shared/data .venv/bin/python -m
bench.air``):

1. database ``twin_bench_air`` is (re)created, migrated and loaded with Lozenets and the air sources;
2. **ingest**: the same 20,000 hourly values (20 generated stations × 1,000 hours) written three ways,
   each on a clean slate: through ``POST /air/measurements`` (1,000 a request, a twin process), through
   the file importer (EEA-layout Parquet files read and written by the air loader's code, rollup
   included), and a bare ``COPY`` into the measurements table (the ceiling: no checks, no rollup);
3. **statistics**: a generated store of 200 stations × 5 years hourly (≈ 8.8 M rows, NO2) is written
   server-side and rolled up; then one station-year and eight station-years of compliance (annual mean,
   capture, hours above the hourly limit, days above) through the twin's API (response cache off),
   *cold* (a restarted database: empty shared buffers; the OS cache is not dropped) and *warm*, next
   to PostGIS alone computing the annual mean and capture from the raw hourly rows;
4. **surfaces**: the air_surface computation for one day and one year of PM10 daily means, at 50 m and
   25 m, kriging and IDW, next to gstools' own ordinary kriging of the same grid (the peer);
5. **EDR position**: requests/s at 8 clients (wrk) for a year of daily estimates at random points in
   Lozenets, every request a new point (response cache off), next to pgbench running the query the
   estimate reads (PostGIS alone).

The report is bench/results/air.md. Every server started here is stopped at the end, also on errors.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from bench.run import Processes, clean_env, free_port, loaded_database, run_pgbench, wait_ready
from twin.air import store as air_store
from twin.air.importers import eea
from twin.air.importers.loader import write as loader_write
from twin.air.layers.surface import AIR_SURFACE, SurfaceParameters
from twin.air.rules import rules
from twin.core.bulk import copy_frame
from twin.core.derived.engine import DatabaseInputs
from twin.core.registry import providers
from twin.platform.cluster import Cluster
from twin.platform.db import libpq_url, make_sync_engine
from twin.platform.keys import create_key
from twin.platform.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
POLL_LUA = Path(__file__).resolve().parent / "poll.lua"
DB_NAME = "twin_bench_air"
INGEST_STATIONS, INGEST_HOURS = 20, 1000
STORE_STATIONS, STORE_YEARS = 200, 5
LOZENETS_BOX = (23.300, 42.655, 23.345, 42.690)


def say(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m", file=sys.stderr, flush=True)


def best_median(seconds: list[float]) -> tuple[float, float]:
    return min(seconds), statistics.median(seconds)


def timed(runs: int, work: Callable[[], object], before: Callable[[], object] | None = None) -> list[float]:
    seconds = []
    for _ in range(runs):
        if before is not None:
            before()
        start = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - start)
    return seconds


# -- the twin as a process -----------------------------------------------------------------------------
def start_twin(procs: Processes, url: URL, name: str) -> str:
    port = free_port()
    env = {
        **clean_env(),
        "DATABASE_URL": libpq_url(url),
        "TWIN_LOG_LEVEL": "WARNING",
        "TWIN_RESPONSE_CACHE_MB": "0",
        "TWIN_BODY_MAX_KB": "4096",
    }
    cmd = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
    log = RESULTS / "logs" / f"air-{name}.log"
    proc = procs.start(name, cmd, env, ROOT, log)
    base = f"http://127.0.0.1:{port}"
    wait_ready(name, proc, f"{base}/collections", log)
    return base


# -- 2. ingest -------------------------------------------------------------------------------------------
def ingest_rows() -> pd.DataFrame:
    """20 stations × 1,000 hours of PM10 from 2024-03-01 00:00 UTC, seeded."""
    rng = np.random.default_rng(20261205)
    start = pd.Timestamp("2024-03-01", tz="UTC")
    hours = start + pd.to_timedelta(np.arange(INGEST_HOURS), unit="h")
    frames = []
    for k in range(INGEST_STATIONS):
        frames.append(
            pd.DataFrame(
                {
                    "station_id": f"eea:BG9{k:03d}A",
                    "pollutant": "PM10",
                    "start_time": hours,
                    "end_time": hours + pd.Timedelta(hours=1),
                    "value": np.round(rng.gamma(4.0, 7.0, INGEST_HOURS), 2),
                    "unit": "µg/m³",
                    "aggregation": "hour",
                    "validity": 1,
                    "verification": 1,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def register_ingest_stations(engine: Engine) -> None:
    stations = pd.DataFrame(
        {
            "id": [f"eea:BG9{k:03d}A" for k in range(INGEST_STATIONS)],
            "name": [f"bench station {k}" for k in range(INGEST_STATIONS)],
            "operator": "bench",
            "network": "bench",
            "class": "reference",
            "kind": "station",
            "pollutants": "{}",
            "active_from": None,
            "active_to": None,
            "source": "generated by bench/air.py",
            "licence": "n/a",
            "notes": "",
            "lon": 23.30 + 0.002 * np.arange(INGEST_STATIONS),
            "lat": 42.66,
        }
    )
    with engine.begin() as conn:
        air_store.stations.upsert(conn, stations)


def clean_ingest(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM air_measurement WHERE station_id LIKE 'eea:BG9%'"))
        conn.execute(text("DELETE FROM air_daily WHERE station_id LIKE 'eea:BG9%'"))


def ingest_api(base: str, key: str, rows: pd.DataFrame) -> None:
    records = [
        {
            "sensor": r.station_id,
            "pollutant": r.pollutant,
            "start": r.start_time.isoformat(),
            "end": r.end_time.isoformat(),
            "value": float(r.value),
            "unit": r.unit,
            "validity": 1,
            "verification": 1,
        }
        for r in rows.itertuples()
    ]
    bodies = [
        json.dumps({"measurements": records[i : i + 1000]}).encode() for i in range(0, len(records), 1000)
    ]
    headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
    with httpx.Client(base_url=base, timeout=120) as client:
        for body in bodies:
            response = client.post("/air/measurements", content=body, headers=headers)
            if response.status_code != 201:
                raise RuntimeError(f"batch refused: {response.status_code} {response.text[:300]}")


def write_parquet(rows: pd.DataFrame, folder: Path) -> list[Path]:
    """The rows as EEA Air Quality Download Service Parquet files (one per station, naive UTC+1 times)."""
    paths = []
    for station, group in rows.groupby("station_id"):
        code = str(station).removeprefix("eea:")
        local = group["start_time"].dt.tz_convert("Etc/GMT-1").dt.tz_localize(None)
        frame = pd.DataFrame(
            {
                "Samplingpoint": f"SPO-{code}_00005_100",
                "Pollutant": 5,
                "Start": local,
                "End": local + pd.Timedelta(hours=1),
                "Value": group["value"].to_numpy(),
                "Unit": "ug.m-3",
                "AggType": "hour",
                "Validity": 1,
                "Verification": 1,
                "ResultTime": local,
                "DataCapture": 100.0,
                "FkObservationLog": "bench",
            }
        )
        path = folder / f"SPO-{code}_00005_100.parquet"
        frame.to_parquet(path)
        paths.append(path)
    return paths


def ingest_file(engine: Engine, paths: list[Path]) -> None:
    rows = pd.concat([eea.read_measurements(p) for p in paths], ignore_index=True)
    with engine.begin() as conn:
        loader_write(conn, rows, replace=True, run=None)


def ingest_copy(engine: Engine, rows: pd.DataFrame) -> None:
    columns = (
        "station_id",
        "pollutant",
        "start_time",
        "end_time",
        "value",
        "unit",
        "aggregation",
        "validity",
        "verification",
    )
    with engine.begin() as conn:
        copy_frame(conn, "air_measurement", rows, columns)


# -- 3. statistics ---------------------------------------------------------------------------------------
def generate_store(engine: Engine) -> int:
    """200 stations × 5 years (2020-2024) of hourly NO2, written by the server, then rolled up."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO air_station (id, name, operator, network, class, kind, source, licence, geom)"
                " SELECT 'bench:' || k, 'generated ' || k, 'bench', 'bench', 'reference', 'station',"
                " 'generated by bench/air.py', 'n/a',"
                " ST_SetSRID(ST_MakePoint(23.20 + (k % 20) * 0.01, 42.60 + (k / 20) * 0.01), 4326)"
                " FROM generate_series(1, :n) k ON CONFLICT (id) DO NOTHING"
            ),
            {"n": STORE_STATIONS},
        )
        conn.execute(text("SELECT setseed(0.2026)"))
        conn.execute(
            text(
                "INSERT INTO air_measurement (station_id, pollutant, start_time, end_time, value, unit,"
                " aggregation, validity, verification)"
                " SELECT 'bench:' || k, 'NO2', t, t + interval '1 hour',"
                " round((20 + 15 * random() + 200 * (random() < 0.002)::int)::numeric, 1), 'µg/m³', 'hour',"
                " CASE WHEN random() < 0.03 THEN -1 ELSE 1 END, 1"
                " FROM generate_series(1, :n) k,"
                " generate_series(timestamptz '2020-01-01 00:00+02', timestamptz '2024-12-31 23:00+02',"
                " interval '1 hour') t"
            ),
            {"n": STORE_STATIONS},
        )
        count = int(
            conn.execute(text("SELECT count(*) FROM air_measurement WHERE pollutant = 'NO2'")).scalar_one()
        )
        conn.execute(
            text(
                "CREATE TEMP TABLE air_stage ON COMMIT DROP AS SELECT station_id, pollutant, start_time"
                " FROM air_measurement WHERE station_id LIKE 'bench:%'"
            )
        )
        air_store.measurements.refresh_daily(conn, 0.75, rules().hourly_thresholds())
        air_store.measurements.analyze(conn)
    return count


PLAIN_SQL = """SELECT station_id, extract(year FROM start_time AT TIME ZONE 'Europe/Sofia') AS year,
 avg(value) FILTER (WHERE validity >= 1) AS mean,
 100.0 * count(*) FILTER (WHERE validity >= 1) / 8784 AS capture,
 count(*) FILTER (WHERE validity >= 1 AND value > 200) AS hours_above
FROM air_measurement WHERE station_id = ANY(:ids) AND pollutant = 'NO2'
 AND start_time >= '2024-01-01 00:00+02' AND start_time < '2025-01-01 00:00+02' GROUP BY 1, 2"""


def restart_database() -> None:
    """Stop and start the private cluster: its shared buffers start empty."""
    cluster = Cluster(Settings())
    cluster.down()
    cluster.up()


def statistics_cases(procs: Processes, url: URL, engine: Engine, runs: int, private: bool) -> list[str]:
    ids = [f"bench:{k}" for k in range(1, 9)]
    lines = []
    for label, stations in (("1 station-year", ids[:1]), ("8 station-years", ids)):

        def twin_once(client: httpx.Client, chosen: list[str] = stations) -> None:
            for station in chosen:
                response = client.get(
                    f"/air/stations/{station}/compliance", params={"pollutant": "NO2", "year": "2024"}
                )
                response.raise_for_status()
                assert response.json()["years"][0]["valid"] > 8000

        def plain_once(chosen: list[str] = stations) -> None:
            with engine.connect() as conn:
                found = conn.execute(text(PLAIN_SQL), {"ids": chosen}).all()
                assert len(found) == len(chosen)

        cold_twin, cold_plain = [], []
        if private:
            for _ in range(runs):
                engine.dispose()
                restart_database()
                base = start_twin(procs, url, "stats-cold")
                with httpx.Client(base_url=base, timeout=120) as client:
                    client.get("/healthz").raise_for_status()  # the connection, not the answer
                    start = time.perf_counter()
                    twin_once(client)
                    cold_twin.append(time.perf_counter() - start)
                procs.stop_all()
                engine.dispose()
                restart_database()
                start = time.perf_counter()
                plain_once()
                cold_plain.append(time.perf_counter() - start)
        warm_base = start_twin(procs, url, "stats-warm")
        with httpx.Client(base_url=warm_base, timeout=120) as warm_client:
            twin_once(warm_client)
            warm_twin = timed(runs, lambda: twin_once(warm_client))
        plain_once()
        warm_plain = timed(runs, plain_once)
        procs.stop_all()
        for state, twin_s, plain_s in (("cold", cold_twin, cold_plain), ("warm", warm_twin, warm_plain)):
            if not twin_s:
                lines.append(f"| {label} | {state} | not measured (DATABASE_URL: no restart here) | | |")
                continue
            t_best, t_med = best_median(twin_s)
            p_best, p_med = best_median(plain_s)
            lines.append(
                f"| {label} | {state} | {t_med * 1000:,.1f} (best {t_best * 1000:,.1f}) |"
                f" {p_med * 1000:,.1f} (best {p_best * 1000:,.1f}) | {p_med / t_med:,.1f}× |"
            )
    return lines


# -- 4. surfaces -----------------------------------------------------------------------------------------
def kriging_peer(engine: Engine, period: str, cell: int, runs: int) -> str:
    """The kriging of the grid alone, next to gstools' ordinary kriging of the same grid, stations and
    variogram."""
    import gstools as gs

    from twin.air import surfaces
    from twin.air.estimation import prepare
    from twin.air.inputs import StoredAir
    from twin.air.layers.common import district_grid
    from twin.air.periods import parse_period

    with engine.connect() as conn:
        grid = district_grid(DatabaseInputs(conn, providers()).frame("district"), cell, 500)
        prepared = prepare(StoredAir(conn), "PM10", parse_period(period))
    assert not isinstance(prepared, str)
    variogram = prepared.variogram
    assert not isinstance(variogram, str)
    model = gs.Exponential(dim=2, var=variogram.psill, len_scale=variogram.length_m, nugget=variogram.nugget)
    stations = prepared.stations
    xy = grid[["x", "y"]].to_numpy()

    def theirs() -> None:
        krige = gs.krige.Ordinary(
            model,
            cond_pos=(stations.xy[:, 0], stations.xy[:, 1]),
            cond_val=stations.values,
            exact=False,
            cond_err=variogram.nugget + stations.error_var,
        )
        krige((xy[:, 0], xy[:, 1]), return_var=True)

    ours = statistics.median(timed(runs, lambda: surfaces.estimate(stations, xy, "kriging", variogram)))
    peer = statistics.median(timed(runs, theirs))
    return f"ours {ours * 1000:,.1f} ms; gstools {peer * 1000:,.1f} ms (gstools / ours {peer / ours:,.1f}×)"


def surface_cases(engine: Engine, runs: int) -> list[str]:
    lines = []
    for period in ("2019-01-15", "2019"):
        for cell in (50, 25):
            for method in ("kriging", "idw"):
                params = SurfaceParameters(period=period, cell_m=cell, method=method)

                def compute(p: SurfaceParameters = params) -> int:
                    with engine.connect() as conn:
                        return len(AIR_SURFACE.compute(DatabaseInputs(conn, providers()), p))

                cells = compute()
                seconds = timed(runs, compute)
                peer = kriging_peer(engine, period, cell, runs) if method == "kriging" else ""
                best, median = best_median(seconds)
                timing = f"{median * 1000:,.0f} (best {best * 1000:,.0f})"
                lines.append(f"| {period} | {cell} m | {method} | {cells:,} | {timing} | {peer} |")
    return lines


# -- 5. EDR position -------------------------------------------------------------------------------------
def edr_case(procs: Processes, url: URL, seconds: int) -> list[str]:
    rng = np.random.default_rng(7)
    lon = rng.uniform(LOZENETS_BOX[0], LOZENETS_BOX[2], 5000)
    lat = rng.uniform(LOZENETS_BOX[1], LOZENETS_BOX[3], 5000)
    base = start_twin(procs, url, "edr")
    paths = RESULTS / "logs" / "edr-paths.txt"
    paths.write_text(
        "".join(
            f"/edr/collections/air_quality/position?coords=POINT({x:.6f}%20{y:.6f})&datetime=2019-01-01/2019-12-31\t\n"
            for x, y in zip(lon, lat, strict=True)
        )
    )
    first = "/edr/collections/air_quality/position?coords=POINT(23.32 42.67)&datetime=2019-01-01/2019-12-31"
    httpx.get(f"{base}{first}", timeout=60).raise_for_status()
    cmd = [
        "wrk",
        "-t2",
        "-c8",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(POLL_LUA),
        base,
        "--",
        str(paths),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    procs.stop_all()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    script = RESULTS / "logs" / "edr-read.sql"
    script.write_text(
        "SELECT station_id, day, value_sum / valid_count FROM air_daily WHERE pollutant = 'PM10' AND captured"
        " AND day >= '2018-12-02' AND day < '2020-01-01' ORDER BY day, station_id;\n"
    )
    pg_out, _ = run_pgbench(url, script, 8, seconds, None)
    tps = float(re.search(r"tps = ([\d.]+)", pg_out).group(1))  # type: ignore[union-attr]
    return [
        f"| twin: position, a year of daily estimates, a new point a request | {rps:,.1f} | {p50} | {p99} |"
        f" {'none' if non2xx is None else non2xx.group(1)} |",
        f"| PostGIS alone: the daily means the estimate reads (pgbench, 8 clients) | {tps:,.1f} | | | |",
        f"| ratio twin / PostGIS alone | {rps / tps:,.2f} | | | |",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per timed case (at least 3)")
    parser.add_argument("--seconds", type=int, default=20, help="seconds of the EDR load")
    args = parser.parse_args(argv)
    runs = max(3, args.runs)
    if Settings().sources_dir is None:
        raise SystemExit("set TWIN_SOURCES_DIR to the source mirror (e.g. ../shared/data)")
    private = Settings().database_url is None
    RESULTS.mkdir(parents=True, exist_ok=True)
    procs = Processes(RESULTS / "logs" / "air-servers.txt")
    procs.kill_leftovers()
    say(f"database {DB_NAME}: create, migrate, load Lozenets and the air sources")
    url, settings = loaded_database(DB_NAME, ("lozenets", "air"))
    engine = make_sync_engine(settings)
    report = [
        f"# Air quality benchmark ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
        f"{runs} runs a case)",
        "",
    ]
    try:
        say("ingest: batch API, file importer, bare COPY")
        rows = ingest_rows()
        register_ingest_stations(engine)
        with engine.begin() as conn:
            key, _ = create_key(conn, "bench", "sensor-ingest")
        with tempfile.TemporaryDirectory() as folder:
            parquet = write_parquet(rows, Path(folder))
            base = start_twin(procs, url, "ingest")
            api = timed(runs, lambda: ingest_api(base, key, rows), lambda: clean_ingest(engine))
            procs.stop_all()
            files = timed(runs, lambda: ingest_file(engine, parquet), lambda: clean_ingest(engine))
            copies = timed(runs, lambda: ingest_copy(engine, rows), lambda: clean_ingest(engine))
        clean_ingest(engine)
        n = len(rows)
        report += [
            f"## Ingest: {n:,} hourly values ({INGEST_STATIONS} stations × {INGEST_HOURS} hours)",
            "",
            "| path | rows/s (median) | seconds (median) | share of the COPY ceiling |",
            "| --- | --- | --- | --- |",
        ]
        ceiling = n / statistics.median(copies)
        for label, seconds in (
            ("POST /air/measurements, 1,000 a request (checks, conflicts, rollup, versions)", api),
            ("file importer: EEA Parquet read + staged write + rollup", files),
            ("bare COPY into air_measurement (no checks, no rollup)", copies),
        ):
            rate = n / statistics.median(seconds)
            report.append(
                f"| {label} | {rate:,.0f} | {statistics.median(seconds):.2f} | {rate / ceiling:.0%} |"
            )

        say(f"statistics: generating {STORE_STATIONS} stations × {STORE_YEARS} years hourly")
        start = time.perf_counter()
        generated = generate_store(engine)
        took = time.perf_counter() - start
        report += [
            "",
            f"## Statistics on a generated store: {generated:,} hourly NO2 values, {STORE_STATIONS} "
            f"stations × {STORE_YEARS} years (written by the server and rolled up in {took:,.0f} s)",
            "",
            "Twin: `GET /air/stations/{id}/compliance?pollutant=NO2&year=2024` per station (response cache "
            "off; the daily rollup and the hourly partition of the year). PostGIS alone: mean, capture and "
            "hours above 200 µg/m³ from the raw hourly rows (one query). Cold: the database restarted before "
            "each run (shared buffers empty; the OS page cache is not dropped) and a fresh twin process.",
            "",
            "| case | state | twin ms (median) | PostGIS alone ms (median) | PostGIS / twin |",
            "| --- | --- | --- | --- | --- |",
        ]
        report += statistics_cases(procs, url, engine, runs, private)

        say("surfaces: one day and one year, 50 m and 25 m, kriging and IDW")
        report += [
            "",
            "## Surfaces (PM10: the real stations and the corrected NDK cluster; the layer's compute on "
            "database inputs)",
            "",
            "| period | cell | method | cells | ms (median) | the kriging alone, next to gstools' |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        report += surface_cases(engine, runs)

        say("EDR position at 8 clients")
        report += [
            "",
            f"## EDR position ({args.seconds} s of wrk at 8 clients, response cache off)",
            "",
            "| case | requests/s | p50 | p99 | non-2xx |",
            "| --- | --- | --- | --- | --- |",
        ]
        report += edr_case(procs, url, args.seconds)
    finally:
        procs.stop_all()
        engine.dispose()
    text_ = "\n".join(report) + "\n"
    print(text_)
    (RESULTS / "air.md").write_text(text_)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
