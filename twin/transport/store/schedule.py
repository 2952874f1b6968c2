"""Reading the stored GTFS feed for the transport metrics."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, text

from twin.core.errors import InvalidParameter, NotFound
from twin.transport.tables import GTFS_DAYS


def feed_calendar(conn: Connection) -> dict[str, Any] | None:
    row = conn.execute(
        text("SELECT checksum, start_date, end_date, loaded_at FROM gtfs_feed WHERE id = 1")
    ).first()
    return dict(row._mapping) if row else None


def loaded_calendar(conn: Connection) -> dict[str, Any]:
    """The stored feed's calendar; NotFound when no feed is loaded."""
    feed = feed_calendar(conn)
    if feed is None:
        raise NotFound("no GTFS feed is loaded (run `twin load gtfs`)")
    return feed


def service_day(conn: Connection, day: date) -> tuple[dict[str, Any], list[str]]:
    """The stored feed and the services running on `day`; NotFound without a feed, InvalidParameter
    for a date outside its calendar."""
    feed = loaded_calendar(conn)
    check_in_calendar(feed, day)
    return feed, active_services(conn, day)


def check_in_calendar(feed: dict[str, Any], day: date) -> None:
    """InvalidParameter naming `date` when `day` is outside the feed's calendar."""
    if not feed["start_date"] <= day <= feed["end_date"]:
        raise InvalidParameter(
            f"date {day} is outside the feed's calendar ({feed['start_date']} to {feed['end_date']})",
            parameter="date",
        )


def active_services(conn: Connection, day: date) -> list[str]:
    """The service_ids running on a date: calendar by weekday and range, then calendar_dates exceptions."""
    weekday = GTFS_DAYS[day.weekday()]
    rows = conn.execute(
        text(
            f"SELECT service_id FROM gtfs_calendar WHERE {weekday} AND start_date <= :d AND end_date >= :d"  # noqa: S608
            " UNION SELECT service_id FROM gtfs_calendar_date WHERE date = :d AND exception_type = 1"
            " EXCEPT SELECT service_id FROM gtfs_calendar_date WHERE date = :d AND exception_type = 2"
        ),
        {"d": day},
    ).scalars()
    return sorted(rows)


def stops_version(conn: Connection) -> int:
    """The data version of the stops layer (0 before the first import)."""
    version = conn.execute(text("SELECT data_version FROM layer WHERE id = 'stops'")).scalar()
    return int(version or 0)


def stop_names(conn: Connection) -> dict[str, str]:
    """stop_id -> stop_name for every stop of the feed (bounded by the feed's size)."""
    rows = conn.execute(text("SELECT stop_id, stop_name FROM gtfs_stop ORDER BY stop_id LIMIT 200000"))
    return {row.stop_id: row.stop_name for row in rows}


def departures(
    conn: Connection, services: list[str], window: tuple[int, int] | None = None
) -> list[tuple[Any, ...]]:
    """Every departure of the given services (a service day's whole schedule, or only those in
    ``[start, end)`` seconds when a window is given), sorted by stop and time.

    A departure is a stop_time with a departure time where a passenger can board: a trip's last stop
    is its arrival, not a departure. A trip listed in frequencies.txt runs every ``headway_secs`` from
    each ``start_time`` until before its ``end_time``, its stop_times giving the times relative to its
    first departure.
    """
    start, end = window if window is not None else (None, None)
    return [
        tuple(r)
        for r in conn.execute(
            text(
                # Timetabled trips: the window is applied first; "not the last stop" is one probe of
                # the stop_times key per row.
                "SELECT st.stop_id, st.departure_s, t.route_id, coalesce(t.direction_id, -1), st.trip_id"
                " FROM gtfs_stop_time st JOIN gtfs_trip t USING (trip_id)"
                " WHERE t.service_id = ANY(:services) AND st.departure_s IS NOT NULL"
                " AND (CAST(:start AS integer) IS NULL OR st.departure_s >= :start)"
                " AND (CAST(:end AS integer) IS NULL OR st.departure_s < :end)"
                " AND NOT EXISTS (SELECT 1 FROM gtfs_frequency f WHERE f.trip_id = st.trip_id)"
                " AND EXISTS (SELECT 1 FROM gtfs_stop_time n"
                "  WHERE n.trip_id = st.trip_id AND n.stop_sequence > st.stop_sequence)"
                " UNION ALL"
                # Frequency-based trips: each run of the template, shifted from its first departure.
                " SELECT x.stop_id, x.departure_s, x.route_id, x.direction_id, x.trip_id FROM ("
                "  SELECT st.stop_id, t.route_id, coalesce(t.direction_id, -1) AS direction_id, st.trip_id,"
                "   st.departure_s + f.start_s + g.k * f.headway_secs"
                "    - min(st.departure_s) OVER (PARTITION BY st.trip_id, f.start_s) AS departure_s,"
                "   st.stop_sequence < max(st.stop_sequence) OVER (PARTITION BY st.trip_id, f.start_s)"
                "    AS boards"
                "  FROM gtfs_frequency f JOIN gtfs_trip t USING (trip_id)"
                "  JOIN gtfs_stop_time st USING (trip_id)"
                "  CROSS JOIN LATERAL generate_series(0, (f.end_s - 1 - f.start_s) / f.headway_secs) g(k)"
                "  WHERE t.service_id = ANY(:services)) x"
                " WHERE x.boards AND x.departure_s IS NOT NULL"
                " AND (CAST(:start AS integer) IS NULL OR x.departure_s >= :start)"
                " AND (CAST(:end AS integer) IS NULL OR x.departure_s < :end)"
                " ORDER BY 1, 2, 3, 5"
            ),
            {"services": services, "start": start, "end": end},
        )
    ]


def stop_points(conn: Connection, *, boarding_only: bool = False) -> list[tuple[Any, ...]]:
    """Every located stop with its name and routes, in UTM 34N metres (bounded by the feed's size);
    with `boarding_only`, the stops and platforms one boards at (location_type 0), not stations or
    entrances."""
    return [
        tuple(r)
        for r in conn.execute(
            text(
                "SELECT stop_id, stop_name, routes, ST_X(p), ST_Y(p) FROM ("
                " SELECT stop_id, stop_name, routes, ST_Transform(geom, 32634) AS p FROM gtfs_stop"
                " WHERE geom IS NOT NULL AND (NOT :boarding OR location_type = 0) LIMIT 200000) s"
            ),
            {"boarding": boarding_only},
        )
    ]


def routes(conn: Connection) -> list[tuple[Any, ...]]:
    """Every route of the stored feed with its short name and GTFS route_type (bounded by the feed's size)."""
    return [
        tuple(r)
        for r in conn.execute(
            text(
                "SELECT route_id, route_short_name, route_type FROM gtfs_route ORDER BY route_id LIMIT 100000"
            )
        )
    ]
