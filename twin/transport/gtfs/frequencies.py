"""The checks of frequencies.txt: periods, headways, overlaps and how many trips they expand to."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from twin.transport.gtfs.checks import Checked, check_filled, check_reference, check_unique, parsed_column
from twin.transport.gtfs.csvfile import Table
from twin.transport.gtfs.feed import REQUIRED_COLUMNS
from twin.transport.gtfs.parsing import parse_times, parse_uint
from twin.transport.gtfs.problems import Problems, quote


def check_frequencies(table: Table, trips: Table | None, problems: Problems, typed: Checked) -> None:
    check_filled(table, problems, REQUIRED_COLUMNS["frequencies.txt"])
    if trips is not None:
        check_reference(table, "trip_id", trips.df["trip_id"], problems, "trip")
    bounds = {}
    for column, target in (("start_time", "start_s"), ("end_time", "end_s")):
        if table.has(column):
            bounds[column] = parsed_column(
                table, column, problems, parse_times, "a time (H:MM:SS, hours 0–99)", code="invalid_time"
            )
            typed.set(table.file, target, bounds[column])
    if len(bounds) == 2:
        shown = table.values("end_time")
        for code, wrong in (
            ("start_and_end_range_out_of_order", bounds["end_time"] < bounds["start_time"]),
            ("start_and_end_range_equal", bounds["end_time"] == bounds["start_time"]),
        ):
            problems.rows(
                code,
                table,
                wrong,
                "end_time",
                lambda pos: f"end_time {quote(shown[pos])} is not after start_time",
            )
    if table.has("headway_secs"):
        headway = parsed_column(table, "headway_secs", problems, parse_uint, "a whole number of seconds")
        shown = table.values("headway_secs")
        problems.rows(
            "number_out_of_range",
            table,
            headway == 0,
            "headway_secs",
            lambda pos: "headway_secs must be positive",
        )
        problems.rows(
            "headway_below_minimum",
            table,
            (headway > 0) & (headway < MIN_HEADWAY_S),
            "headway_secs",
            lambda pos: (
                f"headway_secs {quote(shown[pos])} is below {MIN_HEADWAY_S} s: not a timetable "
                "the twin expands into departures"
            ),
        )
        typed.set(table.file, "headway_secs", headway)
        if len(bounds) == 2:
            _check_frequency_periods(table, bounds["start_time"], bounds["end_time"], headway, problems)
    check_unique(table, problems, ["trip_id", "start_time"], "(trip_id, start_time)")


MIN_HEADWAY_S = 60
MAX_FREQUENCY_RUNS = 1_000_000
"""Trips that frequencies.txt may expand to in all (Sofia's whole feed has 26,245 trips): every run is
read back as rows by the schedule of a service day."""


def _check_frequency_periods(
    table: Table,
    start: np.ndarray[Any, Any],
    end: np.ndarray[Any, Any],
    headway: np.ndarray[Any, Any],
    problems: Problems,
) -> None:
    """A trip's periods may not overlap (its runs would count twice), and the runs in all are bounded."""
    valid = np.isfinite(start) & np.isfinite(end) & np.isfinite(headway) & (headway > 0) & (end > start)
    if not valid.any():
        return
    runs = np.ceil((end[valid] - start[valid]) / headway[valid])
    total = int(runs.sum())
    if total > MAX_FREQUENCY_RUNS:
        problems.add(
            "too_many_frequency_trips",
            table.file,
            None,
            None,
            f"the frequencies expand to {total:,} trips; at most {MAX_FREQUENCY_RUNS:,} are served",
        )
    frame = pd.DataFrame(
        {"trip": table.df["trip_id"].to_numpy(dtype=object)[valid], "start": start[valid], "end": end[valid]},
        index=np.flatnonzero(valid),
    ).sort_values(["trip", "start"], kind="stable")
    same_trip = frame["trip"].to_numpy()[1:] == frame["trip"].to_numpy()[:-1]
    overlaps = same_trip & (frame["start"].to_numpy()[1:] < frame["end"].to_numpy()[:-1])
    if overlaps.any():
        rows = np.zeros(len(table.df), dtype=bool)
        rows[frame.index.to_numpy()[1:][overlaps]] = True
        problems.rows(
            "overlapping_frequency",
            table,
            rows,
            "start_time",
            lambda pos: "this period overlaps the trip's previous one (its runs would count twice)",
        )
