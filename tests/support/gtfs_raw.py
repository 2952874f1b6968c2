"""The Sofia feed read straight from its zip with csv and pandas, for computations independent of the
twin's importer and metrics."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import zipfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pyproj import Transformer

WEEKDAY = "2026-12-01"  # a Tuesday: service "1"
AM_PEAK = (8 * 3600 + 15 * 60, 9 * 3600 + 15 * 60)
MODES = {"0": "tram", "1": "metro", "3": "bus", "11": "trolleybus"}
"""A Tuesday (service "1"), TfL's AM peak in seconds, and the feed's route types as modes."""


def raw_rows(feed_zip: Path, name: str) -> list[dict[str, str]]:
    with zipfile.ZipFile(feed_zip) as archive:
        return list(csv.DictReader(io.TextIOWrapper(archive.open(name), encoding="utf-8-sig")))


@dataclass(frozen=True)
class RawFeed:
    stops_xy: dict[str, tuple[float, float]]
    mode_of_route: dict[str, str]
    trips: pd.DataFrame
    stop_times: pd.DataFrame
    calendar: pd.DataFrame

    def services(self, day: dt.date) -> set[str]:
        weekday = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")[
            day.weekday()
        ]
        stamp = int(day.strftime("%Y%m%d"))
        running = self.calendar[
            (self.calendar[weekday] == "1")
            & (self.calendar["start_date"].astype(int) <= stamp)
            & (self.calendar["end_date"].astype(int) >= stamp)
        ]
        return set(running["service_id"])

    def departures(self, day: dt.date, window: tuple[int, int]) -> pd.DataFrame:
        """stop_id, route_id, direction of every departure in the window (plain string arithmetic)."""
        trips = self.trips[self.trips["service_id"].isin(self.services(day))]
        # A trip's last stop is its arrival: nobody boards there.
        sequence = self.stop_times["stop_sequence"].astype(int)
        last = sequence.groupby(self.stop_times["trip_id"]).transform("max")
        times = self.stop_times[sequence < last].merge(trips, on="trip_id")
        seconds = [int(h) * 3600 + int(m) * 60 + int(s) for h, m, s in times["departure_time"].str.split(":")]
        times = times.assign(seconds=seconds)
        return times[(times["seconds"] >= window[0]) & (times["seconds"] < window[1])]


def read_raw_feed(feed_zip: Path) -> RawFeed:
    def read(name: str) -> pd.DataFrame:
        with zipfile.ZipFile(feed_zip) as archive:
            return pd.read_csv(archive.open(name), dtype=str, keep_default_na=False, encoding="utf-8-sig")

    stops = read("stops.txt")
    project = Transformer.from_crs(4326, 32634, always_xy=True).transform
    xs, ys = project(stops["stop_lon"].astype(float).to_numpy(), stops["stop_lat"].astype(float).to_numpy())
    trips = read("trips.txt")
    if "direction_id" not in trips:
        trips = trips.assign(direction_id="")
    routes = read("routes.txt")
    assert set(routes["route_type"]) <= set(MODES)
    return RawFeed(
        stops_xy={s: (float(x), float(y)) for s, x, y in zip(stops["stop_id"], xs, ys, strict=True)},
        mode_of_route=dict(zip(routes["route_id"], routes["route_type"].map(MODES), strict=True)),
        trips=trips[["trip_id", "route_id", "service_id", "direction_id"]],
        stop_times=read("stop_times.txt")[["trip_id", "stop_id", "stop_sequence", "departure_time"]],
        calendar=read("calendar.txt"),
    )


def ptal_by_hand(
    raw: RawFeed,
    x: float,
    y: float,
    day: dt.date,
    detour: float = 1.2,
    walk_of: Callable[[str], float | None] | None = None,
) -> float:
    """PTAL of one point, the TfL way, one stop and one route at a time. `walk_of` gives the walk to a
    stop in metres where it knows one (a street graph), None elsewhere: the straight line × detour."""
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    for stop, route, direction in raw.departures(day, AM_PEAK)[
        ["stop_id", "route_id", "direction_id"]
    ].itertuples(index=False):
        counts[(stop, route, direction)] += 1
    frequency: dict[str, dict[str, float]] = defaultdict(dict)  # busiest direction, per hour
    for (stop, route, _direction), n in counts.items():
        frequency[stop][route] = max(frequency[stop].get(route, 0.0), n / 1.0)
    best: dict[str, tuple[float, str]] = {}
    for stop, routes in frequency.items():
        sx, sy = raw.stops_xy[stop]
        walk_m = math.hypot(x - sx, y - sy) * detour
        if walk_of is not None and walk_m < 2000 and (walked := walk_of(stop)) is not None:
            walk_m = walked
        for route, f in routes.items():
            mode = raw.mode_of_route[route]
            bus = mode in ("bus", "trolleybus")
            if walk_m > (640 if bus else 960):
                continue
            tat = walk_m / 80 + 0.5 * 60 / f + (2.0 if bus else 0.75)
            if route not in best or tat < best[route][0]:
                best[route] = (tat, "bus" if bus else mode)  # trolleybuses weigh with buses
    edfs: dict[str, list[float]] = defaultdict(list)
    for tat, mode in best.values():
        edfs[mode].append(30 / tat)
    return sum(max(e) + 0.5 * (sum(e) - max(e)) for e in edfs.values())
