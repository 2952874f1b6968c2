"""Planning indicators on a fixture computed by hand, and over the whole stock against SQL: areas that
add up, residents calibrated to the published population, compliance per zone with its sources."""

from __future__ import annotations

import geopandas as gpd
import httpx
import numpy as np
import pytest
import shapely
from sqlalchemy import Engine, text

from tests.support.api import assert_problem
from twin.planning import indicators
from twin.planning.rules import committed_rules


def _frame(rows: list[dict[str, object]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=32634)


def test_indicators_by_hand() -> None:
    units = _frame(
        [
            {"unit_id": "A", "name": "west", "code": "Жм", "geometry": shapely.box(0, 0, 100, 100)},
            {"unit_id": "B", "name": "east", "code": "Жм", "geometry": shapely.box(100, 0, 200, 100)},
        ]
    )
    buildings = _frame(
        [
            # 20 × 10 m, 5 floors, 15 m, homes: wholly in A.
            {"floors": 5, "height_m": 15.0, "use": "residential", "geometry": shapely.box(10, 10, 30, 20)},
            # 10 × 10 m, 2 floors, 6 m, mixed: half in A, half in B.
            {"floors": 2, "height_m": 6.0, "use": "mixed", "geometry": shapely.box(95, 50, 105, 60)},
            # a hall in B: no homes.
            {
                "floors": 1,
                "height_m": 8.0,
                "use": "non-residential",
                "geometry": shapely.box(150, 10, 160, 30),
            },
        ]
    )
    green = _frame([{"geometry": shapely.box(120, 60, 150, 90)}])  # 900 m² in B
    found = indicators.compute(
        units, buildings, green, shapely.box(-10, -10, 210, 110), 25.0, committed_rules()
    )
    a, b = found.iloc[0], found.iloc[1]
    # A: footprint 200 + 50 = 250 of 10,000 m²; GFA 1,000 + 100; homes 1,000 + 50 (mixed counts half).
    assert (a.footprint_m2, a.built_density_pct, a.gross_floor_area_m2, a.far) == (250.0, 2.5, 1100.0, 0.11)
    assert (a.residential_floor_area_m2, a.residents, a.residents_per_ha) == (1050.0, 42.0, 42.0)
    assert a.mean_height_m == pytest.approx((200 * 15 + 50 * 6) / 250)
    assert (a.max_height_m, a.volume_m3, a.buildings, a.green_pct) == (15.0, 3300.0, 2, 0.0)
    # B: footprint 50 + 200; GFA 100 + 200; homes 50; green 900 m² = 9 %.
    assert (b.footprint_m2, b.gross_floor_area_m2, b.residents, b.green_pct) == (250.0, 300.0, 2.0, 9.0)
    # Жм allows 60 % density, Кинт 1.2, 10 m; needs 40 % green (Наредба № 7, чл. 19 and 16).
    status = {c["rule"]: c["status"] for c in a.compliance}
    assert status == {"max_density": "pass", "max_far": "pass", "min_green": "fail", "max_height": "fail"}
    height = next(c for c in a.compliance if c["rule"] == "max_height")
    assert (height["measured"], height["limit"], height["standing"]) == (15.0, 10.0, "national default")
    assert "чл. 16" in height["source"]
    # Green not mapped over a unit: not measured rather than 0 %.
    unmapped = indicators.compute(units, buildings, green, shapely.box(0, 0, 50, 50), 25.0, committed_rules())
    assert np.isnan(unmapped.iloc[0].green_pct)
    assert {c["rule"]: c["status"] for c in unmapped.iloc[0].compliance}["min_green"] == "not measured"


def test_a_non_metric_frame_is_refused() -> None:
    units = gpd.GeoDataFrame({"unit_id": ["A"]}, geometry=[shapely.box(23, 42, 23.1, 42.1)], crs=4326)
    with pytest.raises(ValueError, match="EPSG:32634"):
        indicators.compute(units, units, units, None, 25.0)


def _items(client: httpx.Client, **params: object) -> dict[str, object]:
    response = client.get("/collections/planning_indicators/items", params={"limit": 10000, **params})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_over_the_whole_stock(planning_loaded: None, client: httpx.Client, engine: Engine) -> None:
    with engine.connect() as conn:
        truth = conn.execute(
            text(
                "WITH d AS (SELECT ST_Transform(geom, 32634) AS g FROM district),"
                " b AS (SELECT ST_Area(ST_Intersection(ST_Transform(geom, 32634), d.g)) AS a, floors, use"
                "  FROM building, d)"
                " SELECT (SELECT ST_Area(g) FROM d) AS land, sum(a) AS footprint, sum(a * floors) AS gfa,"
                " sum(a * floors * CASE use WHEN 'residential' THEN 1 WHEN 'mixed' THEN 0.5 ELSE 0 END)"
                "  AS homes,"
                " (SELECT sum(population_estimate) FROM district) AS population FROM b"
            )
        ).one()
    for unit in ("neighbourhood", "grid"):
        body = _items(client, unit=unit)
        props = [f["properties"] for f in body["features"]]
        assert sum(p["land_ha"] for p in props) * 10_000 == pytest.approx(truth.land, rel=1e-4)
        assert sum(p["footprint_m2"] for p in props) == pytest.approx(truth.footprint, rel=1e-4)
        assert sum(p["gross_floor_area_m2"] for p in props) == pytest.approx(truth.gfa, rel=1e-4)
        # Calibrated: the district's residents are its published population (Sofiaplan: 53,110).
        assert sum(p["residents"] for p in props) == pytest.approx(truth.population, rel=1e-3)
        assert body["computation"]["floor_area_per_person"] == pytest.approx(
            float(truth.homes) / truth.population, rel=1e-4
        )
    given = _items(client, floor_area_per_person=40)
    assert sum(f["properties"]["residents"] for f in given["features"]) == pytest.approx(
        float(truth.homes) / 40, rel=1e-3
    )
    assert given["computation"]["residents_from"] == "the floor area per person given"
    names = {f["properties"]["name"] for f in _items(client)["features"]}
    assert "rest of the district" in names
    assert "жк. Лозенец" in names


def test_per_zone_with_the_rules(planning_loaded: None, client: httpx.Client) -> None:
    body = _items(client, unit="zone")
    codes = {f["properties"]["code"] for f in body["features"]}
    assert codes == {"Жг", "Жм", "Жс", "Тп", "Тгс", "Смф"}
    park = next(f["properties"] for f in body["features"] if f["properties"]["code"] == "Тгс")
    assert "no rule found" in park["compliance"]
    assert body["computation"]["rules_version"] == 1
    assert any(
        "Наредба № 7" in c["source"]
        for rules in body["computation"]["rules"].values()
        for c in rules
        if "source" in c
    )


def test_hexagons(planning_loaded: None, client: httpx.Client) -> None:
    import h3

    coarse = _items(client, unit="h3", h3_resolution=8)["features"]
    fine = _items(client, unit="h3", h3_resolution=9)["features"]
    assert all(h3.get_resolution(f["properties"]["unit_id"]) == 8 for f in coarse)
    assert len(fine) > 5 * len(coarse)


def test_bad_parameters(planning_loaded: None, client: httpx.Client) -> None:
    for params, name in (
        ({"unit": "county"}, "unit"),
        ({"unit": "h3", "h3_resolution": 15}, "h3_resolution"),
        ({"floor_area_per_person": 0}, "floor_area_per_person"),
        ({"unit": "grid", "cell_m": 10}, "cell_m"),
    ):
        body = assert_problem(client.get("/collections/planning_indicators/items", params=params), 400)
        assert body["parameter"] == name
