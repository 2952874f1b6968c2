"""Periods of the air estimates: a day, a month, a year or a closed range of days (Sofia's calendar),
written as the `period` parameter of the surface and exposure layers and the EDR queries."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

LAST_YEAR_WITH_DATA = "last-year"
FIRST_YEAR, LAST_YEAR = 1990, 2100
MAX_DAYS = 366 * 5
"""A period spans at most five years (unbounded or longer periods are refused)."""
_YEAR = re.compile(r"\d{4}")
_MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True)
class Period:
    """Days [start, end) of Sofia's calendar."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def label(self) -> str:
        last = self.end - timedelta(days=1)
        return self.start.isoformat() if self.days == 1 else f"{self.start.isoformat()}/{last.isoformat()}"

    def window(self, min_days: int) -> Period:
        """The period, or the `min_days` days ending with it when it is shorter (a variogram pools days)."""
        if self.days >= min_days:
            return self
        return Period(self.end - timedelta(days=min_days), self.end)


def check_period(text: str) -> str:
    """Validate a period as written (`last-year`, YYYY, YYYY-MM, YYYY-MM-DD or first/last day); raises
    ValueError naming what is wrong."""
    if text != LAST_YEAR_WITH_DATA:
        parse_period(text)
    return text


def parse_period(text: str) -> Period:
    """A written period as days (not `last-year`, which needs the data: see :func:`resolve`). A range's
    ends may be days, months or years: ``2019/2020`` is two whole years."""
    text = text.strip()
    if "/" in text:
        first, _, last = text.partition("/")
        if first in ("", "..") or last in ("", ".."):
            raise ValueError(f"period {text!r} is unbounded: give its first and last day")
        start, stop = _single(first), _single(last)
        if stop.end <= start.start:
            raise ValueError(f"period {text!r} ends before it starts")
        period = Period(start.start, stop.end)
    else:
        period = _single(text)
    if period.days > MAX_DAYS:
        raise ValueError(f"period {text!r} spans {period.days} days; at most {MAX_DAYS} (five years)")
    return period


def _single(text: str) -> Period:
    if text[:4].isdigit() and not FIRST_YEAR <= int(text[:4]) <= LAST_YEAR:
        raise ValueError(f"period {text!r} is outside {FIRST_YEAR}-{LAST_YEAR}")
    if _YEAR.fullmatch(text):
        return Period(date(int(text), 1, 1), date(int(text) + 1, 1, 1))
    if match := _MONTH.fullmatch(text):
        year, month = int(match[1]), int(match[2])
        if not 1 <= month <= 12:
            raise ValueError(f"period {text!r}: month {month} does not exist")
        return Period(date(year, month, 1), date(year + month // 12, month % 12 + 1, 1))
    day = _day(text)
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"period {text!r} is outside {FIRST_YEAR}-{LAST_YEAR}")
    return Period(day, day + timedelta(days=1))


def resolve(text: str, last_day: date | None) -> Period | None:
    """The period's days; `last-year` is the last calendar year with data up to `last_day` (None
    without any data)."""
    if text != LAST_YEAR_WITH_DATA:
        return parse_period(text)
    if last_day is None:
        return None
    year = last_day.year if last_day.month == 12 and last_day.day == 31 else last_day.year - 1
    return Period(date(year, 1, 1), date(year + 1, 1, 1))


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a day (YYYY-MM-DD), a month (YYYY-MM) or a year (YYYY)") from exc
