"""Measurements arriving from outside (the batch write API, a sensor.community archive file, the live
API), checked row by row before anything is stored: every problem is named with its row and field, and a
batch with any problem is refused whole.

A record: ``sensor`` (a station or sensor id the twin knows), ``pollutant`` (PM10, PM2.5, NO2, O3, SO2,
CO), ``start`` and ``end`` (RFC 3339 with a zone; one hour or one day apart), ``value`` (a number, in
``unit``), and optionally ``validity`` (EEA codes: 1 valid, 2 and 3 valid below the detection limit, -1
invalid, -99 invalid for maintenance; default 1) and ``verification`` (1 verified, 2 preliminarily
verified, 3 not verified; default 3).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from twin.air.pollutants import POLLUTANTS
from twin.core.values import parse_timestamp

VALIDITY = frozenset({1, 2, 3, -1, -99})
VERIFICATION = frozenset({1, 2, 3})
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(minutes=5)
"""A clock a little ahead is not a measurement from the future."""
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
SOFIA = ZoneInfo("Europe/Sofia")
FIELDS = ("sensor", "pollutant", "start", "end", "value", "unit")


@dataclass(frozen=True)
class RowError:
    row: int
    """0-based position in the batch."""
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class Checked:
    """The rows that passed, in stored units (columns of twin.air.store.measurements.STAGE_COLUMNS but
    import_run), and every problem found."""

    rows: pd.DataFrame
    errors: list[RowError]


def check_records(
    records: Sequence[Any], stations: Mapping[str, Mapping[str, Any]], now: datetime | None = None
) -> Checked:
    """Check a batch of records (JSON objects) against the stations the twin knows."""
    now = now or datetime.now(UTC)
    errors: list[RowError] = []
    parsed: list[dict[str, Any]] = []
    for row, record in enumerate(records):
        found = _check_record(row, record, stations, now, errors)
        if found is not None:
            parsed.append(found)
    frame = pd.DataFrame(parsed, columns=_COLUMNS)
    frame = _check_repeats(frame, errors)
    errors.sort(key=lambda e: (e.row, FIELDS.index(e.field) if e.field in FIELDS else len(FIELDS)))
    return Checked(frame, errors)


_COLUMNS = [
    "row_no",
    "station_id",
    "pollutant",
    "start_time",
    "end_time",
    "value",
    "unit",
    "aggregation",
    "validity",
    "verification",
]


def _check_record(
    row: int,
    record: Any,
    stations: Mapping[str, Mapping[str, Any]],
    now: datetime,
    errors: list[RowError],
) -> dict[str, Any] | None:
    def fail(field: str, message: str) -> None:
        errors.append(RowError(row, field, message))

    if not isinstance(record, dict):
        fail("record", f"a record must be a JSON object, got {type(record).__name__}")
        return None
    unknown = sorted(set(record) - set(FIELDS) - {"validity", "verification"})
    for name in unknown:
        fail(name, f"unknown field {name!r} (fields: {', '.join(FIELDS)}, validity, verification)")
    missing = [name for name in FIELDS if record.get(name) in (None, "")]
    for name in missing:
        fail(name, "required")
    sensor = _sensor(record.get("sensor"), stations, fail) if "sensor" not in missing else None
    pollutant = POLLUTANTS.get(str(record.get("pollutant"))) if "pollutant" not in missing else None
    if pollutant is None and "pollutant" not in missing:
        fail("pollutant", f"unknown pollutant {record.get('pollutant')!r}; known: {', '.join(POLLUTANTS)}")
    start = _instant(record.get("start"), "start", now, fail) if "start" not in missing else None
    end = _instant(record.get("end"), "end", now, fail) if "end" not in missing else None
    aggregation = _aggregation(start, end, fail)
    validity = _code(record.get("validity", 1), VALIDITY, "validity", fail)
    value = (
        _value(record.get("value"), record.get("unit"), pollutant, fail, flagged_invalid=(validity or 1) < 1)
        if not missing
        else None
    )
    verification = _code(record.get("verification", 3), VERIFICATION, "verification", fail)
    if any(e.row == row for e in errors):
        return None
    assert pollutant is not None
    return {
        "row_no": row,
        "station_id": sensor,
        "pollutant": pollutant.code,
        "start_time": start,
        "end_time": end,
        "value": value,
        "unit": pollutant.unit,
        "aggregation": aggregation,
        "validity": validity,
        "verification": verification,
    }


def _sensor(value: Any, stations: Mapping[str, Mapping[str, Any]], fail: Any) -> str | None:
    if not isinstance(value, str) or value not in stations:
        fail("sensor", f"unknown sensor {value!r}: register it first (see /collections/air_stations)")
        return None
    return value


def _instant(value: Any, field: str, now: datetime, fail: Any) -> datetime | None:
    if not isinstance(value, str):
        fail(field, f"must be an RFC 3339 timestamp string, got {type(value).__name__}")
        return None
    try:
        moment = parse_timestamp(value.strip(), zone_required=True)
    except ValueError:
        fail(field, f"{value!r} is not an RFC 3339 timestamp with a zone (e.g. 2026-12-01T08:00:00Z)")
        return None
    if moment > now + FUTURE_TOLERANCE:
        fail(field, f"{value} is in the future")
        return None
    if moment < EARLIEST:
        fail(field, f"{value} is before {EARLIEST.date()}: the twin stores measurements from then on")
        return None
    return moment


def _aggregation(start: datetime | None, end: datetime | None, fail: Any) -> str | None:
    if start is None or end is None:
        return None
    if end - start == HOUR and start.minute == start.second == start.microsecond == 0:
        return "hour"
    if _local_midnights(start, end):
        return "day"
    fail(
        "end",
        f"the interval {start.isoformat()} to {end.isoformat()} is neither a clock hour nor a day of "
        "Sofia (midnight to midnight, Europe/Sofia)",
    )
    return None


def _local_midnights(start: datetime, end: datetime) -> bool:
    """From one midnight of Sofia to the next (23 or 25 hours across a clock change)."""
    first, last = start.astimezone(SOFIA), end.astimezone(SOFIA)
    return first.time() == last.time() == datetime.min.time() and (last.date() - first.date()).days == 1


def _value(
    value: Any, unit: Any, pollutant: Any, fail: Any, *, flagged_invalid: bool = False
) -> float | None:
    """The value in the stored unit. A value flagged invalid is kept as sent (stored, never averaged),
    so only a valid one must be possible."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        fail("value", f"must be a number, got {value!r}")
        return None
    if not math.isfinite(value):
        fail("value", f"must be a finite number, got {value!r}")
        return None
    if pollutant is None:
        return None
    factor = pollutant.factor(str(unit)) if isinstance(unit, str) else None
    if factor is None:
        fail("unit", f"{unit!r} is not a unit of {pollutant.code} (stored in {pollutant.unit})")
        return None
    stored: float = float(value) * factor
    if not flagged_invalid and (stored < 0 or stored > pollutant.plausible_max):
        fail(
            "value",
            f"{value} {unit} of {pollutant.code} is impossible"
            f" (0 to {pollutant.plausible_max:g} {pollutant.unit}; send it with validity -1 to keep it as"
            " invalid)",
        )
        return None
    return stored


def _code(value: Any, allowed: frozenset[int], field: str, fail: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        fail(field, f"{value!r} is not one of {sorted(allowed)}")
        return None
    return value


def _check_repeats(frame: pd.DataFrame, errors: list[RowError]) -> pd.DataFrame:
    """The same (sensor, pollutant, interval) twice in one batch: the later row is an error (and left
    out of the rows returned)."""
    if frame.empty:
        return frame
    key = ["station_id", "pollutant", "start_time", "end_time"]
    repeated = frame.duplicated(key, keep="first").to_numpy()
    if not repeated.any():
        return frame
    first_row = frame.groupby(key, sort=False)["row_no"].transform("first").to_numpy()
    for row, first in zip(frame["row_no"].to_numpy()[repeated], first_row[repeated], strict=True):
        errors.append(
            RowError(int(row), "start", f"the same sensor, pollutant and interval as row {int(first)}")
        )
    return frame[~repeated]
