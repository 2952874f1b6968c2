"""OGC API – EDR over the air pilot: the documents a client reads first, position and area queries as
CoverageJSON and GeoJSON, a station's series against the raw Parquet, and every bad query a 4xx."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.support.api import assert_problem

EDR = "/edr/collections/air_quality"
HIPODRUMA = (23.296786, 42.680558)
LOZENETS = (23.322, 42.675)


def _get(client: httpx.Client, path: str, **params: Any) -> httpx.Response:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response


def test_the_documents_a_client_reads_first(air_loaded: None, client: httpx.Client) -> None:
    landing = _get(client, "/edr").json()
    assert {link["rel"] for link in landing["links"]} >= {"self", "conformance", "data", "service-desc"}
    conformance = _get(client, "/edr/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-edr-1/1.1/conf/covjson" in conformance
    collections = _get(client, "/edr/collections").json()["collections"]
    assert [c["id"] for c in collections] == ["air_quality"]
    collection = _get(client, EDR).json()
    assert set(collection["data_queries"]) == {"position", "area", "locations"}
    assert collection["data_queries"]["position"]["link"]["href"].endswith(f"{EDR}/position")
    assert collection["parameter_names"]["PM10"]["unit"]["symbol"]["value"] == "µg/m³"
    assert collection["parameter_names"]["PM2.5"]["observedProperty"]["id"].endswith("/pollutant/6001")
    minx, miny, maxx, maxy = collection["extent"]["spatial"]["bbox"][0]
    assert minx <= HIPODRUMA[0] <= maxx
    assert miny <= HIPODRUMA[1] <= maxy
    # Hipodruma's PM2.5 starts 2013-01-01 and every series ends 2024-12-31 (days of Sofia, in UTC).
    assert collection["extent"]["temporal"]["interval"] == [["2012-12-31T22:00:00Z", "2024-12-31T22:00:00Z"]]


def test_a_position_on_a_station_is_its_own_days(
    air_loaded: None, client: httpx.Client, raw_daily: pd.DataFrame
) -> None:
    body = _get(
        client,
        f"{EDR}/position",
        coords=f"POINT({HIPODRUMA[0]} {HIPODRUMA[1]})",
        datetime="2019-01-01/2019-01-05",
        method="idw",
    ).json()
    (coverage,) = body["coverages"]
    assert coverage["domain"]["domainType"] == "PointSeries"
    assert coverage["domain"]["axes"]["t"]["values"][0] == "2018-12-31T22:00:00Z"  # midnight in Sofia
    raw = raw_daily[(raw_daily["station"] == "BG0050A") & (raw_daily["code"] == 5)].set_index("day")["value"]
    expected = [raw[pd.Timestamp(f"2019-01-0{d}").date()] for d in range(1, 6)]
    assert coverage["ranges"]["PM10"]["values"] == pytest.approx(expected, abs=1e-3)
    assert coverage["ranges"]["PM10_uncertainty"]["values"] == pytest.approx([0.0] * 5, abs=1e-3)


def test_coveragejson_and_geojson_say_the_same(air_loaded: None, client: httpx.Client) -> None:
    params = {"coords": f"POINT({LOZENETS[0]} {LOZENETS[1]})", "datetime": "2020-02-01/2020-02-10"}
    coverage = _get(client, f"{EDR}/position", **params).json()["coverages"][0]
    geojson = _get(client, f"{EDR}/position", **params, f="GeoJSON")
    assert geojson.headers["content-type"] == "application/geo+json"
    features = geojson.json()["features"]
    assert [f["properties"]["value"] for f in features] == coverage["ranges"]["PM10"]["values"]
    assert [f["properties"]["uncertainty"] for f in features] == coverage["ranges"]["PM10_uncertainty"][
        "values"
    ]
    assert features[0]["properties"]["datetime"] == "2020-01-31T22:00:00Z/2020-02-01T22:00:00Z"
    assert len(features) == 10
    assert coverage["computation"]["method"] == "kriging"
    # Between the stations the estimate lies within their range, and is uncertain.
    values = np.array(coverage["ranges"]["PM10"]["values"])
    assert (values > 0).all()
    assert (np.array(coverage["ranges"]["PM10_uncertainty"]["values"]) > 0).all()


def test_an_area_is_its_cells_mean(air_loaded: None, client: httpx.Client) -> None:
    """A 300 m square: its area mean lies between its corners' estimates, and its centre's is close."""
    x, y = LOZENETS
    dx, dy = 0.0018, 0.00135  # ~150 m
    ring = [(x - dx, y - dy), (x + dx, y - dy), (x + dx, y + dy), (x - dx, y + dy), (x - dx, y - dy)]
    square = "POLYGON((" + ",".join(f"{a} {b}" for a, b in ring) + "))"
    day = {"datetime": "2019-03-05"}
    area = _get(client, f"{EDR}/area", coords=square, **day).json()["coverages"][0]
    assert area["domain"]["domainType"] == "PolygonSeries"
    (mean,) = area["ranges"]["PM10"]["values"]
    corners = [
        _get(client, f"{EDR}/position", coords=f"POINT({cx} {cy})", **day).json()["coverages"][0]["ranges"][
            "PM10"
        ]["values"][0]
        for cx in (x - dx, x + dx)
        for cy in (y - dy, y + dy)
    ]
    assert min(corners) <= mean <= max(corners)
    centre = _get(client, f"{EDR}/position", coords=f"POINT({x} {y})", **day).json()["coverages"][0]
    assert mean == pytest.approx(centre["ranges"]["PM10"]["values"][0], abs=0.5)


def test_a_station_series_is_the_raw_parquet(
    air_loaded: None, client: httpx.Client, raw_daily: pd.DataFrame
) -> None:
    body = _get(
        client,
        f"{EDR}/locations/eea:BG0050A",
        **{"parameter-name": "PM2.5", "datetime": "2019-01-01/2019-01-31"},
    ).json()
    (coverage,) = body["coverages"]
    raw = raw_daily[(raw_daily["station"] == "BG0050A") & (raw_daily["code"] == 6001)]
    january = raw[(pd.to_datetime(raw["day"]) >= "2019-01-01") & (pd.to_datetime(raw["day"]) <= "2019-01-31")]
    assert coverage["ranges"]["PM2.5"]["values"] == pytest.approx(january["value"].tolist(), abs=1e-3)
    assert "PM2.5_uncertainty" not in coverage["ranges"]
    assert coverage["computation"]["class"] == "reference"
    everything = _get(client, f"{EDR}/locations/eea:BG0050A", f="GeoJSON").json()
    counts = pd.Series([f["properties"]["parameter-name"] for f in everything["features"]]).value_counts()
    assert counts["PM10"] == int(((raw_daily["station"] == "BG0050A") & (raw_daily["code"] == 5)).sum())
    assert counts["PM2.5"] == len(raw)


def test_the_locations_are_the_stations_with_daily_means(air_loaded: None, client: httpx.Client) -> None:
    body = _get(client, f"{EDR}/locations").json()
    ids = {f["id"] for f in body["features"]}
    assert {
        "eea:BG0040A",
        "eea:BG0050A",
        "eea:BG0052A",
        "eea:BG0073A",
        "eea:BG0079A",
        "sc:ndk-cluster",
    } <= ids
    assert "eea:BG0054A" not in ids  # its only series, hourly 2016, is all invalid
    ndk = next(f for f in body["features"] if f["id"] == "sc:ndk-cluster")
    assert ndk["properties"]["class"] == "indicative"


@pytest.mark.parametrize(
    ("path", "params", "status", "parameter"),
    [
        ("position", {"coords": "POINT(23.3)"}, 400, "coords"),
        ("position", {"coords": "POLYGON((0 0,1 0,1 1,0 0))"}, 400, "coords"),
        ("position", {"coords": "POINT(230 42)"}, 400, "coords"),
        ("area", {"coords": "POINT(23.3 42.6)"}, 400, "coords"),
        ("area", {"coords": "POLYGON((23 42,24 42,24 43,23 43,23 42))"}, 400, "coords"),
        (
            "area",
            {"coords": "POLYGON((23.30 42.66,23.32 42.68,23.32 42.66,23.30 42.68,23.30 42.66))"},
            400,
            "coords",
        ),
        ("area", {"coords": "POLYGON((-179 -89,179 -89,179 89,-179 89,-179 -89))"}, 400, "coords"),
        ("position", {"coords": "POINT(23.3 42.6)", "datetime": "9999-12-31T23:00:00Z"}, 400, "datetime"),
        ("position", {"coords": "POINT(23.3 42.6)", "datetime": "0001-01-01/0001-01-02"}, 400, "datetime"),
        ("position", {"coords": "POINT(23.3 42.6)", "parameter-name": "PM1"}, 400, "parameter-name"),
        ("position", {"coords": "POINT(23.3 42.6)", "f": "netcdf"}, 400, "f"),
        ("position", {"coords": "POINT(23.3 42.6)", "datetime": "2020-01-01/2019-01-01"}, 400, "datetime"),
        ("position", {"coords": "POINT(23.3 42.6)", "datetime": "2010-01-01/2020-01-01"}, 400, "datetime"),
        ("position", {"coords": "POINT(23.3 42.6)", "method": "spline"}, 422, None),
        ("position", {}, 422, None),
    ],
)
def test_bad_queries(
    air_loaded: None,
    client: httpx.Client,
    path: str,
    params: dict[str, str],
    status: int,
    parameter: str | None,
) -> None:
    response = client.get(f"{EDR}/{path}", params=params)
    if status == 422:
        assert response.status_code in (400, 422)
        assert response.headers["content-type"] == "application/problem+json"
        return
    body = assert_problem(response, status)
    assert body["parameter"] == parameter


def test_unknown_collections_and_locations(air_loaded: None, client: httpx.Client) -> None:
    assert_problem(client.get("/edr/collections/weather/position", params={"coords": "POINT(23 42)"}), 404)
    assert_problem(client.get(f"{EDR}/locations/eea:nowhere"), 404, "listed at")


def test_a_period_without_data_is_empty_with_the_reason(air_loaded: None, client: httpx.Client) -> None:
    body = _get(client, f"{EDR}/position", coords="POINT(23.322 42.675)", datetime="2016-05-01").json()
    (coverage,) = body["coverages"]
    assert coverage["ranges"]["PM10"]["values"] == []
    assert "no station has a captured daily PM10 mean" in coverage["computation"]["reason"]
