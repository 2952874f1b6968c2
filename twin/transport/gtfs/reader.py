"""Reading and validating a GTFS static feed (a zip file or a folder) into pandas DataFrames.

Pure Python: no database and no web framework. :func:`read_feed` returns a :class:`Feed` of typed frames,
or raises :class:`FeedError` listing what is wrong, each :class:`Problem` with the real line of the file,
so a feed's producer can find and fix it.

Everything that scales with ``stop_times.txt`` is vectorised: values are parsed once per distinct value
(``pd.factorize``) and checked with ``isin``/sorting, never with a Python loop over rows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twin.transport.gtfs.archive import read_files
from twin.transport.gtfs.checks import Checked, check_columns
from twin.transport.gtfs.csvfile import Table, parse_table
from twin.transport.gtfs.feed import (
    DAYS,
    FAST_TYPES,
    OPTIONAL_FILES,
    OPTIONAL_TEXT_COLUMNS,
    REQUIRED_COLUMNS,
    REQUIRED_FILES,
    Feed,
)
from twin.transport.gtfs.files import (
    check_agency,
    check_calendar,
    check_calendar_dates,
    check_feed_info,
    check_routes,
    check_routes_used,
    check_shapes,
    check_stops,
    check_trips,
)
from twin.transport.gtfs.frequencies import check_frequencies
from twin.transport.gtfs.problems import Problems
from twin.transport.gtfs.stop_times import check_stop_times

# --------------------------------------------------------------------------------------------------
# Assembling the typed frames


def _as_int(values: np.ndarray[Any, Any]) -> Any:
    if np.isnan(values).any():
        return pd.array(values, dtype="Int64")
    return values.astype(np.int64)


def _as_dates(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.asarray(values.astype("datetime64[D]").astype(object), dtype=object)


def _typed_frame(table: Table, typed: Checked) -> pd.DataFrame:
    df = table.df
    columns: dict[str, Any] = {}
    for column in OPTIONAL_TEXT_COLUMNS.get(table.file, ()):
        if column not in df.columns:
            columns[column] = pd.array(np.full(len(df), "", dtype=object), dtype="str")
    for column, values in typed.columns.get(table.file, {}).items():
        if column in ("stop_lat", "stop_lon", "shape_pt_lat", "shape_pt_lon"):
            columns[column] = values
        elif column in ("start_date", "end_date", "date"):
            columns[column] = _as_dates(values)
        elif column in DAYS or column == "direction_id":
            columns[column] = values
        else:
            columns[column] = _as_int(values)
    if table.file == "trips.txt" and "direction_id" not in columns and "direction_id" not in df.columns:
        columns["direction_id"] = pd.arrays.IntegerArray(
            np.zeros(len(df), dtype=np.int64), np.ones(len(df), dtype=bool)
        )
    return df.assign(**columns) if columns else df


# --------------------------------------------------------------------------------------------------
# The entry point


def read_feed(source: str | os.PathLike[str]) -> Feed:
    """Read and validate a GTFS static feed.

    Parameters
    ----------
    source : str or os.PathLike
        A zip file, or a folder of ``.txt`` files; in either, the files may sit in one sub-folder.

    Returns
    -------
    Feed
        Typed frames (see :class:`Feed`) and the warnings found.

    Raises
    ------
    FeedError
        When the feed is unusable: not a zip or folder, a required file or column missing, text that
        is not UTF-8, malformed rows, duplicate ids, unknown references or invalid values. Its
        ``problems`` lists every error found (capped at :data:`MAX_PROBLEMS`), then the warnings.
    """
    problems = Problems()
    files = read_files(Path(source), problems)
    _check_files_present(files, problems)
    tables = _parse_tables(files, problems)
    typed = _check_tables(tables, problems)
    problems.raise_if_errors()
    return _feed(tables, typed, problems)


def _check_files_present(files: dict[str, bytes], problems: Problems) -> None:
    if "calendar.txt" not in files and "calendar_dates.txt" not in files:
        problems.add(
            "missing_calendar_and_calendar_date_files",
            "calendar.txt",
            None,
            None,
            "missing: a feed needs calendar.txt or calendar_dates.txt",
        )
    for name in REQUIRED_FILES:
        if name not in files and not any(p.file == name for p in problems.kept["error"]):
            problems.add("missing_required_file", name, None, None, "required file is missing")


def _parse_tables(files: dict[str, bytes], problems: Problems) -> dict[str, Table]:
    """Each known file parsed, its required columns checked (the bytes are released as it goes)."""
    tables: dict[str, Table] = {}
    for name in REQUIRED_FILES + OPTIONAL_FILES:
        if name not in files:
            continue
        table = parse_table(name, files.pop(name), problems, FAST_TYPES.get(name))
        if table is None:
            continue
        if name in REQUIRED_FILES and table.df.empty:
            # Nothing to check row by row; the feed is refused whatever else is found.
            problems.add("empty_file", name, None, None, "the file has no data rows")
            continue
        tables[name] = check_columns(table, problems, REQUIRED_COLUMNS[name])
    return tables


def _check_tables(tables: dict[str, Table], problems: Problems) -> Checked:
    """Every file's checks, in the order their references need (routes before trips, trips before
    stop_times); the typed columns they compute."""
    typed = Checked()
    get = tables.get
    if agency := get("agency.txt"):
        check_agency(agency, problems)
    if stops := get("stops.txt"):
        check_stops(stops, problems, typed)
    if routes := get("routes.txt"):
        check_routes(routes, get("agency.txt"), problems, typed)
    if calendar := get("calendar.txt"):
        check_calendar(calendar, problems, typed)
    if calendar_dates := get("calendar_dates.txt"):
        check_calendar_dates(calendar_dates, problems, typed)
    if shapes := get("shapes.txt"):
        check_shapes(shapes, problems, typed)
    services = None
    if calendar is not None or calendar_dates is not None:
        services = pd.concat([t.df["service_id"] for t in (calendar, calendar_dates) if t is not None])
    if trips := get("trips.txt"):
        check_trips(trips, routes, services, shapes, problems, typed)
    if stop_times := get("stop_times.txt"):
        check_stop_times(stop_times, trips, stops, problems, typed)
    if frequencies := get("frequencies.txt"):
        check_frequencies(frequencies, trips, problems, typed)
    if feed_info := get("feed_info.txt"):
        check_feed_info(feed_info, problems)
    if routes is not None and trips is not None:
        check_routes_used(routes, trips, problems)
    return typed


def _feed(tables: dict[str, Table], typed: Checked, problems: Problems) -> Feed:
    frames = {name.removesuffix(".txt"): _typed_frame(table, typed) for name, table in tables.items()}
    return Feed(
        agency=frames["agency"],
        stops=frames["stops"],
        routes=frames["routes"],
        trips=frames["trips"],
        stop_times=frames["stop_times"],
        calendar=frames.get("calendar"),
        calendar_dates=frames.get("calendar_dates"),
        frequencies=frames.get("frequencies"),
        shapes=frames.get("shapes"),
        feed_info=frames.get("feed_info"),
        warnings=problems.warnings(),
    )
