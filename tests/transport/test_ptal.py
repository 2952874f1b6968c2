"""The PTAL grid and service coverage: a hand-computed example, the bands, and the real feed checked
against independent computations from the raw GTFS zip and the raw district polygon."""

from __future__ import annotations

import datetime as dt
import math

import httpx
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import Engine

from tests.support.api import assert_problem, features
from tests.support.geo import to_utm
from tests.support.gtfs_raw import WEEKDAY, RawFeed, ptal_by_hand
from twin.core.derived.engine import DatabaseInputs
from twin.core.registry import providers
from twin.transport.layers.ptal import PtalParameters, band_of, bands_of, ptal_grid, ptal_index

STOP = "2764"  # ЗООПАРКА, in Lozenets


# -- the pure function, by hand ---------------------------------------------------------------------
def test_a_hand_computed_example() -> None:
    saps = pd.DataFrame(
        [
            ("S1", 300.0, 400.0, "A", "bus", 12.0),
            ("S1", 300.0, 400.0, "B", "bus", 6.0),
            ("S2", 0.0, 100.0, "B", "bus", 4.0),
            ("S2", 0.0, 100.0, "T1", "tram", 10.0),
            ("S3", 600.0, 0.0, "C", "bus", 30.0),
            ("S3", 600.0, 0.0, "T2", "tram", 20.0),
            ("S4", 1000.0, 0.0, "T3", "tram", 60.0),
        ],
        columns=["stop_id", "x", "y", "route_id", "mode", "frequency"],
    )
    # POI (0, 0), detour 1.2, 80 m/min:
    #   S1 500 m straight -> walk 600 m (≤ 640 bus) = 7.5 min; S2 100 m -> 120 m = 1.5 min;
    #   S3 600 m -> 720 m = 9 min (> 640: bus C out; ≤ 960: tram T2 in); S4 1,200 m walk: out.
    #   A  at S1: SWT 30/12 = 2.5, AWT 2.5 + 2 = 4.5,  TAT 7.5 + 4.5 = 12.0
    #   B  at S1: SWT 30/6 = 5,    AWT 7,               TAT 14.5
    #   B  at S2: SWT 30/4 = 7.5,  AWT 9.5,             TAT 1.5 + 9.5 = 11.0  <- B's best SAP
    #   T1 at S2: SWT 30/10 = 3,   AWT 3 + 0.75 = 3.75, TAT 5.25
    #   T2 at S3: SWT 30/20 = 1.5, AWT 2.25,            TAT 11.25
    #   EDF = 30 / TAT: A 2.5, B 2.727273, T1 5.714286, T2 2.666667
    #   bus:  B has the highest EDF (not A, the most frequent): 30/11 + 0.5 × 2.5 = 3.977273
    #   tram: 30/5.25 + 0.5 × 30/11.25 = 7.047619
    #   AI = 11.024892 -> band 3 (10 < AI ≤ 15); 4 routes; best route T1; nearest SAP 1.5 min.
    far = (5000.0, 5000.0)
    result = ptal_index(np.array([(0.0, 0.0), far]), saps, detour_factor=1.2)
    expected = 30 / 11 + 0.5 * 2.5 + 30 / 5.25 + 0.5 * 30 / 11.25
    assert result.ai[0] == pytest.approx(expected, abs=1e-12)
    assert round(expected, 6) == 11.024892
    assert result.bands.tolist() == ["3", "0"]
    assert result.routes.tolist() == [4, 0]
    assert result.best_route.tolist() == ["T1", None]
    assert result.nearest_walk_min[0] == pytest.approx(1.5)
    assert math.isnan(result.nearest_walk_min[1])
    assert result.ai[1] == 0
    # Detour 1 (straight lines): bus C comes in at 600 m = 7.5 min, SWT 1, AWT 3, TAT 10.5, EDF 2.857143,
    # now the bus leader; A (6.25 + 4.5 = 10.75) and B (at S2: 1.25 + 9.5 = 10.75) count at half;
    # tram T1 5.0 and T2 7.5 + 2.25 = 9.75.
    straight = ptal_index(np.array([(0.0, 0.0)]), saps, detour_factor=1.0)
    bus = 30 / 10.5 + 0.5 * (30 / 10.75 + 30 / 10.75)
    tram = 30 / (1.25 + 3.75) + 0.5 * 30 / (7.5 + 2.25)
    assert straight.ai[0] == pytest.approx(bus + tram, abs=1e-12)
    assert straight.routes[0] == 5


def test_walks_on_a_street_graph_replace_the_straight_line_where_measured() -> None:
    saps = pd.DataFrame(
        [
            ("S1", 300.0, 300.0, "A", "bus", 10.0),
            ("S2", 600.0, 0.0, "B", "bus", 10.0),
            ("S3", 0.0, 200.0, "C", "bus", 10.0),
        ],
        columns=["stop_id", "x", "y", "route_id", "mode", "frequency"],
    )

    # The street graph (as the planning pilot answers): S1 lies across a block, 1,000 m round by the
    # streets; S2 is straight down a street, 600 m; S3 is off the graph (the straight line × detour).
    def walker(points: np.ndarray, stops_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert points.shape == (1, 2)
        known = {(300.0, 300.0): 1000.0, (600.0, 0.0): 600.0}
        walked = np.array([[known.get((float(x), float(y)), np.nan) for x, y in stops_xy]])
        return np.nan_to_num(walked, nan=0.0), ~np.isnan(walked)

    # Every route: 10 an hour, SWT 3 + 2 = AWT 5 min.
    # Straight (× 1.2): S1 424.26 × 1.2 = 509.1 m in (6.364 min), S2 720 m out, S3 240 m = 3 min.
    #   A: TAT 11.364, EDF 2.640; C: TAT 8, EDF 3.75 → AI = 3.75 + 0.5 × 2.640 = 5.070
    # Graph: S1 1,000 m out, S2 600 m in (7.5 min, TAT 12.5, EDF 2.4), S3 as before
    #   → AI = 3.75 + 0.5 × 2.4 = 4.95
    straight = ptal_index(np.array([(0.0, 0.0)]), saps, detour_factor=1.2)
    a = 30 / (math.hypot(300, 300) * 1.2 / 80 + 5)
    assert straight.ai[0] == pytest.approx(3.75 + 0.5 * a, abs=1e-12)
    assert straight.nearest_on_graph.tolist() == [False]
    graph = ptal_index(np.array([(0.0, 0.0)]), saps, detour_factor=1.2, walker=walker)
    assert graph.ai[0] == pytest.approx(3.75 + 0.5 * 2.4, abs=1e-12)
    assert graph.routes[0] == 2
    assert graph.nearest_walk_min[0] == pytest.approx(3.0)  # S3, off the graph
    assert graph.nearest_on_graph.tolist() == [False]
    # Without S3 the nearest SAP counted is S2, reached along the streets.
    only_graph = ptal_index(np.array([(0.0, 0.0)]), saps.iloc[:2], detour_factor=1.2, walker=walker)
    assert only_graph.nearest_walk_min[0] == pytest.approx(7.5)
    assert only_graph.nearest_on_graph.tolist() == [True]
    assert only_graph.best_route.tolist() == ["B"]


def test_trolleybuses_weigh_with_buses() -> None:
    saps = pd.DataFrame(
        [("S1", 0.0, 80.0, "A", "bus", 6.0), ("S1", 0.0, 80.0, "TB", "trolleybus", 12.0)],
        columns=["stop_id", "x", "y", "route_id", "mode", "frequency"],
    )
    # Walk 80 m × 1 = 1 min. A: SWT 5 + 2 = 7, TAT 8, EDF 3.75; TB: SWT 2.5 + 2 = 4.5, TAT 5.5,
    # EDF 5.454545. One bus group: TB in full, A at half = 5.454545 + 1.875 = 7.329545 (as two modes
    # each would count in full: 9.204545).
    result = ptal_index(np.array([(0.0, 0.0)]), saps, detour_factor=1.0)
    assert result.ai[0] == pytest.approx(30 / 5.5 + 0.5 * 30 / 8, abs=1e-12)
    assert result.best_route[0] == "TB"


def test_no_service_anywhere_is_band_zero() -> None:
    saps = pd.DataFrame(columns=["stop_id", "x", "y", "route_id", "mode", "frequency"])
    result = ptal_index(np.zeros((3, 2)), saps)
    assert result.bands.tolist() == ["0"] * 3
    assert result.ai.tolist() == [0.0] * 3


@pytest.mark.parametrize(
    ("ai", "band"),
    [
        (0.0, "0"),
        # Bands apply to the index as published, rounded to 2 decimals (TfL: 0.01–2.50, 2.51–5.00, …).
        (0.004, "0"),
        (0.006, "1a"),
        (2.5, "1a"),
        (2.5049, "1a"),
        (2.5051, "1b"),
        (5.0, "1b"),
        (5.01, "2"),
        (10.0, "2"),
        (10.01, "3"),
        (15.0, "3"),
        (15.004, "3"),  # shown as 15.00
        (15.01, "4"),
        (20.0, "4"),
        (20.01, "5"),
        (25.0, "5"),
        (25.01, "6a"),
        (40.0, "6a"),
        (40.01, "6b"),
        (1000.0, "6b"),
    ],
)
def test_band_boundaries(ai: float, band: str) -> None:
    assert band_of(ai) == band
    assert bands_of(np.array([ai])).tolist() == [band]


# -- an independent computation from the raw files --------------------------------------------------
def test_ptal_on_the_real_feed_matches_an_independent_computation(
    loaded: None,
    engine: Engine,
    raw: RawFeed,
    client: httpx.Client,
) -> None:
    day = dt.date.fromisoformat(WEEKDAY)
    # The TfL method without a network (the planning pilot's streets, when loaded, are its own test).
    params = PtalParameters(date=day, cell_m=50, street_graph=False)
    with engine.connect() as conn:
        grid = ptal_grid(DatabaseInputs(conn, providers()), params).set_index("cell_id")
    sx, sy = raw.stops_xy[STOP]
    zoo = f"{math.floor(sx / 50)}_{math.floor(sy / 50)}"
    poorest = str(grid["ai"].idxmin())  # the cell farthest from service, wherever it is
    median = str(grid.index[np.argsort(grid["ai"].to_numpy())[len(grid) // 2]])
    checked = {}
    for cell in (zoo, poorest, median):
        col, row = (int(v) for v in cell.split("_"))
        expected = ptal_by_hand(raw, (col + 0.5) * 50, (row + 0.5) * 50, day)
        assert grid.loc[cell, "ai"] == pytest.approx(expected, abs=1e-6), cell
        checked[cell] = expected
    assert checked[zoo] > 10  # a tram line, six bus lines and the metro within reach
    # Served over HTTP: the same values, rounded to 2 decimals.
    for cell, expected in checked.items():
        body = features(
            client, "ptal", date=WEEKDAY, window="08:15-09:15", cell_m=50, cell_id=cell, street_graph="false"
        )
        [feature] = body["features"]
        assert feature["properties"]["ai"] == pytest.approx(expected, abs=0.005 + 1e-9)
        assert feature["properties"]["band"] == grid.loc[cell, "band"] == band_of(expected)
        assert shape(feature["geometry"]).geom_type == "Polygon"


def test_the_layer_has_one_cell_per_centre_in_the_district(
    loaded: None,
    district: shapely.Geometry,
    client: httpx.Client,
) -> None:
    minx, miny, maxx, maxy = district.bounds
    expected = sum(
        district.intersects(shapely.Point((col + 0.5) * 50, (row + 0.5) * 50))
        for col in range(math.floor(minx / 50), math.ceil(maxx / 50))
        for row in range(math.floor(miny / 50), math.ceil(maxy / 50))
    )
    body = features(client, "ptal", date=WEEKDAY, window="08:15-09:15", cell_m=50, limit=1)
    assert body["numberMatched"] == expected > 3000
    props = body["features"][0]["properties"]
    assert props["service_date"] == WEEKDAY
    assert props["counted"] == "08:15:00-09:15:00"
    cell = to_utm(shape(body["features"][0]["geometry"]))
    assert cell.area == pytest.approx(2500, rel=1e-3)
    assert district.intersects(cell.centroid)


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"window": "25:00-07:00"}, "window"),
        ({"window": "morning"}, "window"),
        ({"cell_m": "10"}, "cell_m"),
        ({"cell_m": "501"}, "cell_m"),
        ({"cell_m": "fifty"}, "cell_m"),
        ({"detour_factor": "0.9"}, "detour_factor"),
        ({"date": "2026-13-01"}, "date"),
        ({"date": "2027-05-01"}, "date"),
    ],
)
def test_bad_ptal_parameters_are_400(
    loaded: None,
    client: httpx.Client,
    params: dict[str, str],
    parameter: str,
) -> None:
    body = assert_problem(client.get("/collections/ptal/items", params=params), 400)
    assert body["parameter"] == parameter


def test_the_collection_reports_the_extent_of_the_district_it_rates(
    loaded: None, client: httpx.Client
) -> None:
    collections = {c["id"]: c for c in client.get("/collections").json()["collections"]}
    district = collections["district"]["extent"]["spatial"]["bbox"][0]
    stops = collections["stops"]["extent"]["spatial"]["bbox"][0]
    # The cells lie over Lozenets (23.31–23.34 E), not over the stops of all Sofia it reads.
    assert stops[2] - stops[0] > 0.3
    for layer in ("ptal", "service_coverage", "lozenets_stops"):
        assert collections[layer]["extent"]["spatial"]["bbox"][0] == district
    cells = features(client, "ptal", date=WEEKDAY, limit=10000)["features"]
    lons = [x for c in cells for x, _y in c["geometry"]["coordinates"][0]]
    # Cells whose centre is inside reach past the edge by less than half a cell (50 m ≈ 0.0007°).
    assert district[0] - 0.0007 < min(lons) < district[0] + 0.002
    assert district[2] - 0.002 < max(lons) < district[2] + 0.0007
