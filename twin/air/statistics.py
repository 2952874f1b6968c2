"""Statistics of a station's series held against the limits: pure functions over the figures the store
reads (no SQL, no HTTP).

Definitions (also in the README):

- A *valid* value has EEA validity 1, 2 or 3; invalid ones (-1, -99) are stored and never averaged.
- A *day* is a calendar day in Sofia. A day of hourly values is *captured* when at least 75 % of its
  hours are valid (18 of 24); a daily value captures its day when valid.
- *Data capture* of a period = valid values / values expected (the days of the period for a daily series,
  its hours for an hourly one), in %.
- *Mean* of a period = the mean of its valid values (every valid hour, or every valid day).
- *Days above a daily limit* = captured days whose mean exceeds the limit (strictly).
- *90.4th percentile* of daily PM10 = of the captured daily means, by linear interpolation (the 36th
  highest of 365 when every day is captured): the statistic the daily limit's 35 allowed exceedances
  correspond to.
- A statistic of a year with less than 90 % data capture is reported but not compared: its status is
  ``insufficient data capture``.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from twin.air.rules import Capture, Limit

SOFIA = ZoneInfo("Europe/Sofia")


def hours_between(start: date, end: date) -> int:
    """Hours on Sofia's clock from the start of `start` to the start of `end` (23- and 25-hour days
    included)."""
    first = datetime(start.year, start.month, start.day, tzinfo=SOFIA)
    last = datetime(end.year, end.month, end.day, tzinfo=SOFIA)
    return round((last - first).total_seconds() / 3600)


def expected(kind: str, start: date, end: date) -> int:
    """Values a complete series has from `start` to `end` (exclusive): days, or hours."""
    return hours_between(start, end) if kind == "hour" else (end - start).days


def period_end(start: date, unit: str) -> date:
    if unit == "day":
        return start + timedelta(days=1)
    if unit == "month":
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return date(start.year + 1, 1, 1)


def capture_pct(valid: int, expected_count: int) -> float | None:
    return round(100.0 * valid / expected_count, 2) if expected_count > 0 else None


def mean(value_sum: float, valid: int) -> float | None:
    return round(value_sum / valid, 3) if valid > 0 else None


@dataclass(frozen=True)
class Year:
    """One station-year of one pollutant, as read from the rollup."""

    year: int
    kind: str
    value_sum: float
    valid: int
    captured_days: int
    p90_4: float | None
    max_daily: float | None
    days_above: Mapping[float, int] = field(default_factory=dict)
    """Captured days above each daily limit value."""
    hours_above: Mapping[float, int] = field(default_factory=dict)
    """Valid hours above each hourly limit value (hourly series)."""

    @property
    def days(self) -> int:
        return 366 if calendar.isleap(self.year) else 365

    @property
    def expected(self) -> int:
        return expected(self.kind, date(self.year, 1, 1), date(self.year + 1, 1, 1))

    @property
    def capture(self) -> float | None:
        return capture_pct(self.valid, self.expected)

    @property
    def mean(self) -> float | None:
        return mean(self.value_sum, self.valid)


def assess(figures: Year, limits: Sequence[Limit], capture: Capture) -> list[dict[str, Any]]:
    """Each limit held against the year: the statistic compared, the allowed and the found, and
    ``pass``, ``fail``, ``insufficient data capture`` or ``not measured`` (an hourly limit of a daily
    series), with the limit's source."""
    enough = figures.capture is not None and figures.capture >= 100 * capture.annual_min_share
    found = []
    for limit in limits:
        entry: dict[str, Any] = {
            "limit": limit.id,
            "framework": limit.framework,
            "standing": limit.standing,
            "averaging": limit.averaging,
            "value": limit.value,
            "unit": limit.unit,
            "max_exceedances": limit.max_exceedances,
            "source": limit.source,
        }
        measured, allowed, statistic = _measured(figures, limit)
        entry["statistic"] = statistic
        entry["measured"] = measured
        if measured is None:
            entry["status"] = "not measured"
        elif not enough:
            entry["status"] = "insufficient data capture"
        else:
            entry["status"] = "pass" if measured <= allowed else "fail"
        found.append(entry)
    return found


def _measured(figures: Year, limit: Limit) -> tuple[float | None, float, str]:
    if limit.averaging == "year":
        return figures.mean, limit.value, "annual mean"
    assert limit.max_exceedances is not None
    if limit.averaging == "day":
        return float(figures.days_above.get(limit.value, 0)), float(limit.max_exceedances), "days above"
    if figures.kind != "hour":
        return None, float(limit.max_exceedances), "hours above"
    return float(figures.hours_above.get(limit.value, 0)), float(limit.max_exceedances), "hours above"
