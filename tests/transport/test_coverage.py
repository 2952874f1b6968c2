"""Service coverage: the share of the district near frequent stops, checked against an independent
computation from the raw GTFS zip and the raw district polygon; the endpoint and the layer agree."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
import shapely
from shapely.geometry import shape

from tests.support.api import assert_problem, features
from tests.support.geo import to_utm
from tests.support.gtfs_raw import AM_PEAK, WEEKDAY, RawFeed


def coverage_by_hand(
    feed: RawFeed, area: shapely.Geometry, day: dt.date, min_per_hour: float
) -> tuple[float, int, int]:
    """Share of the district within 400 m / 1.2 of a stop with enough departures in the AM peak (one
    hour), the stops counted, and how many of them stand outside the district."""
    counts = feed.departures(day, AM_PEAK)["stop_id"].value_counts()
    radius = 400 / 1.2
    circles, outside = [], 0
    for stop, n in counts.items():
        point = shapely.Point(feed.stops_xy[str(stop)])
        if n / 1.0 >= min_per_hour and area.distance(point) < radius:
            circles.append(point.buffer(radius, quad_segs=16))
            outside += not area.intersects(point)
    share = shapely.union_all(circles).intersection(area).area / area.area
    return share, len(circles), outside


@pytest.mark.parametrize("threshold", [6, 20])
def test_coverage_matches_an_independent_computation(
    loaded: None,
    raw: RawFeed,
    district: shapely.Geometry,
    client: httpx.Client,
    threshold: int,
) -> None:
    share, stops, outside = coverage_by_hand(raw, district, dt.date.fromisoformat(WEEKDAY), threshold)
    assert outside > 0  # stops beyond the boundary whose catchment reaches in count too
    # Circles everywhere (the street graph, when the planning pilot loads one, is tested there).
    body = features(
        client, "service_coverage", date=WEEKDAY, min_departures_per_hour=threshold, street_graph="false"
    )
    [feature] = body["features"]
    props = feature["properties"]
    assert props["share"] == pytest.approx(share, rel=1e-4)
    assert props["qualifying_stops"] == stops
    assert props["district_area_m2"] == pytest.approx(district.area, rel=1e-6)
    assert to_utm(shape(feature["geometry"])).area == pytest.approx(props["covered_area_m2"], rel=1e-3)
    endpoint = client.get(
        "/transport/coverage",
        params={"date": WEEKDAY, "min_departures_per_hour": threshold, "street_graph": "false"},
    ).json()
    for name in ("share", "covered_area_m2", "district_area_m2", "qualifying_stops", "radius_m"):
        assert endpoint[name] == props[name], name
    assert endpoint["window"] == props["counted"] == "08:15:00-09:15:00"
    assert endpoint["stops_on_graph"] == 0


def test_coverage_shrinks_as_the_threshold_rises(loaded: None, client: httpx.Client) -> None:
    shares = [
        client.get("/transport/coverage", params={"date": WEEKDAY, "min_departures_per_hour": n}).json()[
            "share"
        ]
        for n in (0.1, 2, 6, 12, 30, 120)
    ]
    assert shares == sorted(shares, reverse=True)
    assert shares[0] > shares[-1]
    assert shares[-1] >= 0
    assert shares[0] <= 1


def test_coverage_is_cached_and_revalidated(loaded: None, client: httpx.Client) -> None:
    params: dict[str, Any] = {"date": WEEKDAY, "walk_m": 500}
    first = client.get("/transport/coverage", params=params)
    again = client.get("/transport/coverage", params=params)
    assert again.headers.get("x-twin-cache") == "hit"
    assert again.content == first.content
    unchanged = client.get(
        "/transport/coverage", params=params, headers={"If-None-Match": first.headers["etag"]}
    )
    assert unchanged.status_code == 304


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"min_departures_per_hour": "0"}, "min_departures_per_hour"),
        ({"min_departures_per_hour": "121"}, "min_departures_per_hour"),
        ({"min_departures_per_hour": "many"}, "min_departures_per_hour"),
        ({"walk_m": "10"}, "walk_m"),
        ({"detour_factor": "3"}, "detour_factor"),
        ({"window": "09:00-08:00"}, "window"),
        ({"date": "2027-05-01"}, "date"),
    ],
)
@pytest.mark.parametrize("path", ["/transport/coverage", "/collections/service_coverage/items"])
def test_bad_coverage_parameters_are_400(
    loaded: None,
    client: httpx.Client,
    params: dict[str, str],
    parameter: str,
    path: str,
) -> None:
    body = assert_problem(client.get(path, params=params), 400)
    assert body["parameter"] == parameter
