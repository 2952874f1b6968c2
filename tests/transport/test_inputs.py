"""What the transport pilot answers other pilots (core.questions.TRANSIT), checked against the raw feed."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from tests.support.gtfs_raw import AM_PEAK, MODES, WEEKDAY, RawFeed, raw_rows
from twin.core.derived.engine import DatabaseInputs
from twin.core.registry import providers
from twin.questions import TRANSIT

ZOO = "2764"  # ЗООПАРКА


def test_stops_near_a_place_match_the_raw_feed(loaded: None, engine: Engine, raw: RawFeed) -> None:
    day = dt.date.fromisoformat(WEEKDAY)
    x, y = raw.stops_xy[ZOO]
    place = np.array([[x + 40.0, y - 30.0]])  # 50 m from the stop
    with engine.connect() as conn:
        near = DatabaseInputs(conn, providers()).get(TRANSIT).stops_near(place, 400, day, AM_PEAK)
    # Independently: distances from the raw stops.txt, departures counted from the raw stop_times.
    expected = {
        stop: float(np.hypot(sx - place[0, 0], sy - place[0, 1]))
        for stop, (sx, sy) in raw.stops_xy.items()
        if np.hypot(sx - place[0, 0], sy - place[0, 1]) <= 400
    }
    departures = Counter(raw.departures(day, AM_PEAK)["stop_id"])
    assert set(near["stop_id"]) == set(expected)
    assert len(expected) >= 5
    assert near["point"].tolist() == [0] * len(expected)
    assert near["distance_m"].is_monotonic_increasing
    assert near.iloc[0]["stop_id"] == ZOO
    assert near.iloc[0]["distance_m"] == pytest.approx(50.0, abs=0.1)
    for row in near.itertuples():
        assert row.distance_m == pytest.approx(expected[row.stop_id], abs=0.1)
        assert row.departures == departures.get(row.stop_id, 0)
        assert row.departures_per_hour == pytest.approx(departures.get(row.stop_id, 0), abs=1e-3)


def test_routes_carry_their_mode(loaded: None, engine: Engine, feed_zip: Path) -> None:
    with engine.connect() as conn:
        routes = DatabaseInputs(conn, providers()).get(TRANSIT).routes()
    raw_routes = raw_rows(feed_zip, "routes.txt")
    assert dict(zip(routes["route_id"], routes["mode"], strict=True)) == {
        r["route_id"]: MODES[r["route_type"]] for r in raw_routes
    }
    assert dict(Counter(routes["mode"])) == {"bus": 107, "tram": 17, "trolleybus": 10, "metro": 4}
