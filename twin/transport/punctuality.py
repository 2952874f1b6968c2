"""Line punctuality from «Закъснява ли?» (June 2026): median and p90 delay, share on time, per line.

The figures were computed by that project from the official real-time feed matched to the *official*
static GTFS, so its line ids (A1 = bus 72) are not this twin's route ids (А72); the join to routes is
made on the line's public name and mode, in twin.transport.layers.reliability, and says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from twin.core.catalog.specs import LayerSpec
from twin.core.errors import SourceError
from twin.core.imports.loader import Loader
from twin.transport.store import punctuality as store

MONTH = "2026-06"
"""The one complete month published (2026-07 holds a single day, which the source says not to use)."""
INDEX_SOURCE = f"zakasnyava-li-{MONTH}-index"
HEALTH_SOURCE = f"zakasnyava-li-{MONTH}-feed-health"
LINE_PREFIX = f"zakasnyava-li-{MONTH}-line-"
MODES = {"bus", "tram", "trolleybus"}

PUNCTUALITY_LAYER = LayerSpec(
    id="line_punctuality",
    title="Line punctuality, June 2026 (Закъснява ли?)",
    description=f"Per public-transport line, {MONTH}: median and 90th-percentile delay (minutes), share of "
    "departures on time and of scheduled trips observed, sample size, grade A–E, and the source's caveats. "
    "Computed by «Закъснява ли?» from the official real-time feed; line ids follow the official GTFS, "
    "not the community feed this twin serves. Not spatial: joined to route lines in `route_reliability`.",
    geometry_type="None",
    table_name="line_punctuality",
    source_ids=(INDEX_SOURCE, HEALTH_SOURCE),
)


def _read_json(path: Path, source_id: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"{source_id}: {path.name} is not readable JSON: {exc}") from exc


def _number(row: Mapping[str, Any], key: str, line: str) -> float | None:
    value = row.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SourceError(f"{INDEX_SOURCE}: line {line!r} has a non-numeric {key!r}: {value!r}")
    return float(value)


def coverage_caveat(health: Mapping[str, Any]) -> str:
    """The month's observed days and any day with partial real-time coverage, as one sentence."""
    days = health.get("days")
    if not isinstance(days, list) or not days:
        raise SourceError(f"{HEALTH_SOURCE}: no 'days' list")
    dates = sorted(str(d["date"]) for d in days)
    partial = [f"{d['date']} ({d['pct']} %)" for d in days if float(d.get("pct", 100)) < 90]
    text_ = f"observed {dates[0]} to {dates[-1]} ({len(dates)} days)"
    if partial:
        text_ += "; partial real-time coverage on " + ", ".join(partial)
    return text_


def read_punctuality(paths: Mapping[str, Path]) -> list[dict[str, Any]]:
    """One row per line of the month's index, with the caveats of its line file and of the month."""
    index = _read_json(paths[INDEX_SOURCE], INDEX_SOURCE)
    if not isinstance(index, list):
        raise SourceError(f"{INDEX_SOURCE}: expected a list of lines, found {type(index).__name__}")
    month_caveat = coverage_caveat(_read_json(paths[HEALTH_SOURCE], HEALTH_SOURCE))
    rows: dict[str, dict[str, Any]] = {}
    names: dict[tuple[str, str], str] = {}
    for position, entry in enumerate(index, start=1):
        if not isinstance(entry, dict) or not entry.get("line_id") or not entry.get("name"):
            raise SourceError(f"{INDEX_SOURCE}: entry {position} has no line_id or name")
        line_id = str(entry["line_id"])
        mode = str(entry.get("type", ""))
        if mode not in MODES:
            raise SourceError(f"{INDEX_SOURCE}: line {line_id!r} has an unknown type {mode!r}")
        if line_id in rows:
            raise SourceError(f"{INDEX_SOURCE}: line {line_id!r} appears twice")
        named = (str(entry["name"]), mode)
        if named in names:
            # Routes are joined on name and mode: two lines sharing both would make the join a guess.
            raise SourceError(
                f"{INDEX_SOURCE}: {mode} line {named[0]!r} appears twice ({names[named]}, {line_id})"
            )
        names[named] = line_id
        caveats = []
        detail = paths.get(LINE_PREFIX + line_id.lower())
        if detail is not None:
            for caveat in _read_json(detail, LINE_PREFIX + line_id.lower()).get("caveats", []):
                kind = str(caveat.get("type", "")).replace("_", " ")
                caveats.append(f"{kind}: {caveat.get('text', '')}" if kind else str(caveat.get("text", "")))
        caveats.append(month_caveat)
        sample = _number(entry, "sample_n", line_id)
        rows[line_id] = {
            "line_id": line_id,
            "month": MONTH,
            "name": str(entry["name"]),
            "mode": mode,
            "median_delay_min": _number(entry, "median", line_id),
            "p90_delay_min": _number(entry, "p90", line_id),
            "ontime_pct": _number(entry, "ontime_pct", line_id),
            "served_pct": _number(entry, "served_pct", line_id),
            "sample_n": None if sample is None else int(sample),
            "grade": entry.get("grade"),
            "caveats": " | ".join(c for c in caveats if c),
        }
    return list(rows.values())


def load(conn: Connection, paths: Mapping[str, Path]) -> dict[str, int]:
    return {"line_punctuality": store.replace_lines(conn, read_punctuality(paths))}


LOADER = Loader(
    name="reliability",
    title="Line punctuality, June 2026",
    role="transport",
    layers=(PUNCTUALITY_LAYER,),
    load=load,
)
