"""The surface and exposure layers against independent computations from the raw EEA Parquet: IDW by
hand from the stations' annual means, kriging by gstools with the variogram the layer reports, days
above the limit on days every station agrees on; honest empty answers and refused parameters."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import gstools as gs
import httpx
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import shape

from tests.support.api import assert_problem

TO_UTM = Transformer.from_crs(4326, 32634, always_xy=True)
REFERENCE = ("BG0040A", "BG0050A", "BG0052A", "BG0073A", "BG0079A")


def _all(client: httpx.Client, collection: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/collections/{collection}/items", params={"limit": 10000, **params})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def station_xy(eea_dir: Path) -> dict[str, tuple[float, float]]:
    with (eea_dir / "stations_sofia.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {r["eoi_code"]: TO_UTM.transform(float(r["longitude"]), float(r["latitude"])) for r in rows}


def _annual_means(raw_daily: pd.DataFrame, year: int) -> dict[str, float]:
    rows = raw_daily[(raw_daily["code"] == 5) & (pd.to_datetime(raw_daily["day"]).dt.year == year)]
    return rows[rows["validity"] >= 1].groupby("station")["value"].mean().to_dict()


def _centres(features: list[dict[str, Any]]) -> np.ndarray[Any, Any]:
    corners = [np.array(f["geometry"]["coordinates"][0][:4]) for f in features]
    return np.array([np.mean(TO_UTM.transform(c[:, 0], c[:, 1]), axis=1) for c in corners])


def test_the_idw_surface_by_hand(
    air_loaded: None,
    client: httpx.Client,
    raw_daily: pd.DataFrame,
    station_xy: dict[str, tuple[float, float]],
) -> None:
    body = _all(client, "air_surface", period="2019", method="idw", include_citizen="false", cell_m=250)
    means = _annual_means(raw_daily, 2019)
    xy = np.array([station_xy[s] for s in REFERENCE])
    values = np.array([means[s] for s in REFERENCE])
    centres = _centres(body["features"])
    distance = np.hypot(centres[:, None, 0] - xy[None, :, 0], centres[:, None, 1] - xy[None, :, 1])
    weights = 1 / distance**2
    expected = (weights @ values) / weights.sum(axis=1)
    got = np.array([f["properties"]["estimate"] for f in body["features"]])
    assert got == pytest.approx(expected, abs=2e-3)
    assert {f["properties"]["method_used"] for f in body["features"]} == {"idw"}
    computation = body["computation"]
    assert computation["method"] == "idw"
    assert [s["id"] for s in computation["stations"]] == [f"eea:{s}" for s in REFERENCE]
    assert "citizen sensors left out" in computation["excluded"][0]["reason"]
    # Leave-one-out, by hand from the same means.
    errors = []
    for k in range(len(REFERENCE)):
        rest = np.arange(len(REFERENCE)) != k
        w = 1 / np.hypot(*(xy[rest] - xy[k]).T) ** 2
        errors.append(float(w @ values[rest] / w.sum() - values[k]))
    assert computation["cross_validation"]["rmse"] == pytest.approx(
        np.sqrt(np.mean(np.square(errors))), abs=2e-3
    )
    # Every cell of the grid over Lozenets and 500 m around it, independently from the raw district.
    assert body["numberMatched"] == len(body["features"]) == _cell_count(client, 250, 500)


def _to_utm(geometry: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geometry, lambda c: np.column_stack(TO_UTM.transform(c[:, 0], c[:, 1])))


def _cell_count(client: httpx.Client, cell: int, margin: int) -> int:
    district = shape(client.get("/collections/district/items").json()["features"][0]["geometry"])
    utm = _to_utm(district).buffer(margin)
    minx, miny, maxx, maxy = utm.bounds
    count = 0
    for col in range(int(minx // cell), int(-(-maxx // cell))):
        for row in range(int(miny // cell), int(-(-maxy // cell))):
            if (
                shapely.box(col * cell, row * cell, (col + 1) * cell, (row + 1) * cell).intersection(utm).area
                > 0
            ):
                count += 1
    return count


def test_the_kriging_surface_matches_gstools(air_loaded: None, client: httpx.Client) -> None:
    body = _all(client, "air_surface", period="2019", cell_m=250)
    computation = body["computation"]
    assert computation["method"] == "kriging"
    assert computation["fallback"] is None
    variogram = computation["variogram"]
    stations = computation["stations"]
    assert len(stations) == 6  # five reference stations and the corrected NDK cluster
    ndk = next(s for s in stations if s["id"] == "sc:ndk-cluster")
    assert ndk["corrected"] is True
    assert ndk["class"] == "indicative"
    assert ndk["error_sd"] > 0
    # The same stations and variogram given to gstools' ordinary kriging (the values the layer
    # reports are rounded, hence the tolerance).
    xy = np.array([_station_utm(client, s["id"]) for s in stations])
    model = gs.Exponential(
        dim=2, var=variogram["partial_sill"], len_scale=variogram["length_m"], nugget=variogram["nugget"]
    )
    krige = gs.krige.Ordinary(
        model,
        cond_pos=(xy[:, 0], xy[:, 1]),
        cond_val=[s["value"] for s in stations],
        exact=False,
        cond_err=[variogram["nugget"] + s["error_sd"] ** 2 for s in stations],
    )
    centres = _centres(body["features"])
    estimate, variance = krige((centres[:, 0], centres[:, 1]), return_var=True)
    got = np.array([[f["properties"]["estimate"], f["properties"]["uncertainty"]] for f in body["features"]])
    assert got[:, 0] == pytest.approx(estimate, abs=0.02)
    assert got[:, 1] == pytest.approx(np.sqrt(variance), abs=0.02)
    bands = {f["properties"]["eaqi_band"] for f in body["features"]}
    assert bands <= {"good", "fair", "moderate"}
    assert all(
        f["properties"]["lower_95"] <= f["properties"]["estimate"] <= f["properties"]["upper_95"]
        for f in body["features"]
    )


def _station_utm(client: httpx.Client, station: str) -> tuple[float, float]:
    lon, lat = client.get(f"/collections/air_stations/items/{station}").json()["geometry"]["coordinates"]
    return TO_UTM.transform(lon, lat)


def test_the_citizen_correction_is_fitted_on_the_shared_hipodruma_days(
    air_loaded: None, client: httpx.Client, raw_daily: pd.DataFrame, engine: Any
) -> None:
    from sqlalchemy import text

    body = _all(client, "air_surface", period="2019-02", cell_m=500)
    (fit,) = body["computation"]["citizen_corrections"]
    assert fit["reference"] == "eea:BG0050A"
    # Independently: the NDK cluster's hourly means as days of Sofia with 18 valid hours, against the
    # Hipodruma days of the raw Parquet.
    with engine.connect() as conn:
        hours = pd.DataFrame(
            conn.execute(
                text(
                    "SELECT start_time, value FROM air_measurement WHERE station_id = 'sc:ndk-cluster'"
                    " AND pollutant = 'PM10' AND validity >= 1"
                )
            ).all(),
            columns=["start", "value"],
        )
    hours["day"] = pd.to_datetime(hours["start"], utc=True).dt.tz_convert("Europe/Sofia").dt.date
    daily = hours.groupby("day")["value"].agg(["mean", "count"])
    daily = daily[daily["count"] >= 18]["mean"]
    hipodruma = raw_daily[(raw_daily["station"] == "BG0050A") & (raw_daily["code"] == 5)].set_index("day")[
        "value"
    ]
    shared = daily.index.intersection(hipodruma.index)
    slope, intercept = np.polyfit(daily[shared].to_numpy(), hipodruma[shared].to_numpy(), 1)
    assert fit["shared_days"] == len(shared)
    assert fit["slope"] == pytest.approx(slope, abs=1e-3)
    assert fit["intercept"] == pytest.approx(intercept, abs=1e-2)


def test_a_period_without_data_is_an_honest_empty_answer(air_loaded: None, client: httpx.Client) -> None:
    for collection in ("air_surface", "air_exposure"):
        body = _all(client, collection, period="2016")
        assert body["features"] == []
        assert body["numberMatched"] == 0
        assert (
            body["computation"]["reason"]
            == "no station has a captured daily PM10 mean in 2016-01-01/2016-12-31"
        )
    no2 = _all(client, "air_surface", pollutant="NO2")
    assert no2["features"] == []
    assert "NO2" in no2["computation"]["reason"]


@pytest.mark.parametrize(
    ("params", "parameter", "fragment"),
    [
        ({"period": "2019/.."}, "period", "unbounded"),
        ({"period": "2024-01-01/2017-01-01"}, "period", "ends before it starts"),
        ({"period": "2010/2024"}, "period", "at most 1830"),
        ({"period": "2010-01-01/2024-12-31"}, "period", "at most 1830"),
        ({"period": "9999-12-31"}, "period", "outside 1990-2100"),
        ({"period": "2024-01-01/9999-12-31"}, "period", "outside 1990-2100"),
        ({"pollutant": "PM1"}, "pollutant", "PM10"),
        ({"cell_m": "5"}, "cell_m", "greater than or equal to 10"),
        ({"cell_m": "10", "margin_m": "5000"}, "cell_m", "at most 250,000"),
        ({"method": "spline"}, "method", "kriging"),
    ],
)
def test_refused_parameters(
    air_loaded: None, client: httpx.Client, params: dict[str, str], parameter: str, fragment: str
) -> None:
    response = client.get("/collections/air_surface/items", params=params)
    body = assert_problem(response, 400, fragment)
    assert body["parameter"] == parameter


def test_exposure_per_neighbourhood(air_loaded: None, client: httpx.Client) -> None:
    body = _all(client, "air_exposure", period="2019")
    units = {f["properties"]["name"]: f["properties"] for f in body["features"]}
    assert len(units) == 8  # seven neighbourhoods and the rest of the district
    assert units["rest of the district"]["unit_id"] == "rest"
    assert units["жк. Лозенец"]["unit_id"] == "133"
    district = shape(client.get("/collections/district/items").json()["features"][0]["geometry"])
    district_km2 = _to_utm(district).area / 1e6
    assert sum(u["area_km2"] for u in units.values()) == pytest.approx(district_km2, abs=1e-3)
    surface = _all(client, "air_surface", period="2019", cell_m=250)
    inside = [f["properties"]["estimate"] for f in surface["features"] if f["properties"]["in_district"] > 0]
    for unit in units.values():
        assert min(inside) - 0.5 <= unit["mean"] <= max(inside) + 0.5
        assert unit["days_estimated"] == 365
        assert 0 <= unit["days_above_limit"] <= unit["days_above_2030_limit"] <= 365
        assert unit["daily_limit"] == 50
    # Population-weighted only once the planning pilot has buildings loaded (tests/planning checks it).
    if not body["computation"]["residents"]["available"]:
        assert all(unit["residents"] is None for unit in units.values())
        assert "area-weighted only" in body["computation"]["residents"]["reason"]


def test_exceedance_days_on_days_every_station_agrees(
    air_loaded: None, client: httpx.Client, raw_daily: pd.DataFrame
) -> None:
    """On a day every station measured above 50 µg/m³ any weighted mean is above it; below, below."""
    pm10 = raw_daily[(raw_daily["code"] == 5) & (pd.to_datetime(raw_daily["day"]).dt.year == 2019)]
    by_day = pm10.pivot(index="day", columns="station", values="value").dropna()
    high = by_day[(by_day > 50).all(axis=1)].index[0]
    low = by_day[(by_day < 50).all(axis=1)].index[0]
    for day, expected in ((high, 1), (low, 0)):
        body = _all(client, "air_exposure", period=day.isoformat(), method="idw", include_citizen="false")
        assert {f["properties"]["days_above_limit"] for f in body["features"]} == {expected}, day
        assert {f["properties"]["days_estimated"] for f in body["features"]} == {1}


def test_other_pilots_ask_the_estimate_at_a_point(
    air_loaded: None, client: httpx.Client, engine: Any
) -> None:
    """Through the core's inputs, as the planning pilot will: the estimate at a cell's centre is the
    surface's value there."""
    from twin.core import registry
    from twin.core.derived.engine import DatabaseInputs
    from twin.questions import AIR_QUALITY

    surface = _all(client, "air_surface", period="2019", cell_m=250)
    cell = surface["features"][100]
    centre = _centres([cell])
    with engine.connect() as conn:
        answer = DatabaseInputs(conn, registry.providers()).get(AIR_QUALITY).at(centre, "PM10", "2019")
        nothing = DatabaseInputs(conn, registry.providers()).get(AIR_QUALITY).at(centre, "PM10", "2016")
    assert answer["estimate"].iloc[0] == pytest.approx(cell["properties"]["estimate"], abs=2e-3)
    assert answer["uncertainty"].iloc[0] == pytest.approx(cell["properties"]["uncertainty"], abs=2e-3)
    assert answer.attrs["computation"]["method"] == "kriging"
    assert np.isnan(nothing["estimate"].iloc[0])
    assert "no station" in nothing.attrs["computation"]["reason"]
