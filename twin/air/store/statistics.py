"""The SQL of statistics, all from the daily rollup but hourly values and hourly exceedances (from the
measurements themselves, one station's partitions of the period). Every query is bounded."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from twin.air.rules import threshold_key
from twin.air.store.measurements import LOCAL_ZONE

MAX_ROWS = 100_000

_KIND = text(
    "SELECT aggregation, count(*) AS n FROM (SELECT aggregation FROM air_daily"
    " WHERE station_id = :station AND pollutant = :pollutant LIMIT 20000) d GROUP BY aggregation"
)
_DAILY = text(
    "SELECT day, value_sum, valid_count, expected_count, max_value, captured, verified FROM air_daily"
    " WHERE station_id = :station AND pollutant = :pollutant AND day >= :start AND day < :end"
    " ORDER BY day LIMIT :limit"
)
_PERIODS = text(
    "SELECT CAST(date_trunc(:unit, day) AS date) AS period, sum(value_sum) AS value_sum,"
    " sum(valid_count) AS valid_count, count(*) FILTER (WHERE captured) AS captured_days"
    " FROM air_daily WHERE station_id = :station AND pollutant = :pollutant AND day >= :start AND day < :end"
    " GROUP BY 1 ORDER BY 1 LIMIT :limit"
)
_HOURS = text(
    "SELECT start_time, end_time, value, validity, verification FROM air_measurement"
    " WHERE station_id = :station AND pollutant = :pollutant AND aggregation = 'hour'"
    " AND start_time >= :start AND start_time < :end ORDER BY start_time LIMIT :limit"
)


async def series_kind(conn: AsyncConnection, station: str, pollutant: str) -> str | None:
    """'hour' or 'day': how the station measures the pollutant (the commoner, if both); None without data."""
    rows = (await conn.execute(_KIND, {"station": station, "pollutant": pollutant})).all()
    if not rows:
        return None
    return str(max(rows, key=lambda r: (r.n, r.aggregation == "day")).aggregation)


async def daily(
    conn: AsyncConnection, station: str, pollutant: str, start: date, end: date
) -> list[dict[str, Any]]:
    params = {"station": station, "pollutant": pollutant, "start": start, "end": end, "limit": MAX_ROWS}
    return [dict(r) for r in (await conn.execute(_DAILY, params)).mappings()]


async def periods(
    conn: AsyncConnection, station: str, pollutant: str, unit: str, start: date, end: date
) -> list[dict[str, Any]]:
    """Per month or year: the sum and count of valid values and the captured days."""
    params = {
        "unit": unit,
        "station": station,
        "pollutant": pollutant,
        "start": start,
        "end": end,
        "limit": MAX_ROWS,
    }
    return [dict(r) for r in (await conn.execute(_PERIODS, params)).mappings()]


async def hours(
    conn: AsyncConnection, station: str, pollutant: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    params = {"station": station, "pollutant": pollutant, "start": start, "end": end, "limit": MAX_ROWS}
    return [dict(r) for r in (await conn.execute(_HOURS, params)).mappings()]


async def annual(
    conn: AsyncConnection, station: str, pollutant: str, first: int, last: int, daily_limits: Sequence[float]
) -> list[dict[str, Any]]:
    """Per calendar year (in Sofia) from `first` to `last`: sum and count of valid values, captured days,
    the 90.4th percentile and the maximum of the captured daily means, and for each daily limit the
    captured days whose mean exceeds it (``days_above_0``, …)."""
    params: dict[str, Any] = {
        "station": station,
        "pollutant": pollutant,
        "start": date(first, 1, 1),
        "end": date(last + 1, 1, 1),
    }
    mean = "value_sum / nullif(valid_count, 0)"
    above = []
    for n, limit in enumerate(daily_limits):
        params[f"l{n}"] = float(limit)
        above.append(
            f", count(*) FILTER (WHERE captured AND {mean} > CAST(:l{n} AS float8)) AS days_above_{n}"
        )
    sql = (
        "SELECT CAST(extract(year FROM day) AS integer) AS year, sum(value_sum) AS value_sum,"  # noqa: S608
        " sum(valid_count) AS valid_count, count(*) FILTER (WHERE captured) AS captured_days,"
        f" percentile_cont(0.904) WITHIN GROUP (ORDER BY {mean}) FILTER (WHERE captured) AS p90_4,"
        f" max({mean}) FILTER (WHERE captured) AS max_daily"
        + "".join(above)
        + " FROM air_daily WHERE station_id = :station AND pollutant = :pollutant"
        " AND day >= :start AND day < :end GROUP BY 1 ORDER BY 1 LIMIT 1000"
    )
    return [dict(r) for r in (await conn.execute(text(sql), params)).mappings()]


async def hourly_exceedances(
    conn: AsyncConnection, station: str, pollutant: str, first: int, last: int, hour_limits: Sequence[float]
) -> dict[int, list[int]]:
    """Per year, the valid hours above each hourly limit (hourly series only): from the rollup's
    per-day counts when it holds them for every such day, else counted from the hours themselves (a
    threshold added to the rules after the days were rolled up)."""
    if not hour_limits:
        return {}
    keys = [threshold_key(limit) for limit in hour_limits]
    params: dict[str, Any] = {
        "station": station,
        "pollutant": pollutant,
        "start": date(first, 1, 1),
        "end": date(last + 1, 1, 1),
        "keys": keys,
    }
    sums = ", ".join(f"sum(CAST(hours_above ->> :k{n} AS integer)) AS h{n}" for n in range(len(keys)))
    params.update({f"k{n}": key for n, key in enumerate(keys)})
    sql = (
        "SELECT CAST(extract(year FROM day) AS integer) AS year, "  # noqa: S608
        "count(*) FILTER (WHERE NOT hours_above ?& CAST(:keys AS text[])) AS missing, "
        + sums
        + " FROM air_daily WHERE station_id = :station AND pollutant = :pollutant AND aggregation = 'hour'"
        " AND day >= :start AND day < :end GROUP BY 1 ORDER BY 1 LIMIT 1000"
    )
    rows = (await conn.execute(text(sql), params)).mappings().all()
    if all(int(r["missing"]) == 0 for r in rows):
        return {int(r["year"]): [int(r[f"h{n}"] or 0) for n in range(len(keys))] for r in rows}
    return await _hourly_exceedances_counted(conn, station, pollutant, first, last, hour_limits)


async def _hourly_exceedances_counted(
    conn: AsyncConnection, station: str, pollutant: str, first: int, last: int, hour_limits: Sequence[float]
) -> dict[int, list[int]]:
    params: dict[str, Any] = {"station": station, "pollutant": pollutant, "first": first, "last": last}
    counts = []
    for n, limit in enumerate(hour_limits):
        params[f"l{n}"] = float(limit)
        counts.append(f"count(*) FILTER (WHERE value > CAST(:l{n} AS float8)) AS h{n}")
    sql = (
        f"SELECT CAST(extract(year FROM start_time AT TIME ZONE '{LOCAL_ZONE}') AS integer) AS year, "  # noqa: S608
        + ", ".join(counts)
        + " FROM air_measurement WHERE station_id = :station AND pollutant = :pollutant"
        " AND aggregation = 'hour' AND validity >= 1"
        f" AND start_time >= make_timestamptz(:first, 1, 1, 0, 0, 0, '{LOCAL_ZONE}')"
        f" AND start_time < make_timestamptz(:last + 1, 1, 1, 0, 0, 0, '{LOCAL_ZONE}')"
        " GROUP BY 1 ORDER BY 1 LIMIT 1000"
    )
    rows = (await conn.execute(text(sql), params)).mappings()
    return {int(r["year"]): [int(r[f"h{n}"]) for n in range(len(hour_limits))] for r in rows}
