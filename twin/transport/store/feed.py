"""Writing a validated GTFS feed: every table replaced inside the caller's transaction, with COPY.

Speed matters here (the issue's target is an import within twice gtfs_kit's read of the same zip), so:

- The tables are emptied with TRUNCATE, not DELETE. Its ACCESS EXCLUSIVE lock makes readers of the GTFS
  tables wait until the import commits (about a second for the Sofia feed) instead of reading the old
  feed meanwhile; either way they never see a partial or empty feed. In exchange no dead rows are left
  behind (DELETE doubled the tables until autovacuum ran, and left the primary keys full of old entries
  that every new row was checked against) and the import is several times faster. Feeds change every
  few days; a reader waiting a second once then is the better trade. An import that cannot get the lock
  within _LOCK_TIMEOUT (a long query is reading) gives up with 409 rather than stall every reader.
- The keys of stop_times and trips are dropped before the COPY and built again after it (one sorted
  build is far cheaper than 600,000 index insertions); the layers' rows are computed while the server
  builds them.
- COPY payloads are made by numpy (below), not by DataFrame.to_csv, which alone took longer than
  validating the whole feed, and rows are written frozen (COPY FREEZE, allowed after the TRUNCATE).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
import pandas as pd
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from twin.core.bulk import copy_frame
from twin.core.errors import Conflict
from twin.transport.gtfs import Feed
from twin.transport.tables import GTFS_DAYS

_TABLES = (
    # Locked in this order: the stops first, as the readers (stop metrics, scenarios) read them first,
    # so that a reader holding them makes the import wait rather than deadlock with it.
    "gtfs_stop",
    "gtfs_route_line",
    "gtfs_shape",
    "gtfs_stop_time",
    "gtfs_frequency",
    "gtfs_trip",
    "gtfs_calendar_date",
    "gtfs_calendar",
    "gtfs_route",
    "gtfs_agency",
)

# (drop, create) of the indexes of the two big tables; the names are those of the migrations.
_REBUILT_INDEXES = (
    (
        "ALTER TABLE gtfs_trip DROP CONSTRAINT gtfs_trip_pkey",
        "ALTER TABLE gtfs_trip ADD CONSTRAINT gtfs_trip_pkey PRIMARY KEY (trip_id)",
    ),
    ("DROP INDEX gtfs_trip_route_idx", "CREATE INDEX gtfs_trip_route_idx ON gtfs_trip (route_id)"),
    (
        "ALTER TABLE gtfs_stop_time DROP CONSTRAINT gtfs_stop_time_pkey",
        "ALTER TABLE gtfs_stop_time ADD CONSTRAINT gtfs_stop_time_pkey PRIMARY KEY (trip_id, stop_sequence)",
    ),
)

# Text columns where empty is a value, not NULL: the routes at a stop that no route serves.
_KEPT_EMPTY = {"gtfs_stop": ("routes",)}

_LOCK_TIMEOUT = "5s"
"""How long the import waits for readers to let go of the tables (new readers queue behind it)."""

_STOP_COLUMNS = (
    "stop_id",
    "stop_code",
    "stop_name",
    "location_type",
    "parent_station",
    "routes",
    "route_count",
    "geom",
)
_ROUTE_COLUMNS = (
    "route_id",
    "agency_id",
    "route_short_name",
    "route_long_name",
    "route_type",
    "route_color",
    "route_text_color",
)
ROUTE_LINE_COLUMNS = (
    "route_dir",
    "route_id",
    "direction_id",
    "route_short_name",
    "route_long_name",
    "route_type",
    "mode",
    "route_color",
    "headsign",
    "trips",
    "patterns",
    "pattern_trips",
    "stops",
    "geometry_source",
    "shape_id",
    "geom",
)


@dataclass(frozen=True)
class FeedLayers:
    """What the layers serve, computed from a feed (twin.transport.importer): ``stops`` is ``feed.stops``
    with ``routes``, ``route_count`` and ``geom``; ``shapes`` and ``route_lines`` are the rows of
    gtfs_shape and gtfs_route_line. Geometries are hex EWKB."""

    stops: pd.DataFrame
    shapes: pd.DataFrame
    route_lines: pd.DataFrame


def replace_feed(
    conn: Connection, feed: Feed, checksum: str, layers: Callable[[], FeedLayers]
) -> dict[str, int]:
    """Replace the stored feed. ``layers`` computes the layers' rows: it is called once the bulk of the
    feed is written, while the database builds its keys."""
    _empty_tables(conn)
    # Dropped on the now empty tables (instant) and built again once the rows are in: one sorted build
    # is far cheaper than an index insertion per row.
    for drop, _create in _REBUILT_INDEXES:
        conn.execute(text(drop))
    counts = _copy_bulk(conn, feed)
    # The server builds the keys (the longest step after the COPY) while the layers are computed here.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gtfs-keys") as pool:
        keys = pool.submit(_create_indexes, conn)
        computed = layers()
    keys.result()
    counts.update(_copy_small(conn, feed))
    counts.update(_copy_layers(conn, computed))
    _record_feed(conn, feed, checksum, counts)
    # Fresh statistics where plans depend on them: trips (joined to stop_times, filtered by service) here,
    # the layers' tables by the import runner. stop_times is left to autovacuum's analyze, which follows
    # within a minute of the commit (building its primary key has already set its row count, the figure
    # its plans need at once); the other tables have a few rows each, planned alike either way.
    conn.execute(text("ANALYZE gtfs_trip"))
    return counts


def _copy_bulk(conn: Connection, feed: Feed) -> dict[str, int]:
    """The two big tables, written while their keys are dropped."""
    return {
        "stop_times": _copy(
            conn,
            "gtfs_stop_time",
            feed.stop_times,
            ["trip_id", "stop_sequence", "stop_id", "arrival_s", "departure_s"],
        ),
        "trips": _copy(
            conn,
            "gtfs_trip",
            feed.trips,
            ["trip_id", "route_id", "service_id", "trip_headsign", "direction_id", "shape_id"],
        ),
    }


def _copy_small(conn: Connection, feed: Feed) -> dict[str, int]:
    """Agency, routes, the calendars and frequencies (those the feed has)."""
    counts = {
        "agency": _copy(
            conn, "gtfs_agency", feed.agency, ["agency_id", "agency_name", "agency_url", "agency_timezone"]
        ),
        "routes": _copy(conn, "gtfs_route", feed.routes, _ROUTE_COLUMNS),
    }
    optional = (
        ("calendar", "gtfs_calendar", feed.calendar, ["service_id", *GTFS_DAYS, "start_date", "end_date"]),
        (
            "calendar_dates",
            "gtfs_calendar_date",
            feed.calendar_dates,
            ["service_id", "date", "exception_type"],
        ),
        ("frequencies", "gtfs_frequency", feed.frequencies, ["trip_id", "start_s", "end_s", "headway_secs"]),
    )
    for name, table, frame, columns in optional:
        if frame is not None:
            counts[name] = _copy(conn, table, frame, columns)
    return counts


def _copy_layers(conn: Connection, computed: FeedLayers) -> dict[str, int]:
    """What the layers serve: stops with their routes, shapes and route lines (with geodesic lengths,
    right wherever the feed is; a few hundred lines, cheap)."""
    counts = {
        "stops": _copy(conn, "gtfs_stop", computed.stops, _STOP_COLUMNS),
        "shapes": _copy(conn, "gtfs_shape", computed.shapes, ["shape_id", "point_count", "geom"]),
        "route_lines": _copy(conn, "gtfs_route_line", computed.route_lines, ROUTE_LINE_COLUMNS),
    }
    conn.execute(text("UPDATE gtfs_route_line SET length_m = ST_Length(geom::geography)"))
    return counts


def _record_feed(conn: Connection, feed: Feed, checksum: str, counts: dict[str, int]) -> None:
    """The one row of gtfs_feed: checksum, feed_info, service span, counts, when it was loaded."""
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


def _create_indexes(conn: Connection) -> None:
    for _drop, create in _REBUILT_INDEXES:
        conn.execute(text(create))


def _empty_tables(conn: Connection) -> None:
    conn.execute(text(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'"))
    try:
        conn.execute(text(f"TRUNCATE {', '.join(_TABLES)}"))
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) in ("55P03", "40P01"):  # lock not available, deadlock
            raise Conflict(
                "the GTFS tables are held by a long-running query; the feed was not replaced, try again"
            ) from exc
        raise
    conn.execute(text("SET LOCAL lock_timeout = DEFAULT"))


def _copy(conn: Connection, table: str, frame: pd.DataFrame, columns: Sequence[str]) -> int:
    """COPY a frame's columns into a table (missing values and, mostly, empty text become NULL).

    FREEZE: the table was truncated in this transaction, so its rows can be written frozen and all
    visible (no later pass to set hint bits or freeze them; index-only scans work at once)."""
    return copy_frame(conn, table, frame, columns, keep_empty=_KEPT_EMPTY.get(table, ()), freeze=True)


def _service_span(feed: Feed) -> tuple[Any, Any]:
    dates: list[Any] = []
    if feed.calendar is not None and len(feed.calendar):
        dates += [feed.calendar["start_date"].min(), feed.calendar["end_date"].max()]
    if feed.calendar_dates is not None and len(feed.calendar_dates):
        dates += [feed.calendar_dates["date"].min(), feed.calendar_dates["date"].max()]
    return (min(dates), max(dates)) if dates else (None, None)
