"""The public-transport benchmark (issue 4): polling stop metrics, side by side with PostGIS alone.

`./bench/transport.sh [--seconds N] [--clients N]` runs it (that script prepares the venv, the cluster,
wrk and pgbench). In one run, on this machine:

1. database ``twin_bench_transport`` is (re)created in the private cluster, migrated, and loaded with
   Lozenets and the Sofia GTFS feed through the twin's own importers (from TWIN_SOURCES_DIR or the
   public URLs);
2. the twin is served by uvicorn (one worker) twice: with its response cache (the default) and without;
3. polling: wrk with N concurrent connections (default 50) for S seconds (default 20) asks for the
   metrics of a random Lozenets stop (`/transport/stops/{id}/metrics?date=…&window=07:00-09:00`),
   without and with If-None-Match (the stop's current ETag: every answer is then a 304);
4. PostGIS alone: pgbench runs, with the same number of clients, one SQL statement computing the same
   figures for a random Lozenets stop (calendar lookup, departures in the window per route and
   direction with their headways, the service span, the next departures), as a server without a
   precomputed index would;
5. before any load, the twin's answers for every Lozenets stop are checked against that SQL.

The report (``bench/results/transport.md``) gives requests/s, p50, p99, errors and the ratios.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import URL

from bench.run import (
    RESULTS,
    ROOT,
    TWIN_FLAGS,
    Processes,
    Result,
    SqlCase,
    _raise_interrupt,
    _wrk_ms,
    clean_env,
    free_port,
    loaded_database,
    pgbench_result,
    run_script,
    say,
    wait_ready,
)
from twin.platform.db import libpq_url

DB_NAME = "twin_bench_transport"
POLL_LUA = Path(__file__).resolve().parent / "poll.lua"
DATE = dt.date(2026, 12, 1)  # a Tuesday inside the feed's calendar
WINDOW = ("07:00", "09:00")
WINDOW_S = (7 * 3600, 9 * 3600)
AFTER_S = 8 * 3600
NEXT = 5


def prepare_database() -> URL:
    """(Re)create the database and load Lozenets and the GTFS feed with the twin's importers."""
    url, _settings = loaded_database(DB_NAME, ("lozenets", "gtfs"))
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        # The stops the transport team polls: the 78 inside the district, numbered for pgbench.
        conn.execute(
            "CREATE TABLE bench_lozenets_stop AS SELECT row_number() OVER (ORDER BY s.stop_id) AS n,"
            " s.stop_id FROM gtfs_stop s JOIN district d ON ST_Intersects(s.geom, d.geom)"
        )
        conn.execute("CREATE UNIQUE INDEX ON bench_lozenets_stop (n)")
        # What a server answering from SQL needs (the twin answers from memory and has no such index).
        conn.execute("CREATE INDEX bench_stop_time_stop_idx ON gtfs_stop_time (stop_id, departure_s)")
        conn.execute("ANALYZE gtfs_stop_time")
    return url


def metrics_sql(stop: str) -> str:
    """One stop's figures as a server without an index computes them: `stop` is an SQL expression."""
    weekday = DATE.strftime("%A").lower()
    start, end = WINDOW_S
    day = f"DATE '{DATE}'"
    return (
        "WITH services AS ("
        f" SELECT service_id FROM gtfs_calendar WHERE {weekday} AND {day} BETWEEN start_date AND end_date"
        f" UNION SELECT service_id FROM gtfs_calendar_date WHERE date = {day} AND exception_type = 1"
        f" EXCEPT SELECT service_id FROM gtfs_calendar_date WHERE date = {day} AND exception_type = 2),"
        " d AS (SELECT st.departure_s, t.route_id, coalesce(t.direction_id, -1) AS direction_id"
        "  FROM gtfs_stop_time st JOIN gtfs_trip t USING (trip_id)"
        f"  WHERE st.stop_id = {stop} AND st.departure_s IS NOT NULL"
        # A trip's last stop is its arrival (the Sofia feed has no frequencies.txt to expand).
        "  AND EXISTS (SELECT 1 FROM gtfs_stop_time n"
        "   WHERE n.trip_id = st.trip_id AND n.stop_sequence > st.stop_sequence)"
        "  AND t.service_id IN (SELECT service_id FROM services)),"
        " w AS (SELECT *, departure_s - lag(departure_s) OVER (PARTITION BY route_id, direction_id"
        f"  ORDER BY departure_s) AS gap FROM d WHERE departure_s >= {start} AND departure_s < {end})"
        " SELECT json_build_object("
        "  'departures', (SELECT count(*) FROM w),"
        "  'routes', (SELECT coalesce(json_agg(r ORDER BY r.route_id, r.direction_id), '[]') FROM ("
        "   SELECT route_id, direction_id, count(*) AS departures, min(departure_s) AS first,"
        "   max(departure_s) AS last, min(gap) AS min_gap, max(gap) AS max_gap FROM w GROUP BY 1, 2) r),"
        "  'span', (SELECT json_build_array(min(departure_s), max(departure_s)) FROM d),"
        f"  'next', (SELECT coalesce(json_agg(departure_s ORDER BY departure_s), '[]') FROM ("
        f"   SELECT departure_s FROM d WHERE departure_s >= {AFTER_S} ORDER BY departure_s LIMIT {NEXT}) n)"
        " )::text"
    )


def _seconds(hms: str) -> int:
    h, m, s = (int(x) for x in hms.split(":"))
    return h * 3600 + m * 60 + s


def check_answers(base: str, db: URL) -> list[tuple[str, str]]:
    """The twin's answer for every Lozenets stop against the SQL; returns (path, ETag) per stop."""
    with psycopg.connect(libpq_url(db)) as conn:
        stops = [r[0] for r in conn.execute("SELECT stop_id FROM bench_lozenets_stop ORDER BY n")]
        expected = {
            stop: json.loads(conn.execute(metrics_sql("%s"), (stop,)).fetchone()[0])  # type: ignore[index]
            for stop in stops
        }
    paths = []
    # wrk sends no Accept-Encoding: ask the same way, so the ETags are those of the identity coding.
    with httpx.Client(base_url=base, timeout=30, headers={"Accept-Encoding": "identity"}) as http:
        for stop in stops:
            path = (
                f"/transport/stops/{stop}/metrics?date={DATE}&window={WINDOW[0]}-{WINDOW[1]}"
                f"&after={AFTER_S // 3600:02d}:00&next={NEXT}"
            )
            response = http.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")
            got, want = response.json(), expected[stop]
            if got["departures"] != want["departures"]:
                raise RuntimeError(
                    f"stop {stop}: {got['departures']} departures, SQL says {want['departures']}"
                )
            if [_seconds(d["time"]) for d in got["next_departures"]] != want["next"]:
                raise RuntimeError(f"stop {stop}: next departures differ from the SQL's")
            paths.append((path, response.headers["etag"]))
    return paths


def start_twin(procs: Processes, db: URL, *, cache: bool) -> str:
    port = free_port()
    env = {**clean_env(), "DATABASE_URL": libpq_url(db), "TWIN_LOG_LEVEL": "WARNING"}
    if not cache:
        env["TWIN_RESPONSE_CACHE_MB"] = "0"
    cmd = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", *TWIN_FLAGS]
    cmd += ["--port", str(port)]
    log = RESULTS / "logs" / f"transport-{'cache' if cache else 'nocache'}.log"
    name = "twin (cache)" if cache else "twin (no response cache)"
    proc = procs.start(name, cmd, env, ROOT, log)
    base = f"http://127.0.0.1:{port}"
    wait_ready(name, proc, f"{base}/readyz", log)
    return base


def poll(base: str, stops_file: Path, clients: int, seconds: int, *, etag: bool) -> tuple[Result, int]:
    cmd = ["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s", "--latency"]
    cmd += ["-s", str(POLL_LUA), base, "--", str(stops_file)] + (["etag"] if etag else [])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    stdout = out.stdout
    totals = json.loads(next(x for x in stdout.splitlines() if x.startswith("BENCH_JSON ")).split(" ", 1)[1])
    kinds = ("connect", "read", "write", "timeout", "status")
    requests = int(totals["requests"])
    result = Result(
        case="poll" + (" (If-None-Match)" if etag else ""),
        clients=clients,
        target="",
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", stdout).group(1)),  # type: ignore[union-attr]
        p50_ms=_wrk_ms(re.search(r"^\s+50%\s+(\S+)", stdout, re.M).group(1)),  # type: ignore[union-attr]
        p99_ms=_wrk_ms(re.search(r"^\s+99%\s+(\S+)", stdout, re.M).group(1)),  # type: ignore[union-attr]
        bytes_per_response=totals["bytes"] / requests if requests else 0.0,
        requests=requests,
        errors=sum(int(totals[k]) for k in kinds),
        error_detail=", ".join(f"{k} {totals[k]}" for k in kinds if totals[k]),
        command=shlex.join(cmd),
    )
    return result, int(totals["not_modified"])


@dataclass
class Row:
    target: str
    result: Result
    not_modified: int = 0


def render(rows: list[Row], args: argparse.Namespace, wall: float, stops: int) -> str:
    sql = next(r for r in rows if r.target == "PostGIS alone")
    lines = [
        "# Public transport benchmark",
        "",
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {args.clients} concurrent clients, {args.seconds} s "
        f"per case, a random one of the {stops} Lozenets stops, date {DATE}, "
        f"window {WINDOW[0]}-{WINDOW[1]}, next {NEXT} "
        f"after {AFTER_S // 3600:02d}:00. One uvicorn worker; 2 cores shared with the load generator.",
        "",
        "| target | case | req/s | p50 ms | p99 ms | errors | 304s | bytes/resp | × PostGIS alone |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        r = row.result
        lines.append(
            f"| {row.target} | {r.case} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} | "
            f"{row.not_modified:,} | {r.bytes_per_response:,.0f} | {r.rps / sql.result.rps:.1f}× |"
        )
    lines += ["", f"Wall time {wall:.0f} s. Commands:", ""]
    lines += [f"- {row.target}, {row.result.case}: `{row.result.command}`" for row in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, choices=range(1, 61), metavar="1..60")
    parser.add_argument("--clients", type=int, default=50, choices=range(1, 201), metavar="1..200")
    parser.add_argument("--warmup", type=int, default=3, choices=range(0, 31), metavar="0..30")
    args = parser.parse_args(argv)
    started = time.monotonic()
    RESULTS.mkdir(parents=True, exist_ok=True)
    procs = Processes(RESULTS / "transport-servers.pids")
    procs.kill_leftovers()
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
    rows: list[Row] = []
    stops = 0
    try:
        say(f"database {DB_NAME}: migrate, load Lozenets and the GTFS feed")
        db = prepare_database()
        for cache in (True, False):
            base = start_twin(procs, db, cache=cache)
            say(f"checking every Lozenets stop's answer against the SQL ({base})")
            polled = check_answers(base, db)
            stops = len(polled)
            stops_file = RESULTS / "poll-stops.tsv"
            stops_file.write_text("".join(f"{path}\t{tag}\n" for path, tag in polled))
            target = "twin (cache)" if cache else "twin (no response cache)"
            for etag in (False, True):
                if args.warmup:
                    poll(base, stops_file, args.clients, args.warmup, etag=etag)
                say(f"{target}: polling {'with' if etag else 'without'} If-None-Match, {args.seconds} s")
                result, n304 = poll(base, stops_file, args.clients, args.seconds, etag=etag)
                rows.append(Row(target, result, n304))
            procs.stop_all()
        say(f"PostGIS alone: the same figures in SQL, {args.clients} clients, {args.seconds} s")
        case = SqlCase(
            script=f"\\set i random(1, {stops})\n"
            + metrics_sql("(SELECT stop_id FROM bench_lozenets_stop WHERE n = :i)")
            + ";\n",
            size_sql="SELECT avg(length(("
            + metrics_sql("(SELECT stop_id FROM bench_lozenets_stop WHERE n = 1)")
            + ")))",
        )
        sql = pgbench_result(db, case, "transport-poll", args.clients, args.seconds, args.warmup)
        sql.case = "same figures in SQL"
        rows.append(Row("PostGIS alone", sql))
    finally:
        procs.stop_all()
    report = render(rows, args, time.monotonic() - started, stops)
    (RESULTS / "transport.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    run_script(main)
