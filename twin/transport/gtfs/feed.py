"""What a GTFS feed is to the twin: the files and columns it reads, the typed :class:`Feed` it returns,
and the :class:`Problem` s it reports (the header is line 1, the first data row line 2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

Severity = Literal["error", "warning"]

MAX_PROBLEMS = 200
"""Problems kept per severity; the rest are counted in one final Problem."""

VALUE_CHARS = 80
SUMMARY_PROBLEMS = 5

# The "file" of problems that concern the feed as a whole rather than one of its files.
FEED = "(feed)"

REQUIRED_FILES = ("agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
OPTIONAL_FILES = ("calendar.txt", "calendar_dates.txt", "frequencies.txt", "shapes.txt", "feed_info.txt")

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "agency.txt": ("agency_name", "agency_url", "agency_timezone"),
    "stops.txt": ("stop_id",),
    "routes.txt": ("route_id", "route_type"),
    "trips.txt": ("route_id", "service_id", "trip_id"),
    "stop_times.txt": ("trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence"),
    "calendar.txt": (
        "service_id",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "start_date",
        "end_date",
    ),
    "calendar_dates.txt": ("service_id", "date", "exception_type"),
    "frequencies.txt": ("trip_id", "start_time", "end_time", "headway_secs"),
    "shapes.txt": ("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"),
    "feed_info.txt": ("feed_publisher_name", "feed_publisher_url", "feed_lang"),
}

# Added as empty text when absent, so downstream code can rely on them.
OPTIONAL_TEXT_COLUMNS: dict[str, tuple[str, ...]] = {
    "agency.txt": ("agency_id",),
    "stops.txt": ("stop_code", "stop_desc", "parent_station", "wheelchair_boarding", "zone_id"),
    "routes.txt": ("agency_id", "route_long_name", "route_short_name", "route_color", "route_text_color"),
    "trips.txt": ("trip_headsign", "shape_id", "block_id"),
}

# Parsed while reading when every value fits (most feeds): much cheaper than text, then parsing.
# uint32 refuses negatives; the few forms it accepts beyond plain digits ("+1", "1.0") are integers still.
FAST_TYPES = {"stop_times.txt": {"stop_sequence": "uint32"}}

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a feed.

    Attributes
    ----------
    severity : {"error", "warning"}
        Errors make the feed unusable; warnings are reported and the feed is still read.
    file : str
        The file of the feed, e.g. ``"stop_times.txt"``.
    line : int or None
        1-based line in the file (the header is line 1); None for a problem with the whole file.
    column : str or None
        The column, None for a problem with a file or a whole row.
    message : str
        What is wrong, quoting the offending value (cut to about 80 characters).
    code : str
        The notice code, the canonical GTFS validator's where it has the check (e.g.
        ``stop_time_with_only_arrival_or_departure_time``), with its severity; see
        :mod:`twin.transport.gtfs.problems`.
    """

    severity: Severity
    file: str
    line: int | None
    column: str | None
    message: str
    code: str = "i_o_error"

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f" line {self.line}"
        if self.column is not None:
            where += f" column {self.column}"
        return f"{where}: {self.message} [{self.code}]"


class FeedError(Exception):
    """The feed is unusable: :attr:`problems` lists errors first, then warnings.

    Each list is capped at :data:`MAX_PROBLEMS`, followed by one Problem counting what was omitted;
    :attr:`error_count` is the number of errors found, omitted ones included.
    """

    def __init__(self, problems: list[Problem], error_count: int | None = None) -> None:
        self.problems = problems
        self.error_count = (
            error_count if error_count is not None else sum(p.severity == "error" for p in problems)
        )
        super().__init__(str(self))

    def __str__(self) -> str:
        errors = [p for p in self.problems if p.severity == "error"]
        noun = "error" if self.error_count == 1 else "errors"
        text = f"{self.error_count} {noun}: " + "; ".join(str(p) for p in errors[:SUMMARY_PROBLEMS])
        if self.error_count > SUMMARY_PROBLEMS:
            text += "; …"
        return text


@dataclass(frozen=True, eq=False)
class Feed:
    """A validated GTFS feed; one DataFrame per file, None for an optional file that is absent.

    Text columns are ``str`` (an empty field is ``""``), with these typed:

    - ``stops``: ``stop_lat``, ``stop_lon`` float64 (degrees, WGS 84; NaN where not given, which only
      location_type 3/4 allow); ``location_type`` int64 (0 where not given).
    - ``routes``: ``route_type`` int64.
    - ``trips``: ``direction_id`` Int64 (nullable).
    - ``stop_times``: ``stop_sequence`` int64; ``arrival_s``, ``departure_s`` seconds after midnight of
      the service day (noon minus 12 h; may exceed 86,400), one filled from the other when only one is
      given. int64, or Int64 with <NA> when some rows (non-timepoints) have neither time. The original
      ``arrival_time``/``departure_time`` text is kept.
    - ``calendar``: ``monday`` … ``sunday`` bool; ``start_date``, ``end_date`` :class:`datetime.date`.
    - ``calendar_dates``: ``date`` :class:`datetime.date`; ``exception_type`` int64.
    - ``frequencies``: ``start_s``, ``end_s`` (seconds after midnight), ``headway_secs`` (seconds) int64.
    - ``shapes``: ``shape_pt_lat``, ``shape_pt_lon`` float64 (degrees); ``shape_pt_sequence`` int64.

    Optional columns absent from a file are added (empty text, or NA for ``direction_id``):
    stops ``stop_code, stop_desc, parent_station, wheelchair_boarding, zone_id``; routes ``agency_id,
    route_long_name, route_short_name, route_color, route_text_color``; trips ``trip_headsign,
    direction_id, shape_id, block_id``; agency ``agency_id``.
    Row order is the files' order, with a fresh RangeIndex.
    """

    agency: pd.DataFrame
    stops: pd.DataFrame
    routes: pd.DataFrame
    trips: pd.DataFrame
    stop_times: pd.DataFrame
    calendar: pd.DataFrame | None
    calendar_dates: pd.DataFrame | None
    frequencies: pd.DataFrame | None
    shapes: pd.DataFrame | None
    feed_info: pd.DataFrame | None
    warnings: list[Problem] = field(default_factory=list)
