"""The Sofia feed read straight from its zip with csv and pandas, for computations independent of the
twin's importer and metrics."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

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
