"""Parsing one CSV file with exact line numbers: fast when the file is plain, careful (quote-aware,
vectorised) otherwise; malformed rows are reported and left out so the other checks still run. Text that
a spreadsheet would run as a formula is refused here, for every file read."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from twin.transport.gtfs.feed import DAYS, MAX_PROBLEMS
from twin.transport.gtfs.problems import Problems, cut, quote

# --------------------------------------------------------------------------------------------------
# Parsing one CSV file with exact line numbers


@dataclass
class Table:
    file: str
    df: pd.DataFrame
    lines: np.ndarray[Any, Any]  # int64 line of each row, same order as df
    missing: frozenset[str] = frozenset()  # required columns absent from the header (added as "")

    def has(self, column: str) -> bool:
        return column in self.df.columns and column not in self.missing

    def values(self, column: str) -> np.ndarray[Any, Any]:
        return np.asarray(self.df[column].to_numpy(dtype=object))


def _decode_error(data: bytes) -> tuple[int, str]:
    """The line and description of the first byte that is not UTF-8 (data known to be invalid)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return line, f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start}"
    return 1, "not UTF-8 text"


def header_names(data: bytes) -> list[str]:
    end = data.find(b"\n")
    first = data[: end if end >= 0 else len(data)].decode("utf-8-sig", errors="replace")
    return next(csv.reader([first.rstrip("\r")]), [])


def parse_table(
    file: str, data: bytes, problems: Problems, dtypes: dict[str, str] | None = None
) -> Table | None:
    """Parse one file; None (with an error) when it cannot be read at all.

    Rows with the wrong number of fields are reported and left out, so the other checks still run.
    """
    blank = b"\xef\xbb\xbf \t\r\n"
    if not data[:1024].strip(blank) and not data.strip(blank):
        problems.add("empty_file", file, None, None, "the file is empty (no header line)")
        return None
    if b"\n" not in data and b"\r" in data:
        data = data.replace(b"\r", b"\n")  # old Mac line ends: pandas splits on them, so must we

    raw_header = header_names(data)
    names = [name.strip() for name in raw_header]
    for index, name in enumerate(names):
        if not name:
            problems.add("empty_column_name", file, 1, None, f"column {index + 1} of the header has no name")
        elif name in names[:index]:
            problems.add(
                "duplicated_column", file, 1, name, f"column {quote(name)} appears twice in the header"
            )
    if len(set(names)) != len(names) or not all(names):
        return None
    dtypes = dtypes or {}
    raw_dtypes = {raw: dtypes[name] for raw, name in zip(raw_header, names, strict=True) if name in dtypes}

    # pandas decodes as it parses (cheaper than decoding first); only a failure needs the exact place.
    try:
        df = _fast_parse(data, len(names), raw_dtypes)
        if df is not None:
            lines = np.arange(2, len(df) + 2, dtype=np.int64)
        else:
            parsed = _careful_parse(file, data, len(names), raw_dtypes, problems)
            if parsed is None:
                return None
            df, lines = parsed
    except UnicodeDecodeError:
        line, message = _decode_error(data)
        problems.add("invalid_character", file, line, None, message)
        return None
    df.columns = names
    table = Table(file, df, lines)
    check_formulas(table, problems)
    return table


def _read_csv(data: bytes, dtypes: dict[str, str]) -> pd.DataFrame:
    """Parse as text, except ``dtypes`` columns when all their values fit (else those are text too)."""
    options: dict[str, Any] = {"keep_default_na": False, "encoding": "utf-8-sig", "index_col": False}
    if dtypes:
        try:
            return pd.read_csv(
                io.BytesIO(data), dtype={**dict.fromkeys(header_names(data), "str"), **dtypes}, **options
            )
        except (UnicodeDecodeError, pd.errors.ParserError):
            raise
        except (ValueError, OverflowError):
            pass  # some value is not a plain number: read it as text, for the checks to report exactly
    return pd.read_csv(io.BytesIO(data), dtype=str, **options)


def _fast_parse(data: bytes, width: int, dtypes: dict[str, str]) -> pd.DataFrame | None:
    """Parse when the file is plain (no quotes, no blank lines, every row ``width`` fields), else None.

    Plainness is proved from byte counts, which is far cheaper than splitting the rows ourselves: when
    pandas has neither failed on a long row nor skipped a line, the total count of commas can only
    be right if every row has exactly the right count.
    """
    if b'"' in data:
        return None
    records = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if data.count(b",") != (width - 1) * records:
        return None
    try:
        df = _read_csv(data, dtypes)
    except UnicodeDecodeError:
        raise
    except ValueError:  # ParserError included
        return None
    if len(df) != records - 1 or len(df.columns) != width:
        return None
    return df


def _careful_parse(
    file: str, data: bytes, width: int, dtypes: dict[str, str], problems: Problems
) -> tuple[pd.DataFrame, np.ndarray[Any, Any]] | None:
    """Split records ourselves (quote-aware, vectorised), report malformed rows and parse the rest."""
    raw = np.frombuffer(data, dtype=np.uint8)
    newline_at = np.flatnonzero(raw == ord("\n"))
    comma_at = np.flatnonzero(raw == ord(","))
    if b'"' in data:
        # Inside a quoted field iff an odd number of quote characters came before ("" keeps parity).
        quoted = np.logical_xor.accumulate(raw == ord('"'))
        if quoted[-1]:
            opening = int(np.flatnonzero(raw == ord('"'))[-1])
            starts_quoted = np.flatnonzero(np.diff(quoted.astype(np.int8)) == 1) + 1
            opening = int(starts_quoted[-1]) - 1 if len(starts_quoted) else opening
            line = int(np.searchsorted(newline_at, opening)) + 1
            problems.add("csv_parsing_failed", file, line, None, "a quoted field is never closed")
            return None
        ends = newline_at[~quoted[newline_at]]
        comma_at = comma_at[~quoted[comma_at]]
    else:
        ends = newline_at
    starts = np.concatenate(([0], ends + 1))
    ends = np.concatenate((ends, [len(raw)]))
    if starts[-1] >= len(raw):  # nothing after the final newline
        starts, ends = starts[:-1], ends[:-1]
    start_lines = np.searchsorted(newline_at, starts) + 1
    fields = np.searchsorted(comma_at, ends) - np.searchsorted(comma_at, starts) + 1

    blank = np.zeros(len(starts), dtype=bool)
    for index in np.flatnonzero(fields == 1).tolist():
        blank[index] = not data[starts[index] : ends[index]].strip(b"\xef\xbb\xbf \t\r")
    wrong = (fields != width) & ~blank
    wrong[0] = False  # the header defines the width
    for index in np.flatnonzero(wrong)[:MAX_PROBLEMS].tolist():
        problems.add(
            "invalid_row_length",
            file,
            int(start_lines[index]),
            None,
            f"expected {width} fields, found {int(fields[index])}",
        )
    problems.count["error"] += max(0, int(wrong.sum()) - MAX_PROBLEMS)

    keep = ~wrong & ~blank
    keep[0] = True
    if not keep.all():
        lengths = np.diff(np.concatenate((starts, [len(raw)])))
        data = raw[np.repeat(keep, lengths)].tobytes()
        if not data.endswith(b"\n"):
            data += b"\n"
    try:
        df = _read_csv(data, dtypes)
    except UnicodeDecodeError:
        raise
    except ValueError as exc:  # ParserError included
        problems.add("csv_parsing_failed", file, None, None, f"cannot be parsed as CSV: {cut(exc)}")
        return None
    lines = start_lines[keep][1:]
    if len(df) != len(lines) or len(df.columns) != width:
        problems.add(
            "csv_parsing_failed", file, None, None, "cannot be parsed as CSV (stray quote characters?)"
        )
        return None
    return df, lines.astype(np.int64)


# --------------------------------------------------------------------------------------------------
# Text a spreadsheet would run as a formula (CSV injection, OWASP)

FORMULA_START = "=@+-\t\r"
"""A cell starting with one of these is taken for a formula by spreadsheets (OWASP, CSV injection): ``=``,
``@``, ``+`` or ``-`` (unless the value is a plain number), tab, carriage return."""

PLAIN_NUMBER_RE = r"[+-](?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
"""A signed number (``-1.5``, ``+3``, ``-2e3``): a spreadsheet reads it as a number, not a formula."""

TYPED_COLUMNS: dict[str, frozenset[str]] = {
    "stops.txt": frozenset({"stop_lat", "stop_lon", "location_type"}),
    "routes.txt": frozenset({"route_type"}),
    "trips.txt": frozenset({"direction_id"}),
    "stop_times.txt": frozenset({"arrival_time", "departure_time", "stop_sequence"}),
    "calendar.txt": frozenset({*DAYS, "start_date", "end_date"}),
    "calendar_dates.txt": frozenset({"date", "exception_type"}),
    "frequencies.txt": frozenset({"start_time", "end_time", "headway_secs"}),
    "shapes.txt": frozenset({"shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"}),
    "feed_info.txt": frozenset({"feed_start_date", "feed_end_date"}),
}
"""Columns the checks parse as numbers, times, dates or enumerations: other text in them is reported
there, and the parsed value is what the feed keeps, so they are not searched for formulas (the largest
of stop_times.txt among them)."""


def _shown(value: object) -> str:
    """A value quoted and cut for a message, its tabs and line ends visible."""
    return quote(str(value).translate({9: "\\t", 10: "\\n", 13: "\\r"}))


def _formula_start(values: pd.Series) -> np.ndarray[Any, Any]:
    """Whether each value starts like a formula (plain signed numbers excepted)."""
    suspect = values.str.startswith(tuple(FORMULA_START)).to_numpy(dtype=bool, copy=True)
    if suspect.any():
        # Few values start so; only those with a sign need the closer look.
        at = np.flatnonzero(suspect)
        candidates = values.iloc[at]
        signed = candidates.str.startswith(("+", "-")).to_numpy(dtype=bool)
        number = candidates.str.fullmatch(PLAIN_NUMBER_RE).to_numpy(dtype=bool)
        suspect[at[signed & number]] = False
    return np.asarray(suspect)


def check_formulas(table: Table, problems: Problems) -> None:
    """csv_formula_injection: every text cell (and column name) a spreadsheet would run as a formula,
    one error each; vectorised per column, typed and numeric columns skipped."""
    for name in table.df.columns:
        if name.startswith(tuple(FORMULA_START)) and not re.fullmatch(PLAIN_NUMBER_RE, name):
            problems.add(
                "csv_formula_injection",
                table.file,
                1,
                None,
                f"column name {_shown(name)} would run as a formula in a spreadsheet",
            )
    skipped = TYPED_COLUMNS.get(table.file, frozenset())
    for name in table.df.columns:
        values = table.df[name]
        if name in skipped or not pd.api.types.is_string_dtype(values.dtype):
            continue
        formula = _formula_start(values)
        if formula.any():
            problems.rows("csv_formula_injection", table, formula, name, _formula_message(table.values(name)))


def _formula_message(shown: np.ndarray[Any, Any]) -> Callable[[int], str]:
    return lambda pos: f"{_shown(shown[pos])} would run as a formula in a spreadsheet"
