"""Answers of the air-quality pilot's endpoints: a station's series aggregated by hour, day, month or
year with data capture, and its years held against every limit. Plain values, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from twin.air import statistics as stats
from twin.air.pollutants import POLLUTANTS, Pollutant
from twin.air.rules import rules
from twin.air.store import stations as station_store
from twin.air.store import statistics as store
from twin.core.errors import InvalidParameter, NotFound
from twin.core.values import parse_instant

Period = Literal["hour", "day", "month", "year"]
MAX_HOURS = 24 * 366
"""An hourly series is answered a year at a time at most."""


@dataclass(frozen=True)
class Span:
    """[start, end) in calendar days of Sofia."""

    start: date
    end: date


ALL_TIME = Span(date(1990, 1, 1), date(2100, 1, 1))
"""The span an open `datetime` stands for."""


def pollutant_of(code: str) -> Pollutant:
    found = POLLUTANTS.get(code)
    if found is None:
        raise InvalidParameter(
            f"unknown pollutant {code!r}; known: {', '.join(POLLUTANTS)}", parameter="pollutant"
        )
    return found


def span_of(value: str | None, default: Span = ALL_TIME) -> Span:
    """A `datetime` parameter as whole days in Sofia: a date is that day in Sofia, an instant the Sofia
    day it falls on, an interval every day from its start's to its end's (inclusive); an open end
    takes the default's."""
    if value is None:
        return default
    parts = value.split("/")
    if len(parts) > 2 or not value.strip():
        raise InvalidParameter(
            f"datetime must be a date, an instant or start/end, got {value!r}", parameter="datetime"
        )
    first = _day(parts[0])
    last = _day(parts[-1])
    if first is None and last is None:
        raise InvalidParameter("datetime needs at least one bound", parameter="datetime")
    start = first or default.start
    stop = date.fromordinal(last.toordinal() + 1) if last else default.end
    if stop <= start:
        raise InvalidParameter(f"datetime {value!r} ends before it starts", parameter="datetime")
    return Span(start, stop)


FIRST_YEAR, LAST_YEAR = 1990, 2100
"""Days outside these years are refused: the twin holds nothing there, and date arithmetic near the
ends of the calendar would overflow."""


def _day(text: str) -> date | None:
    if text in ("", ".."):
        return None
    try:
        day = (
            date.fromisoformat(text)
            if len(text) == 10
            else parse_instant(text).astimezone(stats.SOFIA).date()
        )
    except (ValueError, OverflowError) as exc:
        raise InvalidParameter(
            f"datetime {text!r} is neither a date (2024-05-01) nor an RFC 3339 instant: {exc}",
            parameter="datetime",
        ) from exc
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise InvalidParameter(f"datetime {text!r} is outside {FIRST_YEAR}-{LAST_YEAR}", parameter="datetime")
    return day


async def station(conn: AsyncConnection, station_id: str) -> dict[str, Any]:
    found = await station_store.find(conn, station_id)
    if found is None:
        raise NotFound(
            f"no station or sensor {station_id!r}; they are listed at /collections/air_stations/items"
        )
    return found


async def series(
    conn: AsyncConnection, station_id: str, pollutant: Pollutant, period: Period, span: Span
) -> dict[str, Any]:
    """The station's values aggregated per period, each with its mean, valid and expected counts and
    data capture (%)."""
    place = await station(conn, station_id)
    kind = await store.series_kind(conn, station_id, pollutant.code)
    header = _header(place, pollutant, kind, period, span)
    if kind is None:
        return {**header, "values": [], "reason": f"{station_id} has no {pollutant.code} values"}
    if period == "hour":
        return {**header, "values": await _hours(conn, station_id, pollutant, kind, span)}
    if period == "day":
        rows = await store.daily(conn, station_id, pollutant.code, span.start, span.end)
        values = [
            {
                "start": r["day"].isoformat(),
                "end": stats.period_end(r["day"], "day").isoformat(),
                "mean": stats.mean(r["value_sum"], r["valid_count"]),
                "valid": r["valid_count"],
                "expected": r["expected_count"],
                "capture_pct": stats.capture_pct(r["valid_count"], r["expected_count"]),
                "captured": r["captured"],
                "max": r["max_value"],
                "verified": r["verified"],
            }
            for r in rows
        ]
        return {**header, "values": values}
    rows = await store.periods(conn, station_id, pollutant.code, period, span.start, span.end)
    values = []
    for r in rows:
        first = max(r["period"], span.start)
        last = min(stats.period_end(r["period"], period), span.end)
        expected = stats.expected(kind, first, last)
        values.append(
            {
                "start": first.isoformat(),
                "end": last.isoformat(),
                "mean": stats.mean(r["value_sum"], r["valid_count"]),
                "valid": r["valid_count"],
                "expected": expected,
                "capture_pct": stats.capture_pct(r["valid_count"], expected),
                "captured_days": r["captured_days"],
            }
        )
    return {**header, "values": values}


async def _hours(
    conn: AsyncConnection, station_id: str, pollutant: Pollutant, kind: str, span: Span
) -> list[dict[str, Any]]:
    if kind != "hour":
        raise InvalidParameter(
            f"{station_id} measures {pollutant.code} daily: ask for period=day, month or year",
            parameter="period",
        )
    if stats.hours_between(span.start, span.end) > MAX_HOURS:
        raise InvalidParameter("hourly values are answered a year at a time at most", parameter="datetime")
    start = datetime.combine(span.start, time(), stats.SOFIA)
    end = datetime.combine(span.end, time(), stats.SOFIA)
    rows = await store.hours(conn, station_id, pollutant.code, start, end)
    return [
        {
            "start": r["start_time"].astimezone(UTC).isoformat(),
            "end": r["end_time"].astimezone(UTC).isoformat(),
            "value": r["value"],
            "valid": r["validity"] >= 1,
            "validity": r["validity"],
            "verification": r["verification"],
        }
        for r in rows
    ]


def _header(
    place: dict[str, Any], pollutant: Pollutant, kind: str | None, period: str, span: Span
) -> dict[str, Any]:
    return {
        "station": {k: place[k] for k in ("id", "name", "station_class", "network")},
        "pollutant": pollutant.code,
        "unit": pollutant.unit,
        "measured": kind,
        "period": period,
        "from": span.start.isoformat(),
        "to": span.end.isoformat(),
        "days_in": "Europe/Sofia",
    }


async def compliance(
    conn: AsyncConnection, station_id: str, pollutant: Pollutant, first: int, last: int
) -> dict[str, Any]:
    """Per year: annual mean, data capture, captured days, days above each daily limit, the 90.4th
    percentile and maximum of the daily means, and every limit's status with its source."""
    if not FIRST_YEAR <= first <= last <= LAST_YEAR or last - first > 50:
        raise InvalidParameter(
            f"years {first} to {last} are not a span of at most 50 years within {FIRST_YEAR}-{LAST_YEAR}",
            parameter="year",
        )
    place = await station(conn, station_id)
    kind = await store.series_kind(conn, station_id, pollutant.code)
    limits = rules().for_pollutant(pollutant.code)
    day_values = sorted({lim.value for lim in limits if lim.averaging == "day"})
    hour_values = sorted({lim.value for lim in limits if lim.averaging == "hour"})
    years = []
    if kind is not None:
        rows = await store.annual(conn, station_id, pollutant.code, first, last, day_values)
        hourly = await store.hourly_exceedances(conn, station_id, pollutant.code, first, last, hour_values)
        for r in rows:
            figures = stats.Year(
                year=r["year"],
                kind=kind,
                value_sum=r["value_sum"],
                valid=r["valid_count"],
                captured_days=r["captured_days"],
                p90_4=r["p90_4"],
                max_daily=r["max_daily"],
                days_above={v: int(r[f"days_above_{n}"]) for n, v in enumerate(day_values)},
                hours_above=dict(
                    zip(hour_values, hourly.get(r["year"], [0] * len(hour_values)), strict=True)
                ),
            )
            years.append(_year(figures, limits))
    return {
        "station": {k: place[k] for k in ("id", "name", "station_class", "network")},
        "pollutant": pollutant.code,
        "unit": pollutant.unit,
        "measured": kind,
        "capture_rule": rules().capture.model_dump(),
        "years": years,
        **({} if years else {"reason": f"{station_id} has no {pollutant.code} values in {first}–{last}"}),
    }


def _year(figures: stats.Year, limits: Any) -> dict[str, Any]:
    return {
        "year": figures.year,
        "annual_mean": figures.mean,
        "valid": figures.valid,
        "expected": figures.expected,
        "capture_pct": figures.capture,
        "captured_days": figures.captured_days,
        "days_above": {f"{v:g}": n for v, n in figures.days_above.items()},
        "p90_4_daily": None if figures.p90_4 is None else round(figures.p90_4, 3),
        "max_daily": None if figures.max_daily is None else round(figures.max_daily, 3),
        "limits": stats.assess(figures, limits, rules().capture),
    }


def limits_document() -> dict[str, Any]:
    """Every threshold with its source, and the data-capture rule and index bands."""
    found = rules()
    return {
        "capture": found.capture.model_dump(),
        "limits": [limit.model_dump() for limit in found.limit],
        "eaqi": found.eaqi.model_dump(),
    }
