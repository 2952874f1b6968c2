"""Reading and validating a GTFS static feed (a zip file or a folder) into pandas DataFrames.

Pure Python: no database and no web framework. :func:`read_feed` returns a :class:`Feed` of typed frames, or
raises :class:`FeedError` listing what is wrong, each :class:`Problem` with the real line of the file (the
header is line 1, the first data row line 2), so a feed's producer can find and fix it.

Everything that scales with ``stop_times.txt`` is vectorised: values are parsed once per distinct value
(``pd.factorize``) and checked with ``isin``/sorting, never with a Python loop over rows.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = ["Feed", "FeedError", "Problem", "factorize", "read_feed"]

Severity = Literal["error", "warning"]

MAX_PROBLEMS = 200
"""Problems kept per severity; the rest are counted in one final Problem."""

_VALUE_CHARS = 80
_SUMMARY_PROBLEMS = 5

# The "file" of problems that concern the feed as a whole rather than one of its files.
_FEED = "(feed)"

_REQUIRED_FILES = ("agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
_OPTIONAL_FILES = ("calendar.txt", "calendar_dates.txt", "frequencies.txt", "shapes.txt", "feed_info.txt")

_REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
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
_OPTIONAL_TEXT_COLUMNS: dict[str, tuple[str, ...]] = {
    "agency.txt": ("agency_id",),
    "stops.txt": ("stop_code", "stop_desc", "parent_station", "wheelchair_boarding", "zone_id"),
    "routes.txt": ("agency_id", "route_long_name", "route_short_name", "route_color", "route_text_color"),
    "trips.txt": ("trip_headsign", "shape_id", "block_id"),
}

# Parsed while reading when every value fits (most feeds): much cheaper than text, then parsing.
# uint32 refuses negatives; the few forms it accepts beyond plain digits ("+1", "1.0") are integers still.
_FAST_TYPES = {"stop_times.txt": {"stop_sequence": "uint32"}}

_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_TIME_RE = r"(\d{1,2}):([0-5]\d):([0-5]\d)"
_DATE_RE = r"\d{8}"
_UINT_RE = r"[0-9]+"


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
    """

    severity: Severity
    file: str
    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f" line {self.line}"
        if self.column is not None:
            where += f" column {self.column}"
        return f"{where}: {self.message}"


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
        text = f"{self.error_count} {noun}: " + "; ".join(str(p) for p in errors[:_SUMMARY_PROBLEMS])
        if self.error_count > _SUMMARY_PROBLEMS:
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


# --------------------------------------------------------------------------------------------------
# Problems


def _cut(value: object) -> str:
    text = str(value)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"


def _q(value: object) -> str:
    return f"'{_cut(value)}'"


def _quoted(shown: np.ndarray[Any, Any], before: str, after: str = "") -> Callable[[int], str]:
    """A row's message quoting its value in ``shown``."""
    return lambda pos: f"{before}{_q(shown[pos])}{after}"


class _Problems:
    """Collects problems, materialising at most MAX_PROBLEMS per severity but counting all."""

    def __init__(self) -> None:
        self.kept: dict[Severity, list[Problem]] = {"error": [], "warning": []}
        self.count: dict[Severity, int] = {"error": 0, "warning": 0}

    def add(self, severity: Severity, file: str, line: int | None, column: str | None, message: str) -> None:
        self.count[severity] += 1
        if len(self.kept[severity]) < MAX_PROBLEMS:
            self.kept[severity].append(Problem(severity, file, line, column, message))

    def rows(
        self,
        severity: Severity,
        table: _Table,
        mask: np.ndarray[Any, Any],
        column: str | None,
        message: Callable[[int], str],
    ) -> int:
        """One problem per row of ``mask`` (bool per row); ``message`` gets the row's position."""
        positions = np.flatnonzero(mask)
        room = max(0, MAX_PROBLEMS - len(self.kept[severity]))
        for pos in positions[:room].tolist():
            self.kept[severity].append(
                Problem(severity, table.file, int(table.lines[pos]), column, message(pos))
            )
        self.count[severity] += len(positions)
        return len(positions)

    def _capped(self, severity: Severity) -> list[Problem]:
        kept = list(self.kept[severity])
        omitted = self.count[severity] - len(kept)
        if omitted:
            kept.append(Problem(severity, _FEED, None, None, f"{omitted} more {severity}s omitted"))
        return kept

    def raise_if_errors(self) -> None:
        if self.count["error"]:
            raise FeedError(self._capped("error") + self._capped("warning"), self.count["error"])

    def warnings(self) -> list[Problem]:
        return self._capped("warning")


# --------------------------------------------------------------------------------------------------
# Getting the files' bytes


def _read_files(source: Path, problems: _Problems) -> dict[str, bytes]:
    """The bytes of the feed's known files by name; a member that cannot be read is an error."""
    if source.is_dir():
        return {name: path.read_bytes() for name, path in _folder_files(source).items()}
    if not source.is_file():
        raise FeedError(
            [Problem("error", source.name, None, None, f"no such file or folder: {_cut(source)}")]
        )
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        detail = "an empty file" if source.stat().st_size == 0 else str(exc)
        problem = Problem("error", source.name, None, None, f"not a zip file ({_cut(detail)})")
        raise FeedError([problem]) from None
    files = {}
    unpacked = 0
    with archive:
        for name, member in _zip_files(archive).items():
            try:
                files[name] = _read_member(archive, member, MAX_UNPACKED_BYTES - unpacked)
            except _TooLarge:
                # A zip bomb, or a feed far beyond any city's: refused before it is in memory.
                raise FeedError(
                    [
                        Problem(
                            "error",
                            name,
                            None,
                            None,
                            f"the feed unpacks to more than {MAX_UNPACKED_BYTES // 2**20} MiB; "
                            "it is not read any further",
                        )
                    ]
                ) from None
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
                problems.add("error", name, None, None, f"cannot be read from the zip: {_cut(exc)}")
                continue
            unpacked += len(files[name])
    return files


MAX_UNPACKED_BYTES = 2**30
"""The most a zipped feed may unpack to (the whole of Sofia's is 18 MiB; a national feed of several
GiB is not a city's). Counted while reading, since a zip's declared sizes can lie."""


class _TooLarge(Exception):
    pass


def _read_member(archive: zipfile.ZipFile, member: str, budget: int) -> bytes:
    if archive.getinfo(member).file_size > budget:
        raise _TooLarge
    chunks = []
    with archive.open(member) as stream:
        while chunk := stream.read(1 << 20):
            budget -= len(chunk)
            if budget < 0:
                raise _TooLarge
            chunks.append(chunk)
    return b"".join(chunks)


def _folder_files(folder: Path) -> dict[str, Path]:
    wanted = set(_REQUIRED_FILES + _OPTIONAL_FILES)
    files = {p.name: p for p in folder.iterdir() if p.is_file() and p.name in wanted}
    if not files:
        # Unpacked feeds often keep the zip's own top folder.
        subfolders = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))]
        if len(subfolders) == 1:
            return _folder_files(subfolders[0])
    return files


def _zip_files(archive: zipfile.ZipFile) -> dict[str, str]:
    """Member names by file name: those at the top, else those of the one folder that has any."""
    wanted = set(_REQUIRED_FILES + _OPTIONAL_FILES)
    by_folder: dict[str, dict[str, str]] = {}
    for info in archive.infolist():
        if info.is_dir() or info.filename.startswith("__MACOSX/"):
            continue
        folder, _, name = info.filename.rpartition("/")
        if name in wanted:
            by_folder.setdefault(folder, {})[name] = info.filename
    if "" in by_folder:
        return by_folder[""]
    return next(iter(by_folder.values())) if len(by_folder) == 1 else {}


# --------------------------------------------------------------------------------------------------
# Parsing one CSV file with exact line numbers


@dataclass
class _Table:
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


def _header(data: bytes) -> list[str]:
    end = data.find(b"\n")
    first = data[: end if end >= 0 else len(data)].decode("utf-8-sig", errors="replace")
    return next(csv.reader([first.rstrip("\r")]), [])


def _parse_table(
    file: str, data: bytes, problems: _Problems, dtypes: dict[str, str] | None = None
) -> _Table | None:
    """Parse one file; None (with an error) when it cannot be read at all.

    Rows with the wrong number of fields are reported and left out, so the other checks still run.
    """
    blank = b"\xef\xbb\xbf \t\r\n"
    if not data[:1024].strip(blank) and not data.strip(blank):
        problems.add("error", file, None, None, "the file is empty (no header line)")
        return None
    if b"\n" not in data and b"\r" in data:
        data = data.replace(b"\r", b"\n")  # old Mac line ends: pandas splits on them, so must we

    raw_header = _header(data)
    names = [name.strip() for name in raw_header]
    for index, name in enumerate(names):
        if not name:
            problems.add("error", file, 1, None, f"column {index + 1} of the header has no name")
        elif name in names[:index]:
            problems.add("error", file, 1, name, f"column {_q(name)} appears twice in the header")
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
        problems.add("error", file, line, None, message)
        return None
    df.columns = names
    return _Table(file, df, lines)


def _read_csv(data: bytes, dtypes: dict[str, str]) -> pd.DataFrame:
    """Parse as text, except ``dtypes`` columns when all their values fit (else those are text too)."""
    options: dict[str, Any] = {"keep_default_na": False, "encoding": "utf-8-sig", "index_col": False}
    if dtypes:
        try:
            return pd.read_csv(
                io.BytesIO(data), dtype={**dict.fromkeys(_header(data), "str"), **dtypes}, **options
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
    file: str, data: bytes, width: int, dtypes: dict[str, str], problems: _Problems
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
            problems.add("error", file, line, None, "a quoted field is never closed")
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
            "error",
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
        problems.add("error", file, None, None, f"cannot be parsed as CSV: {_cut(exc)}")
        return None
    lines = start_lines[keep][1:]
    if len(df) != len(lines) or len(df.columns) != width:
        problems.add("error", file, None, None, "cannot be parsed as CSV (stray quote characters?)")
        return None
    return df, lines.astype(np.int64)


# --------------------------------------------------------------------------------------------------
# Value parsing, vectorised over distinct values


_Parser = Callable[[pd.Series], tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]


def factorize(values: pd.Series) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Integer codes per row (intp) and the distinct strings they index, in order of first appearance;
    cheaper than pandas' own when equal values come in runs (as trip_id does in stop_times)."""
    return _codes(values, grouped=True)


def _codes(values: pd.Series, grouped: bool = False) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Integer codes per row and the distinct strings they index; ``grouped``: equal values are likely
    to be in one run of rows (as trip_id is in stop_times)."""
    text = values.to_numpy(dtype=object)
    if grouped and len(text) > 1:
        # Feeds usually keep each trip's rows together: then numbering the runs is the factorization,
        # and comparing neighbours is cheaper than hashing every row.
        starts = np.concatenate(([0], np.flatnonzero(text[1:] != text[:-1]) + 1))
        heads = text[starts]
        if len(heads) <= len(text) // 2 and len(pd.unique(heads)) == len(heads):
            step = np.zeros(len(text), dtype=np.intp)
            step[starts[1:]] = 1
            return np.cumsum(step), np.asarray(heads, dtype=object)
    # Factorizing the object array is about twice as fast as factorizing the str Series.
    codes, uniques = pd.factorize(text)
    return codes, np.asarray(uniques, dtype=object)


def _by_distinct(values: pd.Series, parse: _Parser) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Apply ``parse`` (distinct strings → numbers, invalid flags) once per distinct value."""
    codes, uniques = _codes(values)
    parsed, invalid = parse(pd.Series(uniques, dtype=object))
    return parsed[codes], invalid[codes]


def _parse_times(distinct: pd.Series) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Seconds (float64, NaN when empty or invalid) and whether the text is invalid."""
    text = distinct.str.strip()
    parts = text.str.fullmatch(_TIME_RE)
    matched = text.str.extract(f"^{_TIME_RE}$").astype(float)
    seconds = (matched[0] * 3600 + matched[1] * 60 + matched[2]).to_numpy(dtype=np.float64)
    invalid = (~parts.to_numpy(dtype=bool)) & (text != "").to_numpy(dtype=bool)
    return seconds, invalid


def _parse_uint(distinct: pd.Series) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Non-negative integers (float64, NaN when not one) and whether the text is not one."""
    valid = distinct.str.fullmatch(_UINT_RE).to_numpy(dtype=bool)
    numbers = np.full(len(distinct), np.nan)
    numbers[valid] = pd.to_numeric(distinct[valid]).to_numpy(dtype=np.float64)
    return numbers, ~valid


def _parse_dates(distinct: pd.Series) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Dates (datetime64[D], NaT when invalid) and whether the text is not a YYYYMMDD date."""
    shaped = distinct.str.fullmatch(_DATE_RE).to_numpy(dtype=bool)
    dates = pd.to_datetime(distinct.where(shaped, None), format="%Y%m%d", errors="coerce")
    days = dates.to_numpy(dtype="datetime64[D]")
    return days, np.isnat(days)


def _parse_float(distinct: pd.Series) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    text = distinct.str.strip()
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    return numbers, np.isnan(numbers) & (text != "").to_numpy(dtype=bool)


def _hms(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


# --------------------------------------------------------------------------------------------------
# Checks shared by several files


def _check_columns(table: _Table, problems: _Problems, required: Iterable[str]) -> _Table:
    missing = [c for c in required if c not in table.df.columns]
    for column in missing:
        problems.add("error", table.file, None, column, "required column is missing")
    if missing:
        table.df = table.df.assign(**dict.fromkeys(missing, ""))
        table.missing = frozenset(missing)
    return table


def _check_filled(table: _Table, problems: _Problems, columns: Iterable[str]) -> None:
    for column in columns:
        if table.has(column):
            empty = (table.df[column] == "").to_numpy(dtype=bool)
            problems.rows("error", table, empty, column, lambda _pos: "required value is empty")


def _check_unique(table: _Table, problems: _Problems, columns: list[str], what: str) -> None:
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
        shown = _q(key[0]) if len(key) == 1 else "(" + ", ".join(_q(k) for k in key) + ")"
        return f"duplicate {what} {shown}, first on line {first_line[key]}"

    problems.rows("error", table, repeat, column, message)


def _check_reference(
    table: _Table,
    column: str,
    known: pd.Series | np.ndarray[Any, Any],
    problems: _Problems,
    what: str,
    severity: Severity = "error",
) -> None:
    """Non-empty values of ``column`` must be among ``known``."""
    if not table.has(column):
        return
    values = table.df[column]
    distinct = pd.Series(values.unique())
    unknown = distinct[~distinct.isin(known) & (distinct != "")]
    if unknown.empty:
        return
    mask = values.isin(unknown).to_numpy(dtype=bool)
    shown = table.values(column)
    problems.rows(severity, table, mask, column, lambda pos: f"unknown {what} {_q(shown[pos])}")


def _check_enum(
    table: _Table, column: str, allowed: set[str], problems: _Problems, allow_empty: bool = True
) -> None:
    if not table.has(column):
        return
    values = table.df[column]
    ok = values.isin(list(allowed)) | ((values == "") if allow_empty else False)
    shown = table.values(column)
    listed = ", ".join(sorted(allowed, key=lambda v: (len(v), v)))
    problems.rows(
        "error",
        table,
        ~ok.to_numpy(dtype=bool),
        column,
        lambda pos: (
            f"invalid value {_q(shown[pos])} (expected one of {listed}{', or empty' if allow_empty else ''})"
        ),
    )


def _numbers(
    table: _Table,
    column: str,
    problems: _Problems,
    parse: _Parser,
    expected: str,
    same_as: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None = None,
) -> np.ndarray[Any, Any]:
    """Parse a column by distinct value, reporting each invalid value.

    ``same_as`` is the (parsed, invalid) result of another column known to hold the same text.
    """
    values = table.df[column]
    if values.dtype.kind in "iu":  # already parsed as unsigned integers while reading
        return np.asarray(values.to_numpy(dtype=np.float64))
    parsed, invalid = same_as if same_as is not None else _by_distinct(values, parse)
    if invalid.any():
        shown = table.values(column)
        problems.rows("error", table, invalid, column, lambda pos: f"{_q(shown[pos])} is not {expected}")
    return parsed


def _check_coordinates(
    table: _Table, lat_col: str, lon_col: str, needed: np.ndarray[Any, Any], problems: _Problems
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Latitude and longitude in degrees (NaN when absent); ``needed`` marks rows that must have them."""
    coords = []
    for column, limit in ((lat_col, 90.0), (lon_col, 180.0)):
        if not table.has(column):
            coords.append(np.full(len(table.df), np.nan))
            continue
        values = _numbers(table, column, problems, _parse_float, "a number")
        shown = table.values(column)
        outside = np.abs(np.nan_to_num(values)) > limit
        problems.rows(
            "error",
            table,
            outside,
            column,
            _quoted(shown, "", f" is outside −{limit:g}..{limit:g}"),
        )
        empty = needed & (shown == "")
        problems.rows("error", table, empty, column, lambda _pos: "required value is empty")
        coords.append(values)
    lat, lon = coords
    zero = (lat == 0) & (lon == 0)
    problems.rows("warning", table, zero, None, lambda _pos: "position is (0, 0), which is surely wrong")
    return lat, lon


# --------------------------------------------------------------------------------------------------
# File by file


def _route_type_ok(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    basic = np.isin(values, [0, 1, 2, 3, 4, 5, 6, 7, 11, 12])
    extended = (values >= 100) & (values <= 1702)
    return np.asarray(basic | extended)


@dataclass
class _Checked:
    """Typed columns computed during validation, applied to the frames only when there are no errors."""

    columns: dict[str, dict[str, Any]] = field(default_factory=dict)

    def set(self, file: str, column: str, values: Any) -> None:
        self.columns.setdefault(file, {})[column] = values


def _check_agency(table: _Table, problems: _Problems) -> None:
    _check_filled(table, problems, _REQUIRED_COLUMNS["agency.txt"])
    if len(table.df) > 1:
        _check_filled(table, problems, ["agency_id"])
        _check_unique(table, problems, ["agency_id"], "agency_id")


def _check_stops(table: _Table, problems: _Problems, typed: _Checked) -> None:
    n = len(table.df)
    _check_filled(table, problems, ["stop_id"])
    _check_unique(table, problems, ["stop_id"], "stop_id")
    if "location_type" in table.df.columns:
        _check_enum(table, "location_type", {"0", "1", "2", "3", "4"}, problems)
        text = table.df["location_type"]
        location = pd.to_numeric(text.where(text.isin(["0", "1", "2", "3", "4"]), "0")).to_numpy(np.int64)
    else:
        location = np.zeros(n, dtype=np.int64)
    typed.set("stops.txt", "location_type", location)
    needed = location <= 2
    for column in ("stop_name", "stop_lat", "stop_lon"):
        if column not in table.df.columns and needed.any():
            problems.add(
                "error", table.file, None, column, "required column is missing (needed for location_type 0–2)"
            )
            table.df[column] = ""
            table.missing |= {column}
    if table.has("stop_name"):
        empty = needed & (table.df["stop_name"] == "").to_numpy(dtype=bool)
        problems.rows("error", table, empty, "stop_name", lambda _pos: "required value is empty")
    lat, lon = _check_coordinates(table, "stop_lat", "stop_lon", needed, problems)
    typed.set("stops.txt", "stop_lat", lat)
    typed.set("stops.txt", "stop_lon", lon)
    if "parent_station" in table.df.columns:
        _check_reference(table, "parent_station", table.df["stop_id"], problems, "parent_station")


def _check_routes(table: _Table, agency: _Table | None, problems: _Problems, typed: _Checked) -> None:
    _check_filled(table, problems, ["route_id", "route_type"])
    _check_unique(table, problems, ["route_id"], "route_id")
    has_short, has_long = "route_short_name" in table.df.columns, "route_long_name" in table.df.columns
    if not (has_short or has_long):
        problems.add(
            "error", table.file, None, "route_short_name", "needs route_short_name or route_long_name"
        )
    else:
        short = table.df["route_short_name"] if has_short else pd.Series("", index=table.df.index)
        long = table.df["route_long_name"] if has_long else pd.Series("", index=table.df.index)
        nameless = ((short == "") & (long == "")).to_numpy(dtype=bool)
        problems.rows(
            "error", table, nameless, None, lambda _pos: "needs a route_short_name or a route_long_name"
        )
    if table.has("route_type"):
        types = _numbers(table, "route_type", problems, _parse_uint, "a route type")
        valid = _route_type_ok(np.nan_to_num(types, nan=-1))
        shown = table.values("route_type")
        bad = ~valid & ~np.isnan(types)
        problems.rows(
            "error",
            table,
            bad,
            "route_type",
            lambda pos: f"{_q(shown[pos])} is not a GTFS route type (0–7, 11, 12 or 100–1702)",
        )
        typed.set("routes.txt", "route_type", types)
    if agency is not None and "agency_id" in table.df.columns:
        ids = agency.df["agency_id"]
        if (ids != "").any():
            _check_reference(table, "agency_id", ids, problems, "agency_id")
        if len(agency.df) > 1:
            _check_filled(table, problems, ["agency_id"])


def _check_trips(
    table: _Table,
    routes: _Table | None,
    services: pd.Series | None,
    shapes: _Table | None,
    problems: _Problems,
    typed: _Checked,
) -> None:
    _check_filled(table, problems, _REQUIRED_COLUMNS["trips.txt"])
    _check_unique(table, problems, ["trip_id"], "trip_id")
    if routes is not None:
        _check_reference(table, "route_id", routes.df["route_id"], problems, "route_id")
    if services is not None:
        _check_reference(
            table, "service_id", services, problems, "service_id (not in calendar or calendar_dates)"
        )
    if "direction_id" in table.df.columns:
        _check_enum(table, "direction_id", {"0", "1"}, problems)
        text = table.df["direction_id"]
        direction = pd.to_numeric(text.where(text.isin(["0", "1"]), None)).to_numpy(dtype=np.float64)
        typed.set("trips.txt", "direction_id", pd.array(direction, dtype="Int64"))
    if "shape_id" in table.df.columns:
        if shapes is not None:
            _check_reference(table, "shape_id", shapes.df["shape_id"], problems, "shape_id")
        else:
            with_shape = int((table.df["shape_id"] != "").sum())
            if with_shape:
                problems.add(
                    "warning",
                    table.file,
                    None,
                    "shape_id",
                    f"{with_shape} trips name a shape_id but the feed has no shapes.txt",
                )


def _check_stop_times(
    table: _Table,
    trips: _Table | None,
    stops: _Table | None,
    problems: _Problems,
    typed: _Checked,
) -> None:
    df, lines, file = table.df, table.lines, table.file
    n = len(df)
    trip_codes, trip_uniques = _codes(df["trip_id"], grouped=True)
    stop_uniques = np.asarray(pd.unique(df["stop_id"].to_numpy(dtype=object)), dtype=object)
    for column, uniques, known, what in (
        ("trip_id", trip_uniques, trips, "trip"),
        ("stop_id", stop_uniques, stops, "stop"),
    ):
        if not table.has(column):
            continue
        # Checked on the distinct values first: rows are only looked at when something is wrong.
        empty = uniques == ""
        if empty.any():
            problems.rows(
                "error",
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
                "error",
                table,
                df[column].isin(uniques[unknown]).to_numpy(dtype=bool),
                column,
                _quoted(shown, f"unknown {what} "),
            )

    if table.has("stop_sequence"):
        seq = _numbers(table, "stop_sequence", problems, _parse_uint, "a non-negative integer")
    else:
        seq = np.full(n, np.nan)
    times = {}
    same_as = None
    if table.has("arrival_time") and table.has("departure_time"):
        # Most feeds repeat the arrival as the departure; comparing is cheaper than parsing twice.
        arrival_text = df["arrival_time"].to_numpy(dtype=object)
        if (arrival_text == df["departure_time"].to_numpy(dtype=object)).all():
            same_as = _by_distinct(df["arrival_time"], _parse_times)
    for column in ("arrival_time", "departure_time"):
        if table.has(column):
            times[column] = _numbers(
                table, column, problems, _parse_times, "a time (H:MM:SS, hours 0–99)", same_as
            )
        else:
            times[column] = np.full(n, np.nan)
    arrival_given, departure_given = times["arrival_time"], times["departure_time"]
    early = departure_given < arrival_given
    if early.any():
        problems.rows(
            "error",
            table,
            early,
            "departure_time",
            lambda pos: (
                f"departure_time {_hms(departure_given[pos])} is before arrival_time "
                f"{_hms(arrival_given[pos])}"
            ),
        )
    arrival = np.where(np.isnan(arrival_given), departure_given, arrival_given)
    departure = np.where(np.isnan(departure_given), arrival_given, departure_given)
    untimed = np.isnan(arrival)
    typed.set(file, "arrival_s", arrival)
    typed.set(file, "departure_s", departure)
    if untimed.any():
        problems.add(
            "warning",
            file,
            None,
            None,
            f"{int(untimed.sum())} stop_times have neither arrival_time nor departure_time "
            "(kept, with no time)",
        )

    # Along each trip in stop_sequence order; the sort is skipped when the file is already in that order,
    # as feeds usually are (factorize numbers trips in order of first appearance).
    seq_key = np.nan_to_num(seq, nan=-1.0)
    same_next = trip_codes[1:] == trip_codes[:-1]
    in_order = bool(np.all(trip_codes[1:] >= trip_codes[:-1])) and bool(
        np.all((seq_key[1:] > seq_key[:-1]) | ~same_next)
    )
    if in_order:
        order = np.arange(n)
        s_trip, s_seq, s_arr, s_dep = trip_codes, seq_key, arrival, departure
    else:
        order = np.lexsort((seq_key, trip_codes))
        s_trip, s_seq = trip_codes[order], seq_key[order]
        s_arr, s_dep = arrival[order], departure[order]
    same_prev = np.zeros(n, dtype=bool)
    same_prev[1:] = s_trip[1:] == s_trip[:-1]
    # A trip with an invalid stop_sequence has no known order: it is reported once, not again here.
    ordered: np.ndarray[Any, Any] | bool = True
    bad_seq = np.isnan(seq)
    if bad_seq.any():
        unordered_trip = np.zeros(len(trip_uniques), dtype=bool)
        unordered_trip[trip_codes[bad_seq]] = True
        ordered = ~unordered_trip[s_trip]

    repeat = np.zeros(n, dtype=bool)
    repeat[1:] = same_prev[1:] & (s_seq[1:] == s_seq[:-1])
    repeat &= ordered
    if repeat.any():
        trip_text = trip_uniques
        pair_b = order[repeat]
        pair_a = order[np.flatnonzero(repeat) - 1]
        # Reported on the later line of each pair, whichever order the file has them in.
        later = np.where(lines[pair_a] > lines[pair_b], pair_a, pair_b)
        first_of = np.zeros(n, dtype=np.int64)
        first_of[later] = np.minimum(lines[pair_a], lines[pair_b])
        report = np.zeros(n, dtype=bool)
        report[later] = True
        problems.rows(
            "error",
            table,
            report,
            None,
            lambda pos: (
                f"duplicate (trip_id, stop_sequence) ({_q(trip_text[trip_codes[pos]])}, "
                f"{int(seq[pos])}), first on line {first_of[pos]}"
            ),
        )

    # The latest departure before each row within its trip: carry the last timed row's index forward.
    timed_index = np.where(np.isnan(s_dep), -1, np.arange(n))
    last_timed = np.maximum.accumulate(timed_index) if n else timed_index
    prev_timed = np.concatenate(([-1], last_timed[:-1]))
    prev_at = np.maximum(prev_timed, 0)
    has_prev = (prev_timed >= 0) & (s_trip[prev_at] == s_trip)
    prev_dep = np.where(has_prev, s_dep[prev_at], np.nan)
    backwards_sorted = (s_arr < prev_dep) & ordered  # NaN compares False: untimed rows drop out
    if backwards_sorted.any():
        backwards = np.zeros(n, dtype=bool)
        backwards[order[backwards_sorted]] = True
        prev_dep_row = np.full(n, np.nan)
        prev_dep_row[order] = prev_dep
        problems.rows(
            "error",
            table,
            backwards,
            "arrival_time",
            lambda pos: (
                f"time {_hms(arrival[pos])} is before the previous stop's departure "
                f"{_hms(prev_dep_row[pos])} (times must not go backwards along stop_sequence)"
            ),
        )

    # GTFS requires times at a trip's first and last stop.
    last = np.ones(n, dtype=bool)
    last[:-1] = ~same_prev[1:]
    ends_untimed_sorted = (~same_prev | last) & np.isnan(s_arr) & ordered
    if ends_untimed_sorted.any():
        ends_untimed = np.zeros(n, dtype=bool)
        ends_untimed[order[ends_untimed_sorted]] = True
        problems.rows(
            "error",
            table,
            ends_untimed,
            None,
            lambda _pos: "the first and last stop of a trip need an arrival_time and a departure_time",
        )
    typed.set(file, "stop_sequence", seq)

    if trips is not None:
        per_trip = np.bincount(trip_codes, minlength=len(trip_uniques))
        where = pd.Index(trip_uniques).get_indexer(trips.df["trip_id"])
        counts = np.where(where >= 0, per_trip[np.maximum(where, 0)], 0)
        short = int((counts < 2).sum())
        if short:
            examples = ", ".join(_q(t) for t in trips.df["trip_id"][counts < 2].head(3))
            problems.add(
                "warning",
                trips.file,
                None,
                None,
                f"{short} trips have fewer than 2 stop_times (e.g. {examples})",
            )
    if stops is not None:
        used = pd.Series(stop_uniques, dtype=object)
        location = typed.columns.get("stops.txt", {}).get("location_type")
        plain = stops.df["stop_id"][location == 0] if location is not None else stops.df["stop_id"]
        unused = plain[~plain.isin(used)]
        if len(unused):
            examples = ", ".join(_q(s) for s in unused.head(3))
            problems.add(
                "warning",
                stops.file,
                None,
                None,
                f"{len(unused)} stops are never used by stop_times (e.g. {examples})",
            )


def _check_calendar(table: _Table, problems: _Problems, typed: _Checked) -> None:
    _check_filled(table, problems, ["service_id"])
    _check_unique(table, problems, ["service_id"], "service_id")
    for day in _DAYS:
        if table.has(day):
            _check_enum(table, day, {"0", "1"}, problems, allow_empty=False)
            typed.set(table.file, day, (table.df[day] == "1").to_numpy(dtype=bool))
    dates = {}
    for column in ("start_date", "end_date"):
        if table.has(column):
            dates[column] = _numbers(table, column, problems, _parse_dates, "a date (YYYYMMDD)")
            typed.set(table.file, column, dates[column])
    if len(dates) == 2:
        reversed_ = dates["end_date"] < dates["start_date"]
        shown = table.values("end_date")
        start = table.values("start_date")
        problems.rows(
            "error",
            table,
            reversed_,
            "end_date",
            lambda pos: f"end_date {_q(shown[pos])} is before start_date {_q(start[pos])}",
        )


def _check_calendar_dates(table: _Table, problems: _Problems, typed: _Checked) -> None:
    _check_filled(table, problems, ["service_id"])
    if table.has("date"):
        typed.set(table.file, "date", _numbers(table, "date", problems, _parse_dates, "a date (YYYYMMDD)"))
    _check_enum(table, "exception_type", {"1", "2"}, problems, allow_empty=False)
    if table.has("exception_type"):
        text = table.df["exception_type"]
        typed.set(
            table.file,
            "exception_type",
            pd.to_numeric(text.where(text.isin(["1", "2"]), "1")).to_numpy(np.int64),
        )
    _check_unique(table, problems, ["service_id", "date"], "(service_id, date)")


def _check_frequencies(table: _Table, trips: _Table | None, problems: _Problems, typed: _Checked) -> None:
    _check_filled(table, problems, _REQUIRED_COLUMNS["frequencies.txt"])
    if trips is not None:
        _check_reference(table, "trip_id", trips.df["trip_id"], problems, "trip")
    bounds = {}
    for column, target in (("start_time", "start_s"), ("end_time", "end_s")):
        if table.has(column):
            bounds[column] = _numbers(table, column, problems, _parse_times, "a time (H:MM:SS, hours 0–99)")
            typed.set(table.file, target, bounds[column])
    if len(bounds) == 2:
        shown = table.values("end_time")
        problems.rows(
            "error",
            table,
            bounds["end_time"] <= bounds["start_time"],
            "end_time",
            lambda pos: f"end_time {_q(shown[pos])} is not after start_time",
        )
    if table.has("headway_secs"):
        headway = _numbers(table, "headway_secs", problems, _parse_uint, "a whole number of seconds")
        shown = table.values("headway_secs")
        problems.rows(
            "error", table, headway == 0, "headway_secs", lambda pos: "headway_secs must be positive"
        )
        problems.rows(
            "error",
            table,
            (headway > 0) & (headway < MIN_HEADWAY_S),
            "headway_secs",
            lambda pos: (
                f"headway_secs {_q(shown[pos])} is below {MIN_HEADWAY_S} s: not a timetable "
                "the twin expands into departures"
            ),
        )
        typed.set(table.file, "headway_secs", headway)
        if len(bounds) == 2:
            _check_frequency_periods(table, bounds["start_time"], bounds["end_time"], headway, problems)
    _check_unique(table, problems, ["trip_id", "start_time"], "(trip_id, start_time)")


MIN_HEADWAY_S = 60
MAX_FREQUENCY_RUNS = 1_000_000
"""Trips that frequencies.txt may expand to in all (Sofia's whole feed has 26,245 trips): every run is
read back as rows by the schedule of a service day."""


def _check_frequency_periods(
    table: _Table,
    start: np.ndarray[Any, Any],
    end: np.ndarray[Any, Any],
    headway: np.ndarray[Any, Any],
    problems: _Problems,
) -> None:
    """A trip's periods may not overlap (its runs would count twice), and the runs in all are bounded."""
    valid = np.isfinite(start) & np.isfinite(end) & np.isfinite(headway) & (headway > 0) & (end > start)
    if not valid.any():
        return
    runs = np.ceil((end[valid] - start[valid]) / headway[valid])
    total = int(runs.sum())
    if total > MAX_FREQUENCY_RUNS:
        problems.add(
            "error",
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
            "error",
            table,
            rows,
            "start_time",
            lambda pos: "this period overlaps the trip's previous one (its runs would count twice)",
        )


def _check_shapes(table: _Table, problems: _Problems, typed: _Checked) -> None:
    _check_filled(table, problems, _REQUIRED_COLUMNS["shapes.txt"])
    lat, lon = _check_coordinates(
        table, "shape_pt_lat", "shape_pt_lon", np.zeros(len(table.df), dtype=bool), problems
    )
    typed.set(table.file, "shape_pt_lat", lat)
    typed.set(table.file, "shape_pt_lon", lon)
    if table.has("shape_pt_sequence"):
        typed.set(
            table.file,
            "shape_pt_sequence",
            _numbers(table, "shape_pt_sequence", problems, _parse_uint, "a non-negative integer"),
        )
    _check_unique(table, problems, ["shape_id", "shape_pt_sequence"], "(shape_id, shape_pt_sequence)")
    if table.has("shape_id"):
        codes, _ = _codes(table.df["shape_id"], grouped=True)
        alone = np.bincount(codes)[codes] == 1 if len(codes) else np.zeros(0, dtype=bool)
        shown = table.values("shape_id")
        problems.rows(
            "warning",
            table,
            alone,
            "shape_id",
            lambda pos: f"shape {_q(shown[pos])} has a single point: it draws no line",
        )


def _check_feed_info(table: _Table, problems: _Problems) -> None:
    _check_filled(table, problems, _REQUIRED_COLUMNS["feed_info.txt"])
    for column in ("feed_start_date", "feed_end_date"):
        if column in table.df.columns:
            _dates, invalid = _by_distinct(table.df[column], _parse_dates)
            shown = table.values(column)
            problems.rows(
                "error",
                table,
                invalid & (shown != ""),
                column,
                _quoted(shown, "", " is not a date (YYYYMMDD)"),
            )


def _check_routes_used(routes: _Table, trips: _Table, problems: _Problems) -> None:
    idle = ~routes.df["route_id"].isin(trips.df["route_id"]).to_numpy(dtype=bool)
    shown = routes.values("route_id")
    problems.rows("warning", routes, idle, "route_id", lambda pos: f"route {_q(shown[pos])} has no trips")


# --------------------------------------------------------------------------------------------------
# Assembling the typed frames


def _as_int(values: np.ndarray[Any, Any]) -> Any:
    if np.isnan(values).any():
        return pd.array(values, dtype="Int64")
    return values.astype(np.int64)


def _as_dates(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.asarray(values.astype("datetime64[D]").astype(object), dtype=object)


def _typed_frame(table: _Table, typed: _Checked) -> pd.DataFrame:
    df = table.df
    columns: dict[str, Any] = {}
    for column in _OPTIONAL_TEXT_COLUMNS.get(table.file, ()):
        if column not in df.columns:
            columns[column] = pd.array(np.full(len(df), "", dtype=object), dtype="str")
    for column, values in typed.columns.get(table.file, {}).items():
        if column in ("stop_lat", "stop_lon", "shape_pt_lat", "shape_pt_lon"):
            columns[column] = values
        elif column in ("start_date", "end_date", "date"):
            columns[column] = _as_dates(values)
        elif column in _DAYS or column == "direction_id":
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
    problems = _Problems()
    files = _read_files(Path(source), problems)

    if "calendar.txt" not in files and "calendar_dates.txt" not in files:
        problems.add(
            "error", "calendar.txt", None, None, "missing: a feed needs calendar.txt or calendar_dates.txt"
        )
    for name in _REQUIRED_FILES:
        if name not in files and not any(p.file == name for p in problems.kept["error"]):
            problems.add("error", name, None, None, "required file is missing")

    tables: dict[str, _Table] = {}
    for name in _REQUIRED_FILES + _OPTIONAL_FILES:
        if name not in files:
            continue
        table = _parse_table(name, files.pop(name), problems, _FAST_TYPES.get(name))
        if table is None:
            continue
        if name in _REQUIRED_FILES and table.df.empty:
            # Nothing to check row by row; the feed is refused whatever else is found.
            problems.add("error", name, None, None, "the file has no data rows")
            continue
        tables[name] = _check_columns(table, problems, _REQUIRED_COLUMNS[name])

    typed = _Checked()
    get = tables.get
    if agency := get("agency.txt"):
        _check_agency(agency, problems)
    if stops := get("stops.txt"):
        _check_stops(stops, problems, typed)
    if routes := get("routes.txt"):
        _check_routes(routes, get("agency.txt"), problems, typed)
    if calendar := get("calendar.txt"):
        _check_calendar(calendar, problems, typed)
    if calendar_dates := get("calendar_dates.txt"):
        _check_calendar_dates(calendar_dates, problems, typed)
    if shapes := get("shapes.txt"):
        _check_shapes(shapes, problems, typed)
    services = None
    if calendar is not None or calendar_dates is not None:
        services = pd.concat([t.df["service_id"] for t in (calendar, calendar_dates) if t is not None])
    if trips := get("trips.txt"):
        _check_trips(trips, routes, services, shapes, problems, typed)
    if stop_times := get("stop_times.txt"):
        _check_stop_times(stop_times, trips, stops, problems, typed)
    if frequencies := get("frequencies.txt"):
        _check_frequencies(frequencies, trips, problems, typed)
    if feed_info := get("feed_info.txt"):
        _check_feed_info(feed_info, problems)
    if routes is not None and trips is not None:
        _check_routes_used(routes, trips, problems)

    problems.raise_if_errors()

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
