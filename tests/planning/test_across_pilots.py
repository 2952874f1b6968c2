"""The planning pilot answering the others through the core's inputs: the air pilot's exposure weighted
by the residents the planning pilot places; the transport pilot's PTAL, stop catchments and coverage
walking the planning pilot's streets, and its coverage counting the residents."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from itertools import pairwise

import httpx
import networkx as nx
import numpy as np
import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import Engine, text

from tests.support.api import features, follow
from tests.support.geo import to_utm, to_wgs84
from tests.support.gtfs_raw import WEEKDAY, RawFeed, ptal_by_hand, read_raw_feed
from twin.platform.settings import Settings


def test_exposure_is_population_weighted_once_residents_are_known(
    planning_loaded: None, air_loaded: None, client: httpx.Client
) -> None:
    body = client.get("/collections/air_exposure/items", params={"period": "2019"}).json()
    assert body["computation"]["residents"]["available"] is True
    units = [f["properties"] for f in body["features"]]
    # Every building lies in the district, so the units hold the whole calibrated population.
    assert sum(u["residents"] for u in units if u["residents"]) == pytest.approx(53_110, abs=2)
    for unit in units:
        if unit["residents"]:
            # A weighted mean of estimates lies within the unit's spread of estimates (± its rounding).
            assert abs(unit["population_weighted_mean"] - unit["mean"]) < 3 * max(unit["uncertainty"], 1.0)
    assert 0 < body["computation"]["residents"]["synthetic_share"] < 1


# -- the transport pilot walking the planning pilot's streets ------------------------------------------
WALK_REACH_M = 100.0  # a place within this of a street is on the graph (twin.planning.walking)


class StreetNetwork:
    """The loaded streets as a networkx graph, built here from the raw rows (every segment an edge,
    vertices within 0.5 m one node): an independent measure of the walks the twin's graph gives."""

    def __init__(self, engine: Engine) -> None:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT ST_AsBinary(ST_Transform(geom, 32634)) AS wkb FROM street")
            ).all()
        self.lines = [shapely.from_wkb(bytes(r.wkb)) for r in rows]
        self.graph = nx.Graph()
        for line in self.lines:
            keys = [(round(x / 0.5), round(y / 0.5)) for x, y in line.coords]
            for (a, pa), (b, pb) in pairwise(zip(keys, line.coords, strict=True)):
                if a != b:
                    self.graph.add_edge(a, b, length=math.dist(pa, pb))
                    self.graph.nodes[a]["xy"], self.graph.nodes[b]["xy"] = pa, pb
        self.keys = list(self.graph.nodes)
        self.xy = np.array([self.graph.nodes[k]["xy"] for k in self.keys])
        self.streets = shapely.union_all(self.lines)

    def on(self, x: float, y: float) -> bool:
        return bool(shapely.distance(self.streets, shapely.Point(x, y)) <= WALK_REACH_M)

    def nearest(self, x: float, y: float) -> tuple[object, float]:
        i = int(np.argmin(np.hypot(self.xy[:, 0] - x, self.xy[:, 1] - y)))
        return self.keys[i], float(math.hypot(self.xy[i, 0] - x, self.xy[i, 1] - y))

    def from_point(self, x: float, y: float) -> Callable[[float, float], float | None]:
        """The walk from (x, y) to any place, when both are on the graph and connected."""
        start, snap = self.nearest(x, y)
        lengths = nx.single_source_dijkstra_path_length(self.graph, start, weight="length")

        def walk(tx: float, ty: float) -> float | None:
            if not self.on(tx, ty):
                return None
            end, end_snap = self.nearest(tx, ty)
            return lengths[end] + snap + end_snap if end in lengths else None

        return walk


@pytest.fixture(scope="module")
def network(planning_loaded: None, engine: Engine) -> StreetNetwork:
    return StreetNetwork(engine)


@pytest.fixture(scope="module")
def raw(settings: Settings) -> RawFeed:
    assert settings.sources_dir is not None
    return read_raw_feed(settings.sources_dir / "sofiatraffic-gtfs" / "result.zip")


def test_ptal_walks_the_streets_where_they_are_loaded(
    transit_loaded: None, network: StreetNetwork, raw: RawFeed, client: httpx.Client
) -> None:
    pages = follow(client, features(client, "ptal", date=WEEKDAY, limit=1000))
    cells = [f["properties"] for page in pages for f in page["features"]]
    straight = {
        f["properties"]["cell_id"]: f["properties"]["ai"]
        for page in follow(client, features(client, "ptal", date=WEEKDAY, limit=1000, street_graph="false"))
        for f in page["features"]
    }
    on_graph = [c for c in cells if c["walk"] == "street graph"]
    assert 30 < len(on_graph) < len(cells) / 2  # the streets cover one window of the district
    assert sum(c["ai"] != straight[c["cell_id"]] for c in cells) >= len(on_graph) / 2
    day = dt.date.fromisoformat(WEEKDAY)
    ranked = sorted(on_graph, key=lambda c: c["ai"])
    for cell in (ranked[0], ranked[len(ranked) // 2], ranked[-1]):
        col, row = (int(v) for v in cell["cell_id"].split("_"))
        x, y = (col + 0.5) * 100, (row + 0.5) * 100
        assert network.on(x, y)
        walk = network.from_point(x, y)
        expected = ptal_by_hand(raw, x, y, day, walk_of=lambda stop, walk=walk: walk(*raw.stops_xy[stop]))
        assert cell["ai"] == pytest.approx(expected, abs=0.005 + 1e-9), cell["cell_id"]


def test_stop_catchments_follow_the_streets_where_they_are_loaded(
    transit_loaded: None, network: StreetNetwork, raw: RawFeed, client: httpx.Client
) -> None:
    lon0, lat0, lon1, lat1 = to_wgs84(shapely.box(*network.streets.bounds)).bounds
    body = features(client, "stop_catchments", bbox=f"{lon0},{lat0},{lon1},{lat1}", limit=1000)
    catchments = {f["properties"]["stop_id"]: f for f in body["features"]}
    assert body["computation"]["stops_on_graph"] > 10
    for stop, feature in catchments.items():
        x, y = raw.stops_xy[stop]
        distance = shapely.distance(network.streets, shapely.Point(x, y))
        drawn = feature["properties"]["walk"] == "street graph"
        # On the graph is within 100 m of a street (the graph's area is a buffer of 8 segments a
        # quarter circle: up to 2 m short of it).
        if distance < WALK_REACH_M - 2:
            assert drawn, stop
        elif distance > WALK_REACH_M:
            assert not drawn, stop
    drawn_ids = sorted(s for s, f in catchments.items() if f["properties"]["walk"] == "street graph")
    for stop in drawn_ids[:: max(1, len(drawn_ids) // 4)]:
        x, y = raw.stops_xy[stop]
        area = to_utm(shape(catchments[stop]["geometry"]))
        # No walk is shorter than the straight line: the catchment lies in the circle of the walk.
        assert area.difference(shapely.Point(x, y).buffer(400 + 1)).area < 1.0
        # Every street vertex the independent graph reaches with 10 m to spare is inside.
        start, snap = network.nearest(x, y)
        reached = nx.single_source_dijkstra_path_length(
            network.graph, start, cutoff=390 - snap, weight="length"
        )
        points = shapely.points([network.graph.nodes[k]["xy"] for k in reached])
        assert shapely.contains(area.buffer(0.5), points).all(), stop


def test_coverage_counts_the_residents_the_planning_pilot_places(
    transit_loaded: None, planning_loaded: None, engine: Engine, client: httpx.Client
) -> None:
    body = client.get("/transport/coverage", params={"date": WEEKDAY}).json()
    residents = body["residents"]
    assert residents["total"] == pytest.approx(53_110, abs=2)  # every building lies in the district
    assert 0 < residents["synthetic_share"] < 1
    assert body["stops_on_graph"] > 0
    assert body["walking"]["graph"]["nodes"] > 100
    # Independently: the share of home floor area whose building's point lies in the covered area.
    layer = features(client, "service_coverage", date=WEEKDAY)
    covered = shape(layer["features"][0]["geometry"])
    with engine.connect() as conn:
        share = conn.execute(
            text(
                "SELECT sum(h) FILTER (WHERE ST_Contains(ST_GeomFromText(:covered, 4326),"
                " ST_Transform(ST_PointOnSurface(ST_Transform(geom, 32634)), 4326))) / sum(h)"
                " FROM (SELECT geom, ST_Area(ST_Transform(geom, 32634)) * floors *"
                " CASE use WHEN 'residential' THEN 1.0 WHEN 'mixed' THEN 0.5 ELSE 0 END AS h"
                " FROM building) homes"
            ),
            {"covered": covered.wkt},
        ).scalar_one()
    assert residents["covered"] == pytest.approx(53_110 * float(share), rel=0.002)
    assert residents["share"] == pytest.approx(float(share), rel=0.002)
