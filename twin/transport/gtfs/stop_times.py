"""The checks of stop_times.txt, in named steps: references, sequence, times, duplicates, order along
each trip, timed trip ends, and what other files leave unused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from twin.core.bulk import value_codes
from twin.transport.gtfs.checks import Checked, parsed_column
from twin.transport.gtfs.csvfile import Table
from twin.transport.gtfs.parsing import by_distinct, hms_text, parse_times, parse_uint
from twin.transport.gtfs.problems import Problems, quote, quoting

Array = np.ndarray[Any, Any]


@dataclass
class _TripOrder:
    """The rows in the order of their trip, then stop_sequence (``order`` maps it to file positions), with
    the columns the order checks need in that order; ``ordered`` is False for the rows of trips whose
    order is unknown (an invalid stop_sequence, already reported)."""

    order: Array
    trip: Array
    seq: Array
    arrival: Array
    departure: Array
    same_prev: Array
    ordered: Array | bool


def check_stop_times(
    table: Table, trips: Table | None, stops: Table | None, problems: Problems, typed: Checked
) -> None:
    """Every check of stop_times.txt; the typed columns (stop_sequence, arrival_s, departure_s) go to
    `typed`."""
    trip_codes, trip_ids = value_codes(table.df["trip_id"], grouped=True)
    stop_ids = np.asarray(pd.unique(table.df["stop_id"].to_numpy(dtype=object)), dtype=object)
    _check_references(table, trip_ids, stop_ids, trips, stops, problems)
    seq = _sequence(table, problems)
    arrival, departure = _times(table, problems)
    typed.set(table.file, "arrival_s", arrival)
    typed.set(table.file, "departure_s", departure)
    typed.set(table.file, "stop_sequence", seq)
    along = _trip_order(trip_codes, trip_ids, seq, arrival, departure)
    _check_duplicates(table, along, trip_codes, trip_ids, seq, problems)
    _check_times_go_forward(table, along, arrival, problems)
    _check_trip_ends_timed(table, along, problems)
    _report_unused(trip_codes, trip_ids, stop_ids, trips, stops, problems, typed)


def _check_references(
    table: Table,
    trip_ids: Array,
    stop_ids: Array,
    trips: Table | None,
    stops: Table | None,
    problems: Problems,
) -> None:
    """trip_id and stop_id are filled and name a trip and a stop of the feed. Checked on the distinct
    values first: rows are only looked at when something is wrong."""
    df = table.df
    for column, uniques, known, what in (
        ("trip_id", trip_ids, trips, "trip"),
        ("stop_id", stop_ids, stops, "stop"),
    ):
        if not table.has(column):
            continue
        empty = uniques == ""
        if empty.any():
            problems.rows(
                "missing_required_field",
                table,
                (df[column] == "").to_numpy(dtype=bool),
                column,
                lambda _pos: "required value is empty",
            )
        if known is None:
            continue
        unknown = ~pd.Series(uniques, dtype=object).isin(known.df[column]).to_numpy(dtype=bool) & ~empty
        if unknown.any():
            shown = table.values(column)
            problems.rows(
                "foreign_key_violation",
                table,
                df[column].isin(uniques[unknown]).to_numpy(dtype=bool),
                column,
                quoting(shown, f"unknown {what} "),
            )


def _sequence(table: Table, problems: Problems) -> Array:
    """stop_sequence as numbers (NaN where invalid, each reported)."""
    if not table.has("stop_sequence"):
        return np.full(len(table.df), np.nan)
    return parsed_column(table, "stop_sequence", problems, parse_uint, "a non-negative integer")


def _times(table: Table, problems: Problems) -> tuple[Array, Array]:
    """Arrival and departure in seconds (NaN where neither is given); a row with only one of them, or
    a departure before its arrival, is an error; rows with no time at all a warning."""
    df, n = table.df, len(table.df)
    same_as = None
    if table.has("arrival_time") and table.has("departure_time"):
        # Most feeds repeat the arrival as the departure; comparing is cheaper than parsing twice.
        arrival_text = df["arrival_time"].to_numpy(dtype=object)
        if (arrival_text == df["departure_time"].to_numpy(dtype=object)).all():
            same_as = by_distinct(df["arrival_time"], parse_times)
    given = {}
    for column in ("arrival_time", "departure_time"):
        if table.has(column):
            given[column] = parsed_column(
                table,
                column,
                problems,
                parse_times,
                "a time (H:MM:SS, hours 0–99)",
                same_as,
                code="invalid_time",
            )
        else:
            given[column] = np.full(n, np.nan)
    arrival_given, departure_given = given["arrival_time"], given["departure_time"]
    early = departure_given < arrival_given
    if early.any():
        problems.rows(
            "start_and_end_range_out_of_order",
            table,
            early,
            "departure_time",
            lambda pos: (
                f"departure_time {hms_text(departure_given[pos])} is before arrival_time "
                f"{hms_text(arrival_given[pos])}"
            ),
        )
    # GTFS asks for both or neither (the canonical validator's error); never copied over silently.
    if table.has("arrival_time") and table.has("departure_time"):
        # Judged on the text: an invalid time is its own error, not a missing one.
        one_only = (df["arrival_time"] == "").to_numpy(dtype=bool) != (df["departure_time"] == "").to_numpy(
            dtype=bool
        )
    else:
        one_only = np.zeros(n, dtype=bool)
    if one_only.any():
        problems.rows(
            "stop_time_with_only_arrival_or_departure_time",
            table,
            one_only,
            "departure_time",
            lambda pos: (
                (
                    "arrival_time without a departure_time"
                    if np.isnan(departure_given[pos])
                    else "departure_time without an arrival_time"
                )
                + ": give both (equal when the vehicle does not wait) or neither"
            ),
        )
    arrival = np.where(np.isnan(arrival_given), departure_given, arrival_given)
    departure = np.where(np.isnan(departure_given), arrival_given, departure_given)
    untimed = np.isnan(arrival)
    if untimed.any():
        problems.add(
            "stop_time_without_times",
            table.file,
            None,
            None,
            f"{int(untimed.sum())} stop_times have neither arrival_time nor departure_time "
            "(kept, with no time)",
        )
    return arrival, departure


def _trip_order(
    trip_codes: Array, trip_ids: Array, seq: Array, arrival: Array, departure: Array
) -> _TripOrder:
    """The rows along each trip in stop_sequence order; the sort is skipped when the file is already in
    that order, as feeds usually are (trips are numbered in order of first appearance)."""
    n = len(trip_codes)
    seq_key = np.nan_to_num(seq, nan=-1.0)
    same_next = trip_codes[1:] == trip_codes[:-1]
    in_order = bool(np.all(trip_codes[1:] >= trip_codes[:-1])) and bool(
        np.all((seq_key[1:] > seq_key[:-1]) | ~same_next)
    )
    order = np.arange(n) if in_order else np.lexsort((seq_key, trip_codes))
    s_trip = trip_codes[order]
    same_prev = np.zeros(n, dtype=bool)
    same_prev[1:] = s_trip[1:] == s_trip[:-1]
    # A trip with an invalid stop_sequence has no known order: it is reported once, not again later.
    ordered: Array | bool = True
    bad_seq = np.isnan(seq)
    if bad_seq.any():
        unordered_trip = np.zeros(len(trip_ids), dtype=bool)
        unordered_trip[trip_codes[bad_seq]] = True
        ordered = ~unordered_trip[s_trip]
    return _TripOrder(order, s_trip, seq_key[order], arrival[order], departure[order], same_prev, ordered)


def _check_duplicates(
    table: Table, along: _TripOrder, trip_codes: Array, trip_ids: Array, seq: Array, problems: Problems
) -> None:
    """No two rows of a trip share a stop_sequence; reported on the later line of each pair."""
    n, lines = len(along.order), table.lines
    repeat = np.zeros(n, dtype=bool)
    repeat[1:] = along.same_prev[1:] & (along.seq[1:] == along.seq[:-1])
    repeat &= along.ordered
    if not repeat.any():
        return
    pair_b = along.order[repeat]
    pair_a = along.order[np.flatnonzero(repeat) - 1]
    later = np.where(lines[pair_a] > lines[pair_b], pair_a, pair_b)
    first_of = np.zeros(n, dtype=np.int64)
    first_of[later] = np.minimum(lines[pair_a], lines[pair_b])
    report = np.zeros(n, dtype=bool)
    report[later] = True
    problems.rows(
        "duplicate_key",
        table,
        report,
        None,
        lambda pos: (
            f"duplicate (trip_id, stop_sequence) ({quote(trip_ids[trip_codes[pos]])}, "
            f"{int(seq[pos])}), first on line {first_of[pos]}"
        ),
    )


def _check_times_go_forward(table: Table, along: _TripOrder, arrival: Array, problems: Problems) -> None:
    """No stop is reached before the previous timed stop of its trip was left."""
    n = len(along.order)
    # The latest departure before each row within its trip: carry the last timed row's index forward.
    timed_index = np.where(np.isnan(along.departure), -1, np.arange(n))
    last_timed = np.maximum.accumulate(timed_index) if n else timed_index
    prev_timed = np.concatenate(([-1], last_timed[:-1]))
    prev_at = np.maximum(prev_timed, 0)
    has_prev = (prev_timed >= 0) & (along.trip[prev_at] == along.trip)
    prev_dep = np.where(has_prev, along.departure[prev_at], np.nan)
    backwards_sorted = (along.arrival < prev_dep) & along.ordered  # NaN compares False: untimed rows drop out
    if not backwards_sorted.any():
        return
    backwards = np.zeros(n, dtype=bool)
    backwards[along.order[backwards_sorted]] = True
    prev_dep_row = np.full(n, np.nan)
    prev_dep_row[along.order] = prev_dep
    problems.rows(
        "stop_time_with_arrival_before_previous_departure_time",
        table,
        backwards,
        "arrival_time",
        lambda pos: (
            f"time {hms_text(arrival[pos])} is before the previous stop's departure "
            f"{hms_text(prev_dep_row[pos])} (times must not go backwards along stop_sequence)"
        ),
    )


def _check_trip_ends_timed(table: Table, along: _TripOrder, problems: Problems) -> None:
    """GTFS requires times at a trip's first and last stop."""
    n = len(along.order)
    last = np.ones(n, dtype=bool)
    last[:-1] = ~along.same_prev[1:]
    ends_untimed_sorted = (~along.same_prev | last) & np.isnan(along.arrival) & along.ordered
    if not ends_untimed_sorted.any():
        return
    ends_untimed = np.zeros(n, dtype=bool)
    ends_untimed[along.order[ends_untimed_sorted]] = True
    problems.rows(
        "missing_trip_edge",
        table,
        ends_untimed,
        None,
        lambda _pos: "the first and last stop of a trip need an arrival_time and a departure_time",
    )


def _report_unused(
    trip_codes: Array,
    trip_ids: Array,
    stop_ids: Array,
    trips: Table | None,
    stops: Table | None,
    problems: Problems,
    typed: Checked,
) -> None:
    """Warnings: trips with fewer than two stop_times, stops no stop_time uses."""
    if trips is not None:
        per_trip = np.bincount(trip_codes, minlength=len(trip_ids))
        where = pd.Index(trip_ids).get_indexer(trips.df["trip_id"])
        counts = np.where(where >= 0, per_trip[np.maximum(where, 0)], 0)
        short = int((counts < 2).sum())
        if short:
            examples = ", ".join(quote(t) for t in trips.df["trip_id"][counts < 2].head(3))
            problems.add(
                "unusable_trip",
                trips.file,
                None,
                None,
                f"{short} trips have fewer than 2 stop_times (e.g. {examples})",
            )
    if stops is not None:
        used = pd.Series(stop_ids, dtype=object)
        location = typed.columns.get("stops.txt", {}).get("location_type")
        plain = stops.df["stop_id"][location == 0] if location is not None else stops.df["stop_id"]
        unused = plain[~plain.isin(used)]
        if len(unused):
            examples = ", ".join(quote(s) for s in unused.head(3))
            problems.add(
                "stop_without_stop_time",
                stops.file,
                None,
                None,
                f"{len(unused)} stops are never used by stop_times (e.g. {examples})",
            )
