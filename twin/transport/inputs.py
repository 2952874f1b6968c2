"""The transport pilot's answers to other computations (:data:`twin.questions.TRANSIT`): the
schedule of a service day, the routes with their modes, and the stops near a place with their
departures per hour."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from sqlalchemy import Connection

from twin.core.derived.inputs import Provider
from twin.questions import TRANSIT, Transit
from twin.transport.modes import mode_of
from twin.transport.store import schedule as store

SCHEDULE_COLUMNS = ["stop_id", "departure_s", "route_id", "direction_id"]


class StoredTransit:
    """:class:`twin.questions.Transit` over the stored feed, read on the caller's connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def schedule(self, day: date, window: tuple[int, int] | None = None) -> pd.DataFrame:
        _feed, services = store.service_day(self._conn, day)
        rows = store.departures(self._conn, services, window)
        frame = pd.DataFrame(rows, columns=[*SCHEDULE_COLUMNS, "trip_id"])
        return frame.drop(columns=["trip_id"])

    def routes(self) -> pd.DataFrame:
        frame = pd.DataFrame(store.routes(self._conn), columns=["route_id", "route_short_name", "route_type"])
        frame = frame.astype({"route_type": "int64"})
        return frame.assign(mode=[mode_of(int(t)) for t in frame["route_type"]])

    def stops_near(
        self, points_xy: np.ndarray[Any, Any], radius_m: float, day: date, window: tuple[int, int]
    ) -> pd.DataFrame:
        stops = pd.DataFrame(
            store.stop_points(self._conn, boarding_only=True),
            columns=["stop_id", "stop_name", "routes", "x", "y"],
        )
        return stops_within_reach(points_xy, stops, self.schedule(day, window), radius_m, window)


def stops_within_reach(
    points_xy: np.ndarray[Any, Any],
    stops: pd.DataFrame,
    schedule: pd.DataFrame,
    radius_m: float,
    window: tuple[int, int],
) -> pd.DataFrame:
    """The stops within `radius_m` of each point with their departures per hour in the window.

    Parameters
    ----------
    points_xy : array (n, 2)
        Points in UTM 34N metres.
    stops : DataFrame
        ``stop_id``, ``stop_name``, ``x``, ``y`` (UTM 34N metres).
    schedule : DataFrame
        Departures (``stop_id``, ``departure_s``) inside the window.
    radius_m : float
        Straight-line distance, metres.
    window : (start, end)
        Seconds after the service day's midnight, end excluded.
    """
    start, end = window
    if not end > start:
        raise ValueError(f"window must end after it starts, got {window}")
    points = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    stop_xy = stops[["x", "y"]].to_numpy(dtype=np.float64)
    # A k-d tree: a city of buildings asks this at once, and a full distance matrix would not fit.
    pairs = cKDTree(points).sparse_distance_matrix(cKDTree(stop_xy), radius_m, output_type="ndarray")
    point, stop, distance = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64), pairs["v"]
    inside = schedule[(schedule["departure_s"] >= start) & (schedule["departure_s"] < end)]
    counts = inside.groupby("stop_id").size()
    near = stops.iloc[stop]
    departures = near["stop_id"].map(counts).fillna(0).astype("int64").to_numpy()
    result = pd.DataFrame(
        {
            "point": point,
            "stop_id": near["stop_id"].to_numpy(),
            "stop_name": near["stop_name"].to_numpy(),
            "x": stop_xy[stop, 0],
            "y": stop_xy[stop, 1],
            "distance_m": distance.round(1),
            "departures": departures,
            "departures_per_hour": np.round(departures / ((end - start) / 3600), 3),
        }
    )
    return result.sort_values(["point", "distance_m", "stop_id"], kind="stable").reset_index(drop=True)


def _open(conn: Connection) -> Transit:
    return StoredTransit(conn)


TRANSIT_PROVIDER: Provider[Transit] = Provider(TRANSIT, layers=("stops",), open=_open)
