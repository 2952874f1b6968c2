"""Checks shared by several files: required columns and values, uniqueness, references, enumerations,
numbers, coordinates; and the typed columns they compute."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from twin.transport.gtfs.csvfile import Table
from twin.transport.gtfs.parsing import ValueParser, by_distinct, parse_float
from twin.transport.gtfs.problems import Problems, quote, quoting

# --------------------------------------------------------------------------------------------------
# Checks shared by several files


def check_columns(table: Table, problems: Problems, required: Iterable[str]) -> Table:
    missing = [c for c in required if c not in table.df.columns]
    for column in missing:
        problems.add("missing_required_column", table.file, None, column, "required column is missing")
    if missing:
        table.df = table.df.assign(**dict.fromkeys(missing, ""))
        table.missing = frozenset(missing)
    return table


def check_filled(table: Table, problems: Problems, columns: Iterable[str]) -> None:
    for column in columns:
        if table.has(column):
            empty = (table.df[column] == "").to_numpy(dtype=bool)
            problems.rows(
                "missing_required_field", table, empty, column, lambda _pos: "required value is empty"
            )


def check_unique(table: Table, problems: Problems, columns: list[str], what: str) -> None:
    if not all(table.has(c) for c in columns):
        return
    frame = table.df[columns]
    repeat = frame.duplicated(keep="first").to_numpy(dtype=bool)
    if not repeat.any():
        return
    rows = list(frame.itertuples(index=False, name=None))
    first_line: dict[tuple[Any, ...], int] = {}
    for row, line in zip(rows, table.lines.tolist(), strict=True):
        first_line.setdefault(row, line)
    column = columns[0] if len(columns) == 1 else None

    def message(pos: int) -> str:
        key = rows[pos]
        shown = quote(key[0]) if len(key) == 1 else "(" + ", ".join(quote(k) for k in key) + ")"
        return f"duplicate {what} {shown}, first on line {first_line[key]}"

    problems.rows("duplicate_key", table, repeat, column, message)


def check_reference(
    table: Table,
    column: str,
    known: pd.Series | np.ndarray[Any, Any],
    problems: Problems,
    what: str,
) -> None:
    """Non-empty values of ``column`` must be among ``known`` (foreign_key_violation)."""
    if not table.has(column):
        return
    values = table.df[column]
    distinct = pd.Series(values.unique())
    unknown = distinct[~distinct.isin(known) & (distinct != "")]
    if unknown.empty:
        return
    mask = values.isin(unknown).to_numpy(dtype=bool)
    shown = table.values(column)
    problems.rows(
        "foreign_key_violation", table, mask, column, lambda pos: f"unknown {what} {quote(shown[pos])}"
    )


def check_enum(
    table: Table, column: str, allowed: set[str], problems: Problems, allow_empty: bool = True
) -> None:
    if not table.has(column):
        return
    values = table.df[column]
    ok = values.isin(list(allowed)) | ((values == "") if allow_empty else False)
    shown = table.values(column)
    listed = ", ".join(sorted(allowed, key=lambda v: (len(v), v))) + (", or empty" if allow_empty else "")
    problems.rows(
        "unexpected_enum_value",
        table,
        ~ok.to_numpy(dtype=bool),
        column,
        lambda pos: f"invalid value {quote(shown[pos])} (expected one of {listed})",
    )


def parsed_column(
    table: Table,
    column: str,
    problems: Problems,
    parse: ValueParser,
    expected: str,
    same_as: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None = None,
    *,
    code: str = "invalid_integer",
) -> np.ndarray[Any, Any]:
    """Parse a column by distinct value, reporting each invalid value as `code` (invalid_integer,
    invalid_float, invalid_time or invalid_date).

    ``same_as`` is the (parsed, invalid) result of another column known to hold the same text.
    """
    values = table.df[column]
    if values.dtype.kind in "iu":  # already parsed as unsigned integers while reading
        return np.asarray(values.to_numpy(dtype=np.float64))
    parsed, invalid = same_as if same_as is not None else by_distinct(values, parse)
    if invalid.any():
        shown = table.values(column)
        problems.rows(code, table, invalid, column, lambda pos: f"{quote(shown[pos])} is not {expected}")
    return parsed


def check_coordinates(
    table: Table, lat_col: str, lon_col: str, needed: np.ndarray[Any, Any], problems: Problems
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Latitude and longitude in degrees (NaN when absent); ``needed`` marks rows that must have them."""
    coords = []
    for column, limit in ((lat_col, 90.0), (lon_col, 180.0)):
        if not table.has(column):
            coords.append(np.full(len(table.df), np.nan))
            continue
        values = parsed_column(table, column, problems, parse_float, "a number", code="invalid_float")
        shown = table.values(column)
        outside = np.abs(np.nan_to_num(values)) > limit
        problems.rows(
            "number_out_of_range",
            table,
            outside,
            column,
            quoting(shown, "", f" is outside −{limit:g}..{limit:g}"),
        )
        empty = needed & (shown == "")
        problems.rows("stop_without_location", table, empty, column, lambda _pos: "required value is empty")
        coords.append(values)
    lat, lon = coords
    zero = (lat == 0) & (lon == 0)
    problems.rows(
        "point_near_origin", table, zero, None, lambda _pos: "position is (0, 0), which is surely wrong"
    )
    return lat, lon


@dataclass
class Checked:
    """Typed columns computed during validation, applied to the frames only when there are no errors."""

    columns: dict[str, dict[str, Any]] = field(default_factory=dict)

    def set(self, file: str, column: str, values: Any) -> None:
        self.columns.setdefault(file, {})[column] = values
