"""The SQL the estimates read: captured daily means by pollutant and period, the stations that give
them, and the last day with data. Synchronous: estimates run inside a derived computation's
transaction. Every query is bounded."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from twin.core.errors import InvalidParameter

MAX_DAILY_ROWS = 2_000_000
"""Captured station-days one estimate may read (600 stations × 5 years ≈ 1.1 M)."""
METRIC_SRID = 32634

_DAILY = text(
    "SELECT station_id, day, value_sum / valid_count AS value FROM air_daily"
    " WHERE pollutant = :pollutant AND captured AND day >= :start AND day < :end"
    " AND (CAST(:ids AS text[]) IS NULL OR station_id = ANY(:ids))"
    " ORDER BY day, station_id LIMIT :limit"
)
_STATIONS = text(
    "SELECT id, name, class, kind, network, ST_X(ST_Transform(geom, :srid)) AS x,"
    " ST_Y(ST_Transform(geom, :srid)) AS y FROM air_station WHERE id = ANY(:ids) ORDER BY id"
)
_LAST_DAY = text(
    "SELECT max(day) FROM air_daily d JOIN air_station s ON s.id = d.station_id"
    " WHERE d.pollutant = :pollutant AND d.captured AND s.class = 'reference'"
)
_WITH_DAILY = text(
    "SELECT DISTINCT station_id FROM air_daily WHERE pollutant = :pollutant AND captured LIMIT 100000"
)


def daily_values(
    conn: Connection, pollutant: str, start: date, end: date, station_ids: Sequence[str] | None = None
) -> pd.DataFrame:
    """Captured daily means ``station_id``, ``day``, ``value`` in [start, end)."""
    rows = conn.execute(
        _DAILY,
        {
            "pollutant": pollutant,
            "start": start,
            "end": end,
            "ids": None if station_ids is None else list(station_ids),
            "limit": MAX_DAILY_ROWS,
        },
    ).all()
    if len(rows) >= MAX_DAILY_ROWS:
        raise InvalidParameter(
            f"more than {MAX_DAILY_ROWS:,} station-days of {pollutant} in the period: ask for a shorter one",
            parameter="period",
        )
    station_id, day, value = zip(*rows, strict=True) if rows else ((), (), ())
    return pd.DataFrame(
        {"station_id": list(station_id), "day": list(day), "value": np.asarray(value, dtype=np.float64)}
    )


def stations(conn: Connection, station_ids: Sequence[str]) -> pd.DataFrame:
    """``id``, ``name``, ``class``, ``kind``, ``network``, ``x``, ``y`` (UTM 34N metres)."""
    rows = conn.execute(_STATIONS, {"ids": list(station_ids), "srid": METRIC_SRID}).all()
    return pd.DataFrame(rows, columns=["id", "name", "class", "kind", "network", "x", "y"])


def last_reference_day(conn: Connection, pollutant: str) -> date | None:
    found = conn.execute(_LAST_DAY, {"pollutant": pollutant}).scalar()
    return found if isinstance(found, date) else None


def stations_with_daily(conn: Connection, pollutant: str) -> list[str]:
    return [str(s) for s in conn.execute(_WITH_DAILY, {"pollutant": pollutant}).scalars()]
