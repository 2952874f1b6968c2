"""Collecting problems: every one counted, at most MAX_PROBLEMS of each severity kept, values quoted
and cut so a huge field cannot make a huge message."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.transport.gtfs.feed import FEED, MAX_PROBLEMS, VALUE_CHARS, FeedError, Problem, Severity

if TYPE_CHECKING:
    from twin.transport.gtfs.csvfile import Table


# --------------------------------------------------------------------------------------------------
# Notices: the canonical GTFS validator's codes and severities (MobilityData/gtfs-validator, the
# *Notice classes and validators; its rules page: gtfs-validator.mobilitydata.org/rules.html), and a few
# of the twin's own where it refuses or warns about what the reference does not check.

CANONICAL: dict[str, Severity] = {
    "csv_parsing_failed": "error",
    "duplicate_key": "error",
    "duplicated_column": "error",
    "empty_column_name": "error",
    "empty_file": "error",
    "foreign_key_violation": "error",
    "i_o_error": "error",
    "invalid_character": "error",
    "invalid_date": "error",
    "invalid_float": "error",
    "invalid_integer": "error",
    "invalid_row_length": "error",
    "invalid_time": "error",
    "missing_calendar_and_calendar_date_files": "error",
    "missing_required_column": "error",
    "missing_required_field": "error",
    "missing_required_file": "error",
    "missing_stop_name": "error",
    "missing_trip_edge": "error",
    "number_out_of_range": "error",
    "overlapping_frequency": "error",
    "point_near_origin": "error",
    "route_both_short_and_long_name_missing": "error",
    "single_shape_point": "warning",
    "start_and_end_range_equal": "error",
    "start_and_end_range_out_of_order": "error",
    "stop_time_with_arrival_before_previous_departure_time": "error",
    "stop_time_with_only_arrival_or_departure_time": "error",
    "stop_without_location": "error",
    "stop_without_stop_time": "warning",
    "unexpected_enum_value": "warning",
    "unusable_trip": "warning",
}
"""Codes the twin shares with the canonical validator, with the reference's severity."""

TWIN_ONLY: dict[str, Severity] = {
    "headway_below_minimum": "error",
    "route_without_trips": "warning",
    "stop_time_without_times": "warning",
    "too_many_frequency_trips": "error",
    "feed_too_large": "error",
    "unsafe_archive_path": "error",
    "csv_formula_injection": "error",
    "omitted": "warning",
}
"""The twin's own notices: limits of what it serves (a headway under a minute, more expanded trips than
it holds), text a spreadsheet would run as a formula (CSV injection), and warnings the reference does
not give."""

NOTICES: dict[str, Severity] = {**CANONICAL, **TWIN_ONLY}


# --------------------------------------------------------------------------------------------------
# Problems


def cut(value: object) -> str:
    text = str(value)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def quote(value: object) -> str:
    return f"'{cut(value)}'"


def quoting(shown: np.ndarray[Any, Any], before: str, after: str = "") -> Callable[[int], str]:
    """A row's message quoting its value in ``shown``."""
    return lambda pos: f"{before}{quote(shown[pos])}{after}"


class Problems:
    """Collects problems, materialising at most MAX_PROBLEMS per severity but counting all."""

    def __init__(self) -> None:
        self.kept: dict[Severity, list[Problem]] = {"error": [], "warning": []}
        self.count: dict[Severity, int] = {"error": 0, "warning": 0}

    def add(self, code: str, file: str, line: int | None, column: str | None, message: str) -> None:
        severity = NOTICES[code]
        self.count[severity] += 1
        if len(self.kept[severity]) < MAX_PROBLEMS:
            self.kept[severity].append(Problem(severity, file, line, column, message, code))

    def rows(
        self,
        code: str,
        table: Table,
        mask: np.ndarray[Any, Any],
        column: str | None,
        message: Callable[[int], str],
    ) -> int:
        """One problem per row of ``mask`` (bool per row); ``message`` gets the row's position."""
        severity = NOTICES[code]
        positions = np.flatnonzero(mask)
        room = max(0, MAX_PROBLEMS - len(self.kept[severity]))
        for pos in positions[:room].tolist():
            self.kept[severity].append(
                Problem(severity, table.file, int(table.lines[pos]), column, message(pos), code)
            )
        self.count[severity] += len(positions)
        return len(positions)

    def _capped(self, severity: Severity) -> list[Problem]:
        kept = list(self.kept[severity])
        omitted = self.count[severity] - len(kept)
        if omitted:
            kept.append(Problem(severity, FEED, None, None, f"{omitted} more {severity}s omitted", "omitted"))
        return kept

    def raise_if_errors(self) -> None:
        if self.count["error"]:
            raise FeedError(self._capped("error") + self._capped("warning"), self.count["error"])

    def warnings(self) -> list[Problem]:
        return self._capped("warning")
