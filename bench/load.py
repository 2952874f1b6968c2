"""The load benchmark (issue 11): 200 concurrent clients on loopback mixing what a municipal front-end
sends, against the twin as it is served; in the same run the same mix at 8 clients, and the 200 clients
against the same service on the other event loop (uvloop, which uvicorn picks by default).

`./bench/load.sh [--seconds N] [--clients N] [--workers N]` runs it (that script prepares the venv, the
cluster and wrk). In one run, on this machine:

1. database ``twin_bench_load`` is (re)created in the private cluster and loaded with Lozenets, the Sofia
   GTFS feed and the buildings (real OSM window and the seeded synthetic stock) by the twin's importers;
2. the twin is served by uvicorn (``--workers`` processes, default 1) with its response cache, on the
   event loop ``twin serve`` uses (``--loop``, default asyncio as TWIN_LOOP);
3. wrk with N connections (default 200) for S seconds (default 30, at most 60) after a warm-up, each
   request at random (bench/load.lua): 40 % the metrics of a random Lozenets stop, 30 % an items page of
   buildings in a random bounding box over the district (mostly new to the cache: the panning case),
   30 % a vector tile of buildings at a random zoom 14–16 over the district; a client gives up after 2 s;
4. while it runs, the resident memory of the service's processes is sampled every second;
5. the same mix at 8 clients for the same time: what the service does when it is not overloaded;
6. a fresh server on the other loop, warmed up alike, and the 200 clients again (``--no-peer`` skips it).

The report (``bench/results/load.md``) gives requests/s, p50, p90, p99, the answers by kind (2xx/3xx,
503 shed on purpose with Retry-After, other), errors and timeouts, and the memory at the start, at the
end and at most; and the ratios of 200 clients to 8.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import URL

from bench.run import (
    LOZENETS,
    RESULTS,
    ROOT,
    Processes,
    _raise_interrupt,
    clean_env,
    free_port,
    loaded_database,
    run_script,
    say,
    tile_ranges,
    wait_ready,
)
from twin.platform.db import libpq_url

DB_NAME = "twin_bench_load"
LOAD_LUA = Path(__file__).resolve().parent / "load.lua"
DATE = "2026-12-01"  # a Tuesday inside the feed's calendar
BOX = (0.004, 0.003)  # degrees: a bounding box of a street or two, as a map at zoom 17 shows
CLIENT_TIMEOUT_S = 2
PEER_LOOP = {"asyncio": "uvloop", "uvloop": "asyncio"}
"""The same service on the other event loop, side by side (uvicorn picks uvloop when it is installed)."""


@dataclass
class Run:
    loop: str
    clients: int
    seconds: int
    totals: dict[str, float]
    rss_mb: list[float] = field(default_factory=list)
    cache_mb: list[float] = field(default_factory=list)
    """The response cache's bodies at each sample (/healthz): memory the service keeps on purpose."""
    refused: int = 0
    """Requests the database admission refused (503, Retry-After), from /healthz."""

    @property
    def rps(self) -> float:
        return self.totals["requests"] / (self.totals["duration_us"] / 1e6)

    def ms(self, key: str) -> float:
        return self.totals[key] / 1000


def prepare_database() -> URL:
    url, _settings = loaded_database(DB_NAME, ("lozenets", "gtfs", "buildings"))
    return url


def lozenets_stops(db: URL) -> list[str]:
    with psycopg.connect(libpq_url(db)) as conn:
        rows = conn.execute(
            "SELECT s.stop_id FROM gtfs_stop s JOIN district d ON ST_Intersects(s.geom, d.geom) ORDER BY 1"
        ).fetchall()
    return [str(r[0]) for r in rows]


def start_twin(
    procs: Processes, db: URL, workers: int, extra: dict[str, str], loop: str
) -> tuple[str, subprocess.Popen[bytes], str]:
    port = free_port()
    settings = {"TWIN_LOG_LEVEL": "INFO", "TWIN_WORKERS": str(workers), **extra}  # the request log on
    env = {**clean_env(), "DATABASE_URL": libpq_url(db), **settings}
    cmd = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", str(workers), "--loop", loop, "--http", "httptools"]
    cmd += ["--no-access-log", "--log-level", "warning"]
    log = RESULTS / "logs" / "twin-load.log"
    proc = procs.start("twin", cmd, env, ROOT, log)
    base = f"http://127.0.0.1:{port}"
    wait_ready("twin", proc, f"{base}/readyz", log)
    shown = " ".join(f"{k}={v}" for k, v in settings.items())
    return base, proc, f"DATABASE_URL=<{DB_NAME}> {shown} {shlex.join(['python', *cmd[1:]])}"


def _tree_rss_mb(root: int) -> float:
    """Resident memory of a process and its children (uvicorn's workers), in MiB."""
    total = 0
    pids = [root]
    children = Path(f"/proc/{root}/task/{root}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def wrk(
    loop: str, base: str, lua_args: list[str], clients: int, seconds: int, server_pid: int | None = None
) -> Run:
    cmd = [
        "nice",
        "-n",
        "-10",
        "wrk",
        "-t",
        "2",
        "-c",
        str(clients),
        "-d",
        f"{seconds}s",
        "--timeout",
        f"{CLIENT_TIMEOUT_S}s",
    ]
    cmd += ["-s", str(LOAD_LUA), base, "--", *lua_args]
    samples: list[float] = []
    cached: list[float] = []
    stop = threading.Event()

    def take() -> None:
        assert server_pid is not None
        samples.append(_tree_rss_mb(server_pid))
        cached.append(_health(base)["response_cache"]["bytes"] / 2**20)

    def sample() -> None:
        while not stop.wait(1.0):
            take()

    sampler = threading.Thread(target=sample, daemon=True)
    refused_before = _health(base)["database_admission"]["refused"]
    if server_pid is not None:
        take()
        sampler.start()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    stop.set()
    if server_pid is not None:
        sampler.join()
        take()
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    line = next(x for x in out.stdout.splitlines() if x.startswith("BENCH_JSON "))
    refused = _health(base)["database_admission"]["refused"] - refused_before
    return Run(loop, clients, seconds, json.loads(line.removeprefix("BENCH_JSON ")), samples, cached, refused)


def _health(base: str) -> dict[str, Any]:
    return httpx.get(f"{base}/healthz", timeout=10).json()  # type: ignore[no-any-return]


def lua_args(stops_file: Path) -> list[str]:
    west, south, east, north = LOZENETS
    args = [str(stops_file), "/collections/buildings/items?limit=100&bbox="]
    args += [f"{west}", f"{south}", f"{east - BOX[0]:.6f}", f"{north - BOX[1]:.6f}", f"{BOX[0]}", f"{BOX[1]}"]
    args += ["/collections/buildings/tiles/WebMercatorQuad/"]
    for z, (col0, col1, row0, row1) in tile_ranges().items():
        args += [str(z), str(col0), str(col1), str(row0), str(row1)]
    return args


def check_mix(base: str, stops: list[str]) -> dict[str, int]:
    """Before any load: each kind answers 200 with real content (so the load measures real work)."""
    west, south, _east, _north = LOZENETS
    with httpx.Client(base_url=base, timeout=30) as http:
        metrics = http.get(f"/transport/stops/{stops[0]}/metrics", params={"date": DATE})
        page = http.get(
            "/collections/buildings/items",
            params={"limit": 100, "bbox": f"{west + 0.01},{south + 0.02},{west + 0.014},{south + 0.023}"},
        )
        col0, col1, row0, row1 = tile_ranges()[15]
        tile = http.get(
            f"/collections/buildings/tiles/WebMercatorQuad/15/{(row0 + row1) // 2}/{(col0 + col1) // 2}"
        )
    for name, answer in (("stop metrics", metrics), ("items", page), ("tile", tile)):
        if answer.status_code != 200:
            raise RuntimeError(f"{name}: {answer.status_code} {answer.text[:300]}")
    return {
        "departures": len(metrics.json().get("routes", [])),
        "features": int(page.json()["numberReturned"]),
        "tile_bytes": len(tile.content),
    }


def render(
    runs: list[Run], args: argparse.Namespace, commands: list[str], checked: dict[str, int], stops: int
) -> str:
    heavy, light = runs[0], runs[1]
    lines = [
        f"# Load: {args.clients} clients mixing stop polls, panned items pages and tiles",
        "",
        f"`./bench/load.sh --seconds {args.seconds} --clients {args.clients} --workers {args.workers}`, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, loopback only.",
        "",
        f"- Mix (bench/load.lua): 40 % the metrics of one of {stops} Lozenets stops on {DATE}; 30 % "
        f"`/collections/buildings/items?limit=100` in a random {BOX[0]}° × {BOX[1]}° box over the district; "
        "30 % a buildings tile at z14–16 over the district. Checked before the load: "
        f"{checked['features']} buildings in a box, a {checked['tile_bytes']:,}-byte tile.",
        f"- wrk, 2 threads, a client gives up after {CLIENT_TIMEOUT_S} s; a warm-up of {args.warmup} s "
        "first, each server started afresh.",
        *(f"- Service: `{command}`" for command in commands),
        "",
        "| event loop | clients | req/s | p50 | p90 | p99 | max | 2xx/3xx | 503 (shed) | other "
        "| socket errors | timeouts |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        t = run.totals
        socket_errors = int(t["connect"] + t["read"] + t["write"])
        lines.append(
            f"| {run.loop} | {run.clients} | {run.rps:,.0f} | {run.ms('p50_us'):.1f} ms | "
            f"{run.ms('p90_us'):.1f} ms | {run.ms('p99_us'):.1f} ms | {run.ms('max_us'):.0f} ms | "
            f"{int(t['ok']):,} | {int(t['shed']):,} | {int(t['other']):,} | {socket_errors} | "
            f"{int(t['timeout'])} |"
        )
    rss, cache = heavy.rss_mb, heavy.cache_mb
    settle = min(5, len(rss) - 1)
    kept = [r - c for r, c in zip(rss, cache, strict=True)]
    lines += [
        "",
        f"Ratios on {heavy.loop}, {heavy.clients} clients to {light.clients}: requests/s "
        f"{heavy.rps / light.rps:.2f}×, p99 {heavy.ms('p99_us') / light.ms('p99_us'):.1f}×. Refused by the "
        "database admission (503 with Retry-After, /healthz `database_admission.refused`): "
        f"{heavy.refused} and {light.refused}.",
    ]
    for peer in runs[2:]:
        lines.append(
            f"On {peer.loop}, {peer.clients} clients: requests/s {peer.rps / heavy.rps:.2f}× and p99 "
            f"{peer.ms('p99_us') / heavy.ms('p99_us'):.1f}× those on {heavy.loop}; "
            f"{int(peer.totals['timeout'])} timeouts against {int(heavy.totals['timeout'])}."
        )
    lines += [
        "",
        f"Memory of the service's processes during the {heavy.clients}-client run on {heavy.loop} (RSS, "
        f"sampled every second): {rss[0]:.0f} MiB before, {rss[settle]:.0f} MiB after {settle} s, "
        f"{rss[-1]:.0f} MiB at the end, {max(rss):.0f} MiB at most. Of it, the response cache's bodies "
        f"(bounded by TWIN_RESPONSE_CACHE_MB): {cache[0]:.0f}, {cache[settle]:.0f} and {cache[-1]:.0f} MiB. "
        f"The rest, what the service holds besides its cache: {kept[0]:.0f}, {kept[settle]:.0f} and "
        f"{kept[-1]:.0f} MiB (end ÷ after {settle} s: {kept[-1] / kept[settle]:.3f}).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30, choices=range(1, 61), metavar="1..60")
    parser.add_argument("--clients", type=int, default=200, choices=range(1, 1001), metavar="1..1000")
    parser.add_argument("--workers", type=int, default=1, choices=range(1, 9), metavar="1..8")
    parser.add_argument("--loop", default="asyncio", choices=tuple(PEER_LOOP), help="As TWIN_LOOP.")
    parser.add_argument("--no-peer", action="store_true", help="Skip the run on the other event loop.")
    parser.add_argument("--warmup", type=int, default=5, choices=range(0, 31), metavar="0..30")
    parser.add_argument("--reuse", action="store_true", help="Keep the loaded database of an earlier run.")
    parser.add_argument(
        "--set", action="append", default=[], metavar="TWIN_X=V", help="A service setting (repeatable)."
    )
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    procs = Processes(RESULTS / "load-servers.pids")
    procs.kill_leftovers()
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
    try:
        if args.reuse:
            from twin.platform.db import database_url
            from twin.platform.settings import Settings

            db = database_url(Settings(), DB_NAME)
        else:
            say(f"database {DB_NAME}: migrate, load Lozenets, the GTFS feed and the buildings")
            db = prepare_database()
        stops = lozenets_stops(db)
        stops_file = RESULTS / "load-stops.txt"
        stops_file.write_text("".join(f"/transport/stops/{s}/metrics?date={DATE}\n" for s in stops))
        extra = dict(item.split("=", 1) for item in args.set)
        lua = lua_args(stops_file)
        runs: list[Run] = []
        commands: list[str] = []
        checked: dict[str, int] = {}
        for loop in (args.loop, *([] if args.no_peer else [PEER_LOOP[args.loop]])):
            base, proc, command = start_twin(procs, db, args.workers, extra, loop)
            commands.append(command)
            checked = check_mix(base, stops)
            if args.warmup:
                say(f"{loop}: warm-up, {args.clients} clients, {args.warmup} s")
                wrk(loop, base, lua, args.clients, args.warmup)
            say(f"{loop}: {args.clients} clients, {args.seconds} s")
            runs.append(wrk(loop, base, lua, args.clients, args.seconds, proc.pid))
            if loop == args.loop:
                say(f"{loop}: 8 clients, {args.seconds} s")
                runs.append(wrk(loop, base, lua, 8, args.seconds))
            procs.stop_all()
    finally:
        procs.stop_all()
    report = render(runs, args, commands, checked, len(stops))
    (RESULTS / "load.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    run_script(main)
