"""Stop metrics for polling: each service day's schedule indexed once per feed, answered from memory."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from twin.errors import InvalidParameter, NotFound
from twin.repositories import transit as repo
from twin.stop_metrics import StopDepartures, metrics

_EMPTY = StopDepartures(
    np.array([], dtype=np.int64),
    np.array([], dtype=object),
    np.array([], dtype=np.int64),
    np.array([], dtype=object),
)
MAX_DAYS_KEPT = 16


class TransitService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._days: dict[tuple[str, tuple[str, ...]], dict[str, StopDepartures]] = {}
        self._lock = threading.Lock()

    def stop_metrics(
        self, stop_id: str, day: date, window: tuple[int, int] | None, next_count: int, after: int | None
    ) -> dict[str, Any]:
        with self.engine.connect() as conn:
            feed = repo.feed_calendar(conn)
            if feed is None:
                raise NotFound("no GTFS feed is loaded (run `twin load gtfs`)")
            if not feed["start_date"] <= day <= feed["end_date"]:
                raise InvalidParameter(
                    f"date {day} is outside the feed's calendar ({feed['start_date']} to {feed['end_date']})",
                    parameter="date",
                )
            stop = repo.stop(conn, stop_id)
            if stop is None:
                raise NotFound(f"no stop {stop_id!r} in the feed", parameter="stop_id")
            services = repo.active_services(conn, day)
        index = self._index(f"{feed['checksum']}@{feed['loaded_at'].isoformat()}", services)
        result = metrics(index.get(stop_id, _EMPTY), window, next_count=next_count, after=after)
        return {
            "stop": {"id": stop["stop_id"], "name": stop["stop_name"]},
            "service_date": day.isoformat(),
            "services": services,
            **result,
            "feed": {
                "loaded_at": feed["loaded_at"].isoformat(),
                "calendar": [str(feed["start_date"]), str(feed["end_date"])],
            },
        }

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
            with self.engine.connect() as conn:
                rows = repo.departures(conn, services)
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
            if len(self._days) >= MAX_DAYS_KEPT:
                self._days.clear()
            self._days[key] = index
            return index
