"""Walking: shortest paths on a street graph by hand, the straight line × detour off it, two-step
floating catchment by hand, and the access layer over the district."""

from __future__ import annotations

import math

import geopandas as gpd
import httpx
import numpy as np
import pytest
import shapely
from sqlalchemy import Engine, text

from tests.support.api import assert_problem
from twin.planning import walking


def _streets() -> gpd.GeoDataFrame:
    # An L of two streets meeting at (100, 0): west–east from (0, 0), then north to (100, 200); a third
    # street from (0, 0) north to (0, 50) that meets nothing else.
    lines = [
        shapely.LineString([(0, 0), (50, 0), (100, 0)]),
        shapely.LineString([(100, 0), (100, 200)]),
        shapely.LineString([(0, 0), (0, 50)]),
    ]
    return gpd.GeoDataFrame(geometry=lines, crs=32634)


def test_shortest_paths_by_hand() -> None:
    graph = walking.graph_of(_streets())
    assert len(graph.nodes) == 5
    assert graph.edges.nnz == 8  # four segments, both ways
    origins = np.array([[0.0, 10.0], [100.0, 190.0], [5000.0, 0.0]])
    targets = np.array([[100.0, 200.0], [0.0, 50.0]])
    distance, on_graph = walking.distances(graph, origins, targets, detour=1.3)
    # (0, 10) joins at (0, 0) — 10 m — then 100 east and 200 north to (100, 200): 310 m; to (0, 50): it
    # joins at (0, 0), 10 m, then 50 m north: 60 m (the nearest node, not the nearest point of a street).
    assert distance[0] == pytest.approx([310.0, 60.0])
    # (100, 190) joins at (100, 200): 10 m; to (0, 50): 10 + 200 + 100 + 50 = 360 m.
    assert distance[1] == pytest.approx([10.0, 360.0])
    # Far off the graph: the straight line × 1.3.
    assert distance[2] == pytest.approx([np.hypot(4900, 200) * 1.3, np.hypot(5000, 50) * 1.3])
    assert on_graph.tolist() == [[True, True], [True, True], [False, False]]
    assert walking.nearest(distance).tolist() == pytest.approx([60.0, 10.0, np.hypot(4900, 200) * 1.3])


def test_two_step_floating_catchment_by_hand() -> None:
    # Two places (capacity 100 and 30) and three origins (10, 20, 30 residents); within reach: origin 0
    # of place 0; origin 1 of both; origin 2 of place 1.
    distance = np.array([[500.0, 2000.0], [800.0, 900.0], [3000.0, 100.0]])
    places = walking.two_step(distance, np.array([10.0, 20.0, 30.0]), np.array([100.0, 30.0]), 1000.0)
    # Place 0 serves 10 + 20 residents: 100 / 30 each; place 1 serves 20 + 30: 30 / 50 each.
    assert places == pytest.approx([100 / 30, 100 / 30 + 30 / 50, 30 / 50])


def _items(client: httpx.Client, **params: object) -> dict[str, object]:
    response = client.get("/collections/walk_access/items", params={"limit": 10000, **params})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_access_over_the_district(planning_loaded: None, client: httpx.Client, engine: Engine) -> None:
    body = _items(client)
    units = {f["properties"]["name"]: f["properties"] for f in body["features"]}
    assert sum(u["residents"] for u in units.values()) == pytest.approx(53_110, abs=1)
    for unit in units.values():
        if not unit["residents"]:
            assert unit["kindergarten_reach_pct"] is None  # no residents, no share (the zoo)
            continue
        assert 0 <= unit["kindergarten_reach_pct"] <= 100
        assert unit["residents_without_kindergarten"] == pytest.approx(
            unit["residents"] * (1 - unit["kindergarten_reach_pct"] / 100),
            abs=0.2 + unit["residents"] * 1e-4,  # the share is rounded to 0.01 %
        )
    computation = body["computation"]
    assert computation["graph"]["nodes"] > 100
    assert 0 < computation["residents_on_graph"] < computation["residents"]
    # Independently, for a home far from every street: its nearest kindergarten by the straight line × 1.3.
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT b.neighbourhood, min(ST_Distance(ST_Transform(ST_PointOnSurface(b.geom), 32634),"
                " ST_Transform(e.geom, 32634))) * 1.3 AS walk FROM building b, education_place e"
                " WHERE e.kind = 'kindergarten' AND b.neighbourhood = 'жк. Градина'"
                " AND b.use <> 'non-residential'"
                " GROUP BY b.id, b.neighbourhood ORDER BY walk LIMIT 1"
            )
        ).one()
    gradina = units["жк. Градина"]
    # Its closest home is farther than 15 minutes (1,200 m): no one there reaches a kindergarten.
    assert row.walk > 1200
    assert gradina["kindergarten_reach_pct"] == 0
    assert gradina["residents_without_kindergarten"] == gradina["residents"]
    assert gradina["on_graph_pct"] == 0


def test_a_longer_walk_reaches_more(planning_loaded: None, client: httpx.Client) -> None:
    short = _items(client, walk_min=10)["features"]
    long = _items(client, walk_min=30)["features"]

    def reached(features: list[dict[str, dict[str, float]]]) -> float:
        return sum(
            f["properties"]["residents"] - f["properties"]["residents_without_school"] for f in features
        )

    assert reached(short) < reached(long)


def test_bad_parameters(planning_loaded: None, client: httpx.Client) -> None:
    for params, name in (
        ({"walk_min": 0}, "walk_min"),
        ({"detour": 0.5}, "detour"),
        ({"unit": "zone"}, "unit"),
    ):
        body = assert_problem(client.get("/collections/walk_access/items", params=params), 400)
        assert body["parameter"] == name


def test_the_sparse_reach_is_the_dense_one() -> None:
    """`reach` (k-d trees, sparse, for a city's homes) answers what `distances` (dense) does."""
    rng = np.random.default_rng(8)
    graph = walking.graph_of(_streets())
    origins = np.vstack([rng.uniform(-50, 150, (60, 2)), rng.uniform(-3000, 3000, (60, 2))])
    targets = np.vstack([[[100.0, 200.0], [0.0, 50.0]], rng.uniform(-3000, 3000, (8, 2))])
    distance, on_graph = walking.distances(graph, origins, targets, 1.3)
    found = walking.reach(graph, origins, targets, 1200.0, 1.3)
    assert found.nearest_m == pytest.approx(walking.nearest(distance))
    assert (found.within.toarray() > 0).tolist() == (distance <= 1200.0).tolist()
    assert found.on_graph.tolist() == on_graph.any(axis=1).tolist()
    residents = rng.uniform(1, 50, len(origins))
    capacity = rng.uniform(20, 200, len(targets))
    assert walking.two_step_sparse(found.within, residents, capacity) == pytest.approx(
        walking.two_step(distance, residents, capacity, 1200.0)
    )


def test_a_catchment_along_one_street_by_hand() -> None:
    # One street from (0, 0) east to (1000, 0); a stop at its west end; a 400 m walk, detour 1.3.
    streets = gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (1000, 0)])], crs=32634)
    graph = walking.graph_of(streets)
    [area], [drawn] = walking.catchments(graph, np.array([(0.0, 0.0)]), 400, 1.3)
    assert drawn
    # On the graph (within 100 m of the street): the discs of the walk left along the first 400 m,
    # radius min(400 - x, 100): a 300 × 200 m rectangle and a whole disc of 100 m (the half at x < 0,
    # and the discs past x = 300 all lie inside the disc at x = 300).
    on_graph = 300 * 200 + math.pi * 100**2
    # Beyond the graph (farther than 100 m from the street): the circle of 400 / 1.3 m outside the
    # street's 100 m buffer (a band |y| ≤ 100 east of x = 0, a half disc west of it).
    r, h = 400 / 1.3, 100.0
    east = (math.pi * r**2 - 2 * (h * math.sqrt(r**2 - h**2) + r**2 * math.asin(h / r))) / 2
    west = math.pi * r**2 / 2 - math.pi * h**2 / 2
    assert area.area == pytest.approx(on_graph + east + west, rel=0.01)
    assert area.contains(shapely.Point(350, 60))  # 300 m along, then 78 m straight across: 378 m
    # 390 m along and 60 m off: leaving the street at 300 m is 408 m, later is longer, and earlier
    # leaves it for more than 100 m.
    assert not area.contains(shapely.Point(390, 60))
    assert not area.contains(shapely.Point(0, 320))  # off the graph, beyond 400 / 1.3
    # A stop far from every street gets the circle alone.
    [circle], [drawn] = walking.catchments(graph, np.array([(500.0, 900.0)]), 400, 1.3)
    assert not drawn
    assert circle.area == pytest.approx(math.pi * r**2, rel=0.005)
