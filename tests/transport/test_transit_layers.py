"""Derived transport layers: stations and walking catchments, checked independently."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
from pyproj import Transformer
from shapely.geometry import shape

from tests.support.api import assert_problem, features, follow
from tests.support.geo import to_utm
from tests.support.gtfs_raw import raw_rows


def test_stations_group_platforms_like_a_breadth_first_search(
    loaded: None,
    feed_zip: Path,
    client: httpx.Client,
) -> None:
    project = Transformer.from_crs(4326, 32634, always_xy=True).transform
    by_name: dict[str, list[tuple[str, float, float]]] = defaultdict(list)
    for row in raw_rows(feed_zip, "stops.txt"):
        x, y = project(float(row["stop_lon"]), float(row["stop_lat"]))
        by_name[row["stop_name"]].append((row["stop_id"], x, y))
    expected = 0
    for platforms in by_name.values():
        unseen = set(range(len(platforms)))
        while unseen:  # one breadth-first search per station
            expected += 1
            queue = [unseen.pop()]
            while queue:
                i = queue.pop()
                near = {j for j in unseen if math.dist(platforms[i][1:], platforms[j][1:]) <= 300}
                unseen -= near
                queue.extend(near)
    first = features(client, "stations", limit=1)
    assert first["numberMatched"] == expected
    vitosha = features(client, "stations", filter="name = 'МЕТРОСТАНЦИЯ ВИТОША'")
    assert vitosha["numberMatched"] == 1
    assert vitosha["features"][0]["properties"]["platforms"] == len(by_name["МЕТРОСТАНЦИЯ ВИТОША"]) == 9
    apart = features(client, "stations", filter="name = 'МЕТРОСТАНЦИЯ ВИТОША'", max_distance_m=10)
    assert apart["numberMatched"] > 1


def test_walking_catchments_are_circles_of_walk_over_detour(loaded: None, client: httpx.Client) -> None:
    first = features(
        client, "stop_catchments", limit=1000, walk_m=600, detour_factor=1.5, street_graph="false"
    )
    catchments = [f for page in follow(client, first) for f in page["features"]]
    assert len(catchments) == 2870
    assert {f["properties"]["walk"] for f in catchments} == {"straight line"}
    radius = 600 / 1.5
    for feature in catchments[:50]:
        assert feature["properties"]["radius_m"] == pytest.approx(radius)
        assert to_utm(shape(feature["geometry"])).area == pytest.approx(math.pi * radius**2, rel=0.005)


@pytest.mark.parametrize(
    ("collection", "params", "parameter"),
    [
        ("stop_catchments", {"walk_m": "10"}, "walk_m"),
        ("stop_catchments", {"detour_factor": "0.5"}, "detour_factor"),
        ("stations", {"max_distance_m": "-1"}, "max_distance_m"),
    ],
)
def test_bad_scenario_parameters(
    loaded: None,
    client: httpx.Client,
    collection: str,
    params: dict[str, str],
    parameter: str,
) -> None:
    body = assert_problem(client.get(f"/collections/{collection}/items", params=params), 400)
    assert body["parameter"] == parameter
