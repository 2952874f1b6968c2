"""The property types of every collection and how outside values become typed SQL parameters.

One home for the type system that query-string filters (``name=value``, ``datetime``), CQL2 literals and
paging cursors share: the JSON Schema type names, their SQL types, the 64-bit integer range, and the
date and RFC 3339 timestamp forms. Every function here raises ValueError saying what was expected; the
caller turns it into its own error (a 400 naming the parameter, or a CQL2 error with its position).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

SQL_TYPES: dict[str, str] = {
    "integer": "bigint",
    "number": "double precision",
    "string": "text",
    "boolean": "boolean",
    "date": "date",
    "datetime": "timestamptz",
}
"""JSON Schema type of a property -> the SQL type its values are bound (CAST) as."""

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_TIMESTAMP_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))?"
)
_INTEGER_RE = re.compile(r"[+-]?[0-9]{1,19}")


def parse_date(text: str) -> date:
    """A YYYY-MM-DD date."""
    match = _DATE_RE.fullmatch(text)
    if match is None:
        raise ValueError("expected YYYY-MM-DD")
    year, month, day = (int(g) for g in match.groups())
    return date(year, month, day)


def parse_timestamp(text: str, *, zone_required: bool = False) -> datetime:
    """An RFC 3339 timestamp, in UTC; without an offset it is taken as UTC, unless `zone_required`."""
    match = _TIMESTAMP_RE.fullmatch(text)
    if match is None or (zone_required and match.group(8) is None and match.group(9) is None):
        raise ValueError("expected an RFC 3339 timestamp such as 2024-05-01T12:00:00Z")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, _zulu, sign, off_hours, off_minutes = match.groups()[6:]
    # Python keeps microseconds; finer digits are dropped rather than rounded into the next second.
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    zone: timezone = UTC
    if sign is not None:
        if int(off_hours) > 23 or int(off_minutes) > 59:
            raise ValueError("UTC offset out of range")
        offset = timedelta(hours=int(off_hours), minutes=int(off_minutes))
        zone = timezone(-offset if sign == "-" else offset)
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=zone).astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp out of range") from None


def parse_instant(text: str) -> datetime:
    """An RFC 3339 date-time with its offset, or a date meaning its first instant (UTC)."""
    if _DATE_RE.fullmatch(text):
        return datetime.combine(parse_date(text), time(), UTC)
    return parse_timestamp(text, zone_required=True)


def from_text(type_: str, raw: str) -> Any:
    """A query-string value as the Python value of a property of `type_`."""
    if type_ == "integer":
        if not _INTEGER_RE.fullmatch(raw) or not INT64_MIN <= int(raw) <= INT64_MAX:
            raise ValueError("expected a whole number within the 64-bit range")
        return int(raw)
    if type_ == "number":
        number = float(raw)
        if not math.isfinite(number):
            raise ValueError("expected a finite number")
        return number
    if type_ == "boolean":
        if raw.lower() not in ("true", "false"):
            raise ValueError("expected true or false")
        return raw.lower() == "true"
    if type_ == "date":
        return date.fromisoformat(raw)
    if type_ == "datetime":
        return parse_instant(raw)
    return raw


def from_literal(type_: str, value: object) -> Any:
    """A CQL2 literal (str, int, float, bool, date or datetime) as the value of a property of `type_`;
    ValueError names what was expected."""
    if type_ == "string":
        if isinstance(value, str):
            return value
        raise ValueError("a quoted string")
    if type_ == "boolean":
        if isinstance(value, bool):
            return value
        raise ValueError("TRUE or FALSE")
    if type_ in ("integer", "number"):
        return _number_literal(type_, value)
    if type_ == "date":
        return _date_literal(value)
    return _datetime_literal(value)


def _number_literal(type_: str, value: object) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("a number")
    if isinstance(value, float):
        return value
    if type_ == "integer":
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError("a number within the 64-bit integer range")
        return value
    try:
        return float(value)
    except OverflowError:
        raise ValueError("a number within the double-precision range") from None


def _date_literal(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return parse_date(value)
        except ValueError:
            pass
    raise ValueError("a date such as DATE('2024-05-01')")


def _datetime_literal(value: object) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        # A day compared with an instant means that day's start, in UTC like naive timestamps.
        return datetime.combine(value, time(), UTC)
    if isinstance(value, str):
        for parse in (parse_timestamp, parse_date):
            try:
                parsed = parse(value)
            except ValueError:
                continue
            return parsed if isinstance(parsed, datetime) else datetime.combine(parsed, time(), UTC)
    raise ValueError("a timestamp such as TIMESTAMP('2024-05-01T12:00:00Z')")


def from_json(type_: str, value: object) -> Any:
    """A value as a paging cursor carries it (JSON), back as the Python value of its type."""
    expected: dict[str, tuple[type, ...]] = {
        "integer": (int,),
        "number": (int, float),
        "boolean": (bool,),
        "string": (str,),
        "date": (str,),
        "datetime": (str,),
    }
    if not isinstance(value, expected[type_]) or (type_ in ("integer", "number") and isinstance(value, bool)):
        raise ValueError(f"expected a {type_}")
    if type_ == "integer" and not INT64_MIN <= int(value) <= INT64_MAX:  # type: ignore[call-overload]
        raise ValueError("integer out of range")
    return bound(type_, value)


def bound(type_: str, value: Any) -> Any:
    """A value as its SQL parameter (ISO text of dates and times parsed; integers of a number column
    as floats)."""
    if type_ == "datetime" and isinstance(value, str):
        return datetime.fromisoformat(value)
    if type_ == "date" and isinstance(value, str):
        return date.fromisoformat(value)
    if type_ == "number" and isinstance(value, int):
        return float(value)
    return value
