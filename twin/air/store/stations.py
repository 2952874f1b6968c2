"""The SQL of stations and sensors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection

from twin.core.bulk import copy_frame

MAX_STATIONS = 100_000

STATION_COLUMNS = (
    "id",
    "name",
    "operator",
    "network",
    "class",
    "kind",
    "pollutants",
    "active_from",
    "active_to",
    "source",
    "licence",
    "notes",
    "lon",
    "lat",
)


def upsert(conn: Connection, stations: pd.DataFrame) -> int:
    """Insert or refresh stations (the columns of STATION_COLUMNS; ``pollutants`` a PostgreSQL array
    literal such as ``{PM10,PM2.5}``). Measurements keep pointing at them."""
    if stations.empty:
        return 0
    conn.execute(
        text(
            "CREATE TEMP TABLE air_station_stage (id text, name text, operator text, network text,"
            " class text, kind text, pollutants text[], active_from timestamptz, active_to timestamptz,"
            " source text, licence text, notes text, lon float8, lat float8) ON COMMIT DROP"
        )
    )
    copy_frame(conn, "air_station_stage", stations, STATION_COLUMNS, keep_empty=("notes",))
    return int(
        conn.execute(
            text(
                "INSERT INTO air_station (id, name, operator, network, class, kind, pollutants, active_from,"
                " active_to, source, licence, notes, geom)"
                " SELECT id, name, operator, network, class, kind, pollutants, active_from, active_to,"
                " source, licence, coalesce(notes, ''), ST_SetSRID(ST_MakePoint(lon, lat), 4326)"
                " FROM air_station_stage"
                " ON CONFLICT (id) DO UPDATE SET name = excluded.name, operator = excluded.operator,"
                " network = excluded.network, class = excluded.class, kind = excluded.kind,"
                " pollutants = ARRAY(SELECT DISTINCT unnest(air_station.pollutants || excluded.pollutants)"
                "  ORDER BY 1),"
                " active_from = least(air_station.active_from, excluded.active_from),"
                " active_to = greatest(air_station.active_to, excluded.active_to),"
                " source = excluded.source, licence = excluded.licence, notes = excluded.notes,"
                " geom = excluded.geom"
            )
        ).rowcount
        or 0
    )


def known(conn: Connection, ids: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Stations by id (those named, or all of them, bounded): name, class, network, pollutants."""
    rows = conn.execute(
        text(
            "SELECT id, name, class AS station_class, network, pollutants FROM air_station"
            " WHERE CAST(:ids AS text[]) IS NULL OR id = ANY(:ids) ORDER BY id LIMIT :limit"
        ),
        {"ids": list(ids) if ids is not None else None, "limit": MAX_STATIONS},
    )
    return {
        r.id: {
            "name": r.name,
            "class": r.station_class,
            "network": r.network,
            "pollutants": list(r.pollutants),
        }
        for r in rows
    }


def registered(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The stored details of the stations named: name, operator, network, class, kind, lon, lat."""
    rows = conn.execute(
        text(
            "SELECT id, name, operator, network, class, kind, ST_X(geom) AS lon, ST_Y(geom) AS lat"
            " FROM air_station WHERE id = ANY(:ids) LIMIT :limit"
        ),
        {"ids": list(ids), "limit": MAX_STATIONS},
    ).mappings()
    return {str(r["id"]): dict(r) for r in rows}


def refresh_activity(conn: Connection, station_ids: Sequence[str] | None = None) -> None:
    """Each station's pollutants and first and last measurement, from the daily rollup (stations with
    no measurements keep what their source said): the stations named (a batch's), or all (an import)."""
    conn.execute(
        text(
            "UPDATE air_station s SET pollutants = d.pollutants,"
            " active_from = least(s.active_from, d.first_day::timestamp AT TIME ZONE 'Europe/Sofia'),"
            " active_to = greatest(s.active_to, (d.last_day + 1)::timestamp AT TIME ZONE 'Europe/Sofia')"
            " FROM (SELECT station_id, array_agg(DISTINCT pollutant ORDER BY pollutant) AS pollutants,"
            "  min(day) AS first_day, max(day) AS last_day FROM air_daily"
            "  WHERE CAST(:ids AS text[]) IS NULL OR station_id = ANY(:ids) GROUP BY station_id) d"
            " WHERE d.station_id = s.id"
        ),
        {"ids": None if station_ids is None else list(station_ids)},
    )


async def find(conn: AsyncConnection, station_id: str) -> dict[str, Any] | None:
    rows = await conn.execute(
        text(
            "SELECT id, name, operator, network, class AS station_class, kind, pollutants, active_from,"
            " active_to, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM air_station WHERE id = :id"
        ),
        {"id": station_id},
    )
    found = rows.mappings().first()
    return None if found is None else dict(found)


def place(conn: Connection, station_id: str) -> dict[str, Any]:
    """A station's id, name, class, kind, network and WGS 84 position."""
    row = conn.execute(
        text(
            "SELECT id, name, class AS station_class, kind, network, ST_X(geom) AS lon, ST_Y(geom) AS lat"
            " FROM air_station WHERE id = :id"
        ),
        {"id": station_id},
    ).one()
    return dict(row._mapping)


def daily_pollutants(conn: Connection, station_id: str) -> list[str]:
    """The pollutants a station has captured daily means of."""
    return [
        str(p)
        for p in conn.execute(
            text(
                "SELECT DISTINCT pollutant FROM air_daily WHERE station_id = :id AND captured"
                " ORDER BY pollutant LIMIT 20"
            ),
            {"id": station_id},
        ).scalars()
    ]


async def locations(conn: AsyncConnection, limit: int = MAX_STATIONS) -> list[dict[str, Any]]:
    """Stations and sensors with captured daily means: id, name, class, kind, network, lon, lat and the
    pollutants."""
    rows = await conn.execute(
        text(
            "SELECT s.id, s.name, s.class AS station_class, s.kind, s.network, ST_X(s.geom) AS lon,"
            " ST_Y(s.geom) AS lat, d.pollutants FROM air_station s JOIN ("
            "  SELECT station_id, array_agg(DISTINCT pollutant ORDER BY pollutant) AS pollutants"
            "  FROM air_daily WHERE captured GROUP BY station_id) d ON d.station_id = s.id"
            " ORDER BY s.id LIMIT :limit"
        ),
        {"limit": limit},
    )
    return [dict(r) for r in rows.mappings()]


async def extent(conn: AsyncConnection) -> dict[str, Any]:
    """The bounding box of the stations with daily means, and their first and last day."""
    row = (
        await conn.execute(
            text(
                "SELECT ST_XMin(e) AS minx, ST_YMin(e) AS miny, ST_XMax(e) AS maxx, ST_YMax(e) AS maxy,"
                " (SELECT min(day) FROM air_daily WHERE captured) AS first,"
                " (SELECT max(day) FROM air_daily WHERE captured) AS last"
                " FROM (SELECT ST_Extent(geom) AS e FROM air_station s"
                "  WHERE EXISTS (SELECT 1 FROM air_daily d WHERE d.station_id = s.id)) x"
            )
        )
    ).one()
    return dict(row._mapping)
