"""Bulk writes: a DataFrame COPYed into a table, its COPY text made by numpy.

Shared by every pilot's importer (a GTFS feed's 600,000 stop_times, years of hourly measurements).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import Connection


def copy_frame(
    conn: Connection,
    table: str,
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    keep_empty: Collection[str] = (),
    freeze: bool = False,
) -> int:
    """COPY a frame's columns into a table (a trusted name) inside the caller's transaction; missing
    values and empty text become NULL (except in the ``keep_empty`` columns). ``freeze`` writes the
    rows frozen, allowed only after the table was created or truncated in this transaction."""
    if frame.empty:
        return 0
    raw: Any = conn.connection.dbapi_connection
    options = " (FREEZE)" if freeze else ""
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN{options}"
    # The queued writer sends from a thread of its own, so the next chunk is made while the server is
    # busy with the last.
    with raw.cursor() as cursor, cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
        for chunk in copy_text(frame, columns, keep_empty):
            copy.write(chunk)
    return len(frame)


def factorize(values: pd.Series) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Integer codes per row (intp) and the distinct strings they index, in order of first appearance;
    cheaper than pandas' own when equal values come in runs (as trip_id does in stop_times)."""
    return value_codes(values, grouped=True)


def value_codes(
    values: pd.Series, grouped: bool = False
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
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


# --------------------------------------------------------------------------------------------------
# COPY text format, made by numpy.
#
# Each column becomes a table of its distinct values' text (one row per value, padded to the longest with
# 0xFF, a byte UTF-8 never uses) and a code per row. A chunk of rows is then one gather per column into a
# (rows x line width) byte matrix, tabs and newlines in between; dropping the padding bytes leaves the
# COPY lines, in order. Distinct values are few even in stop_times (trips, stops, seconds of the day),
# so the cost is a handful of array operations per column instead of formatting every field in Python.

_PAD = 0xFF
_NULL = b"\\N"
_CHUNK_BYTES = 1 << 22


def copy_text(
    frame: pd.DataFrame, columns: Sequence[str], keep_empty: Collection[str] = ()
) -> Iterator[bytes]:
    """The frame's columns as COPY text-format lines, in chunks of a few MB. Empty text is NULL, as GTFS
    means it, except in the ``keep_empty`` columns."""
    tables, codes = zip(*(_column(frame[c], c in keep_empty) for c in columns), strict=True)
    widths = [t.shape[1] for t in tables]
    width = sum(widths) + len(widths)  # a tab after each field but the last, then a newline
    step = max(1, _CHUNK_BYTES // width)
    for start in range(0, len(frame), step):
        part = [c[start : start + step] for c in codes]
        lines = np.empty((len(part[0]), width), dtype=np.uint8)
        at = 0
        for table, code, field_width in zip(tables, part, widths, strict=True):
            np.take(table, code, axis=0, out=lines[:, at : at + field_width])
            lines[:, at + field_width] = ord("\t")
            at += field_width + 1
        lines[:, -1] = ord("\n")
        yield lines[lines != _PAD].tobytes()


def _column(values: pd.Series, keep_empty: bool) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(table of distinct values' text, with NULL last; code of each row into it)."""
    dtype = values.dtype
    empty = b"" if keep_empty else _NULL
    if isinstance(dtype, pd.CategoricalDtype):
        return _text_table(list(values.cat.categories), values.cat.codes.to_numpy(np.intp), empty)
    if pd.api.types.is_bool_dtype(dtype) and not values.hasnans:
        return _text_table(["f", "t"], values.to_numpy(dtype=np.intp))
    if pd.api.types.is_integer_dtype(dtype):
        missing = values.isna().to_numpy(dtype=bool)
        numbers = values.to_numpy(dtype=np.int64, na_value=0)
        return _int_table(numbers, missing)
    if values.hasnans:
        codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
    else:
        codes, uniques = factorize(values)
    return _text_table(list(uniques), codes, empty)


def _int_table(numbers: np.ndarray[Any, Any], missing: np.ndarray[Any, Any]) -> tuple[Any, Any]:
    if not len(numbers):
        return _text_table([], np.zeros(0, dtype=np.intp))
    low, high = int(numbers.min()), int(numbers.max())
    if high - low <= max(len(numbers), 1024):
        # A dense range (seconds of a day, sequence numbers): each value's row is value - low.
        distinct = np.arange(low, high + 1, dtype=np.int64)
        codes = (numbers - low).astype(np.intp)
    else:
        distinct, inverse = np.unique(numbers, return_inverse=True)
        codes = inverse.astype(np.intp)
    codes[missing] = len(distinct)
    return np.concatenate((_digits(distinct), _row(_NULL, _digit_width(distinct)))), codes


def _digit_width(numbers: np.ndarray[Any, Any]) -> int:
    return max(len(str(int(numbers.min()))), len(str(int(numbers.max()))), len(_NULL))


def _digits(numbers: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Decimal text of integers, one padded row each."""
    width = _digit_width(numbers)
    magnitude = np.abs(numbers).astype(np.uint64)  # int64's minimum wraps to its own magnitude
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.uint64)
    digits = magnitude[:, None] // powers % 10
    table: np.ndarray[Any, Any] = (digits + ord("0")).astype(np.uint8)
    leading = np.cumsum(digits != 0, axis=1) == 0
    leading[:, -1] = False  # zero itself keeps its last digit
    table[leading] = _PAD
    negative = numbers < 0
    if negative.any():
        # The sign goes in the padding just before the first digit.
        first = np.argmax(~leading, axis=1)
        table[np.flatnonzero(negative), first[negative] - 1] = ord("-")
    return table


def _row(word: bytes, width: int) -> np.ndarray[Any, Any]:
    row = np.full((1, width), _PAD, dtype=np.uint8)
    row[0, : len(word)] = np.frombuffer(word, dtype=np.uint8)
    return row


def _text_table(values: list[Any], codes: np.ndarray[Any, Any], empty: bytes = _NULL) -> tuple[Any, Any]:
    words = _words(values, empty)
    width = max([len(_NULL), *map(len, words)])
    lengths = np.array([len(w) for w in words], dtype=np.intp)
    table = np.full((len(words) + 1, width), _PAD, dtype=np.uint8)
    if len(words):
        blob = np.frombuffer(b"".join(words), dtype=np.uint8)
        starts = np.cumsum(lengths) - lengths
        rows = np.repeat(np.arange(len(words)), lengths)
        table[rows, np.arange(len(blob)) - starts[rows]] = blob
    table[-1] = _row(_NULL, width)[0]
    codes = np.where(codes < 0, len(words), codes).astype(np.intp)
    return table, codes


def _words(values: list[Any], empty: bytes) -> list[bytes]:
    """COPY text of each value (``empty`` for empty text)."""
    if values and all(type(v) is str for v in values) and all(values):
        # Usually (ids, names) nothing needs escaping: then one encode and one split do them all.
        joined = "\x1f".join(values)
        if joined.count("\x1f") == len(values) - 1 and not any(c in joined for c in "\\\t\n\r"):
            return joined.encode().split(b"\x1f")
    return [_escape(v, empty) for v in values]


def _escape(value: Any, empty: bytes) -> bytes:
    """COPY text of one value; missing values are NULL, empty text is ``empty``."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return _NULL
    text_value = value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
    if not text_value:
        return empty
    if "\\" in text_value or "\t" in text_value or "\n" in text_value or "\r" in text_value:
        text_value = (
            text_value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        )
    return text_value.encode()
