"""Writing a validated GTFS feed: every table replaced inside the caller's transaction, with COPY."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import orjson
import pandas as pd
from sqlalchemy import Connection, text

from twin.gtfs import Feed
from twin.models import GTFS_DAYS

# Deleted children first; no foreign keys (the validator checked every reference before loading).
_TABLES = (
    "gtfs_stop_time",
    "gtfs_frequency",
    "gtfs_trip",
    "gtfs_calendar_date",
    "gtfs_calendar",
    "gtfs_route",
    "gtfs_stop",
    "gtfs_agency",
)


def _copy(conn: Connection, table: str, frame: pd.DataFrame, columns: Sequence[str]) -> int:
    """COPY a frame's columns into a table (empty fields become NULL)."""
    if frame.empty:
        return 0
    buffer = io.StringIO()
    frame.loc[:, list(columns)].to_csv(buffer, index=False, header=False)
    raw: Any = conn.connection.dbapi_connection
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT csv)") as copy,
    ):
        copy.write(buffer.getvalue())
    return len(frame)


def replace_feed(conn: Connection, feed: Feed, checksum: str) -> dict[str, int]:
    """The feed's tables, replaced wholesale; readers see the old feed until the transaction commits."""
    for table in _TABLES:
        conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608  (fixed names)
    stops = feed.stops.assign(
        geom=(
            "SRID=4326;POINT("
            + feed.stops["stop_lon"].astype(str)
            + " "
            + feed.stops["stop_lat"].astype(str)
            + ")"
        ).where(feed.stops["stop_lat"].notna(), None)
    )
    counts = {
        "agency": _copy(
            conn, "gtfs_agency", feed.agency, ["agency_id", "agency_name", "agency_url", "agency_timezone"]
        ),
        "stops": _copy(
            conn,
            "gtfs_stop",
            stops,
            ["stop_id", "stop_code", "stop_name", "location_type", "parent_station", "geom"],
        ),
        "routes": _copy(
            conn,
            "gtfs_route",
            feed.routes,
            [
                "route_id",
                "agency_id",
                "route_short_name",
                "route_long_name",
                "route_type",
                "route_color",
                "route_text_color",
            ],
        ),
        "trips": _copy(
            conn,
            "gtfs_trip",
            feed.trips,
            ["trip_id", "route_id", "service_id", "trip_headsign", "direction_id", "shape_id"],
        ),
        "stop_times": _copy(
            conn,
            "gtfs_stop_time",
            feed.stop_times,
            ["trip_id", "stop_sequence", "stop_id", "arrival_s", "departure_s"],
        ),
    }
    if feed.calendar is not None:
        counts["calendar"] = _copy(
            conn, "gtfs_calendar", feed.calendar, ["service_id", *GTFS_DAYS, "start_date", "end_date"]
        )
    if feed.calendar_dates is not None:
        counts["calendar_dates"] = _copy(
            conn, "gtfs_calendar_date", feed.calendar_dates, ["service_id", "date", "exception_type"]
        )
    if feed.frequencies is not None:
        counts["frequencies"] = _copy(
            conn, "gtfs_frequency", feed.frequencies, ["trip_id", "start_s", "end_s", "headway_secs"]
        )
    # Which routes serve each stop, by route_id (in Sofia it carries the mode: А64 bus, ТМ10 tram, M2
    # metro; short names alone repeat across modes).
    conn.execute(
        text(
            "UPDATE gtfs_stop s SET routes = x.routes, route_count = x.n FROM ("
            " SELECT st.stop_id, string_agg(r.label, ' ' ORDER BY r.label) AS routes, count(*) AS n FROM ("
            "  SELECT DISTINCT st.stop_id, t.route_id FROM gtfs_stop_time st JOIN gtfs_trip t USING (trip_id)"
            " ) st JOIN (SELECT route_id, route_id AS label FROM gtfs_route) r"
            " USING (route_id) GROUP BY st.stop_id) x WHERE s.stop_id = x.stop_id"
        )
    )
    start, end = _service_span(feed)
    info = feed.feed_info.iloc[0].to_dict() if feed.feed_info is not None and len(feed.feed_info) else {}
    conn.execute(
        text(
            "INSERT INTO gtfs_feed (id, checksum, feed_info, start_date, end_date, counts, loaded_at)"
            " VALUES (1, :checksum, CAST(:info AS jsonb), :start, :end, CAST(:counts AS jsonb), now())"
            " ON CONFLICT (id) DO UPDATE SET checksum = excluded.checksum, feed_info = excluded.feed_info,"
            " start_date = excluded.start_date, end_date = excluded.end_date, counts = excluded.counts,"
            " loaded_at = excluded.loaded_at"
        ),
        {
            "checksum": checksum,
            "info": orjson.dumps(info, default=str).decode(),
            "start": start,
            "end": end,
            "counts": orjson.dumps(counts).decode(),
        },
    )
    for table in _TABLES:
        conn.execute(text(f"ANALYZE {table}"))
    return counts


def _service_span(feed: Feed) -> tuple[Any, Any]:
    dates: list[Any] = []
    if feed.calendar is not None and len(feed.calendar):
        dates += [feed.calendar["start_date"].min(), feed.calendar["end_date"].max()]
    if feed.calendar_dates is not None and len(feed.calendar_dates):
        dates += [feed.calendar_dates["date"].min(), feed.calendar_dates["date"].max()]
    return (min(dates), max(dates)) if dates else (None, None)
