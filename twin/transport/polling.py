"""Stop metrics for polling: each service day's schedule indexed once per feed, answered from memory."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine

from twin.core.errors import NotFound
from twin.transport.layers.stops import group_platforms
from twin.transport.metrics import MetricsQuery, StopDepartures, metrics
from twin.transport.store import schedule as repo

_EMPTY = StopDepartures(
    np.array([], dtype=np.int64),
    np.array([], dtype=object),
    np.array([], dtype=np.int64),
    np.array([], dtype=object),
)
_FIELDS = ("seconds", "route_ids", "directions", "trip_ids")
MAX_DAYS_KEPT = 16
STATION_DISTANCE_M = 300
"""The stations layer's default: station ids and platforms here match /collections/stations."""


@dataclass
class _FeedState:
    """What every poll needs besides the departures, read once per data version of `stops`."""

    data_version: int
    calendar: dict[str, Any]
    stops: dict[str, str]
    """stop_id -> stop_name"""
    services: dict[date, list[str]] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return _feed_key(self.calendar)


def _feed_key(calendar: dict[str, Any]) -> str:
    return f"{calendar['checksum']}@{calendar['loaded_at'].isoformat()}"


class TransitService:
    """Answers stop and station metrics from memory: the feed's calendar, stop names and each service
    day's departures are read once per data version of the `stops` layer (which every GTFS import
    bumps), so a warm poll touches no database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._days: dict[tuple[str, tuple[str, ...]], dict[str, StopDepartures]] = {}
        self._station_index: dict[str, dict[str, dict[str, Any]]] = {}
        self._feed: _FeedState | None = None
        self._lock = threading.Lock()

    def stop_metrics(self, stop_id: str, query: MetricsQuery, data_version: int = 0) -> dict[str, Any]:
        feed, services = self._service_day(query.day, data_version)
        name = feed.stops.get(stop_id)
        if name is None:
            raise NotFound(f"no stop {stop_id!r} in the feed", parameter="stop_id")
        index = self._index(feed.key, services)
        result = metrics(index.get(stop_id, _EMPTY), query)
        return {
            "stop": {"id": stop_id, "name": name},
            **self._header(feed.calendar, query.day, services),
            **result,
        }

    def station_metrics(self, station_id: str, query: MetricsQuery, data_version: int = 0) -> dict[str, Any]:
        """The metrics of a station: all its platforms' departures together."""
        feed, services = self._service_day(query.day, data_version)
        station = self._stations(feed.key).get(station_id)
        if station is None:
            raise NotFound(
                f"no station {station_id!r}; station ids are listed in /collections/stations/items",
                parameter="station_id",
            )
        index = self._index(feed.key, services)
        platforms = [index.get(s, _EMPTY) for s in station["stop_ids"]]
        order = np.argsort(np.concatenate([p.seconds for p in platforms]), kind="stable")
        merged = StopDepartures(
            *(np.concatenate([getattr(p, name) for p in platforms])[order] for name in _FIELDS)
        )
        return {
            "station": {"id": station_id, "name": station["name"], "stop_ids": station["stop_ids"]},
            **self._header(feed.calendar, query.day, services),
            **metrics(merged, query),
        }

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        with (
            self.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn,
            conn.begin(),
        ):
            yield conn

    def _service_day(self, day: date, data_version: int) -> tuple[_FeedState, list[str]]:
        """The feed state and the services running on `day`; NotFound without a feed, InvalidParameter
        for a date outside its calendar."""
        feed = self._feed
        if feed is None or feed.data_version != data_version or not data_version:
            # One snapshot: the version it is filed under is the version of what was read, even when
            # an import commits meanwhile.
            with self._snapshot() as conn:
                calendar = repo.loaded_calendar(conn)
                feed = _FeedState(repo.stops_version(conn), calendar, repo.stop_names(conn))
            if feed.data_version:
                self._feed = feed
        services = feed.services.get(day)
        if services is None:
            repo.check_in_calendar(feed.calendar, day)  # the calendar read with the feed state
            with self.engine.connect() as conn:
                services = repo.active_services(conn, day)
            feed.services[day] = services
        return feed, services

    @staticmethod
    def _header(feed: dict[str, Any], day: date, services: list[str]) -> dict[str, Any]:
        return {
            "service_date": day.isoformat(),
            "services": services,
            "feed": {
                "loaded_at": feed["loaded_at"].isoformat(),
                "calendar": [str(feed["start_date"]), str(feed["end_date"])],
            },
        }

    def _stations(self, feed_version: str) -> dict[str, dict[str, Any]]:
        cached = self._station_index.get(feed_version)
        if cached is not None:
            return cached
        with self.engine.connect() as conn:
            points = repo.stop_points(conn)
        frame = gpd.GeoDataFrame(points, columns=["stop_id", "stop_name", "routes", "x", "y"])
        frame = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["x"], frame["y"]), crs=32634)
        grouped = group_platforms(frame, STATION_DISTANCE_M)
        stations = {
            row.station_id: {"name": row.name, "stop_ids": row.stop_ids.split()}
            for row in grouped.itertuples()
        }
        self._station_index = {feed_version: stations}
        return stations

    def _index(self, feed_version: str, services: list[str]) -> dict[str, StopDepartures]:
        """Every stop's departures for one set of services, built once per feed version."""
        key = (feed_version, tuple(services))
        found = self._days.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._days.get(key)
            if found is not None:
                return found
            with self._snapshot() as conn:
                current = repo.feed_calendar(conn)
                rows = repo.departures(conn, services)
            # Kept only when it is the departures of the feed the caller looked at; an import that
            # committed in between gives this one answer from the newer feed and is read again next time.
            keep = current is not None and _feed_key(current) == feed_version
            frame = pd.DataFrame(rows, columns=["stop_id", "seconds", "route_id", "direction", "trip_id"])
            index = {
                stop_id: StopDepartures(
                    group["seconds"].to_numpy(np.int64),
                    group["route_id"].to_numpy(object),
                    group["direction"].to_numpy(np.int64),
                    group["trip_id"].to_numpy(object),
                )
                for stop_id, group in frame.groupby("stop_id", sort=False)
            }
            if not keep:
                return index
            if len(self._days) >= MAX_DAYS_KEPT:
                self._days.clear()
            self._days[key] = index
            return index
