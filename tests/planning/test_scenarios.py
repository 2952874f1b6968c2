"""What-if proposals: a tower and a demolition reported by hand and against SQL, the report asking the
transport and air pilots (and saying "not available" when it cannot), scenarios as collections,
versions, deletion that never touches the baseline, and every bad change refused by change and field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pyproj import Transformer
from sqlalchemy import Engine, text

from tests.support.api import MakeKey, assert_problem

TO_WGS84 = Transformer.from_crs(32634, 4326, always_xy=True)
SITE = (690150.0, 4727300.0)  # жк. Лозенец, outside the real window


def _square(x: float, y: float, side: float) -> dict[str, Any]:
    corners = [(x, y), (x + side, y), (x + side, y + side), (x, y + side), (x, y)]
    return {"type": "Polygon", "coordinates": [[list(TO_WGS84.transform(a, b)) for a, b in corners]]}


@pytest.fixture
def planner(client: httpx.Client, make_key: MakeKey) -> httpx.Client:
    client.headers["Authorization"] = f"Bearer {make_key('planner')}"
    return client


@pytest.fixture
def clean_scenarios(engine: Engine) -> Iterator[None]:
    yield
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM scenario"))


def _synthetic_near(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        row = (
            conn.execute(
                text(
                    "SELECT id, floors, ST_Area(ST_Transform(geom, 32634)) AS area, use FROM building"
                    " WHERE synthetic AND neighbourhood = 'жк. Лозенец'"
                    " ORDER BY ST_Distance(ST_Transform(geom, 32634),"
                    " ST_SetSRID(ST_MakePoint(:x, :y), 32634))"
                    " LIMIT 1"
                ),
                {"x": SITE[0], "y": SITE[1]},
            )
            .mappings()
            .one()
        )
    return dict(row)


def _per_person(engine: Engine) -> float:
    with engine.connect() as conn:
        return float(
            conn.execute(
                text(
                    "SELECT sum(ST_Area(ST_Transform(geom, 32634)) * floors"
                    " * CASE use WHEN 'residential' THEN 1 WHEN 'mixed' THEN 0.5 ELSE 0 END)"
                    " / (SELECT sum(population_estimate) FROM district) FROM building"
                )
            ).scalar_one()
        )


def test_a_tower_and_a_demolition(
    planning_loaded: None,
    transit_loaded: None,
    air_loaded: None,
    planner: httpx.Client,
    engine: Engine,
    clean_scenarios: None,
) -> None:
    old = _synthetic_near(engine)
    per_person = _per_person(engine)
    body = {
        "name": "A tower",
        "transit_date": "2026-12-01",
        "changes": [
            {"type": "add", "footprint": _square(*SITE, 30), "floors": 20, "use": "residential"},
            {"type": "demolish", "building": old["id"]},
        ],
    }
    response = planner.post("/scenarios", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    report = created["report"]
    share = {"residential": 1.0, "mixed": 0.5}.get(old["use"], 0.0)
    # By hand: 30 × 30 m × 20 floors of homes, less the demolished building's floor area.
    gfa = 900 * 20 - old["area"] * old["floors"]
    homes = 900 * 20 - old["area"] * old["floors"] * share
    floor_area = report["floor_area"]
    assert floor_area["gross_floor_area_added_m2"] == pytest.approx(gfa, abs=0.5)
    assert floor_area["residential_floor_area_added_m2"] == pytest.approx(homes, abs=0.5)
    assert floor_area["floor_area_per_person"] == pytest.approx(per_person, rel=1e-4)
    assert floor_area["residents_added"] == pytest.approx(homes / per_person, abs=0.2)

    (zone,) = report["zones"]["touched"]
    assert zone["code"] == "Жг"
    height = next(r for r in zone["rules"] if r["rule"] == "max_height")
    assert height["after"] == pytest.approx(max(60.0, height["before"]))
    assert (height["limit"], height["standing"]) == (75.0, "Sofia law")
    assert "т. 5.4" in height["source"]

    transit = report["transit"]
    assert transit["available"] is True
    nearest = transit["nearest_stops"][0]
    with engine.connect() as conn:
        metres = conn.execute(
            text(
                "SELECT ST_Distance(ST_Transform(geom, 32634), ST_SetSRID(ST_MakePoint(:x, :y), 32634))"
                " FROM gtfs_stop WHERE stop_id = :s"
            ),
            {"x": report_site_x(report), "y": report_site_y(report), "s": nearest["stop_id"]},
        ).scalar_one()
    assert nearest["walk_min"] == pytest.approx(metres * 1.3 / 80, abs=0.06)
    assert nearest["departures_per_hour"] > 0
    assert transit["residents_added"] == pytest.approx(900 * 20 / per_person, abs=0.2)

    air = report["air"]
    assert air["available"] is True
    pm10 = air["pollutants"]["PM10"]
    assert 10 < pm10["annual_mean"] < 60
    assert pm10["interval_95"][0] <= pm10["annual_mean"] <= pm10["interval_95"][1]
    eu = next(limit for limit in pm10["limits"] if limit["framework"] == "2008/50/EC")
    assert eu["value"] == 40.0
    assert eu["status"] in ("below", "above", "uncertain")

    education = report["education"]
    (lozenets,) = [n for n in education["neighbourhoods"] if n["name"] == "жк. Лозенец"]
    assert lozenets["after"]["residents"] == pytest.approx(
        lozenets["before"]["residents"] + floor_area["residents_added"], abs=0.5
    )
    # More residents share the same places: fewer places per 100 residents.
    assert (
        lozenets["after"]["kindergarten"]["places_per_100_residents"]
        <= lozenets["before"]["kindergarten"]["places_per_100_residents"]
    )
    green = report["green"]["neighbourhoods"][0]
    assert green["green_m2_per_resident_after"] < green["green_m2_per_resident_before"]


def report_site_x(report: dict[str, Any]) -> float:
    return float(Transformer.from_crs(4326, 32634, always_xy=True).transform(*report["site"])[0])


def report_site_y(report: dict[str, Any]) -> float:
    return float(Transformer.from_crs(4326, 32634, always_xy=True).transform(*report["site"])[1])


def test_scenarios_as_collections_versions_and_deletion(
    planning_loaded: None, planner: httpx.Client, engine: Engine, clean_scenarios: None
) -> None:
    before = planner.get("/collections/buildings/items", params={"limit": 1}).json()["numberMatched"]
    created = planner.post(
        "/scenarios",
        json={
            "name": "Two blocks",
            "changes": [
                {"type": "add", "footprint": _square(690200, 4727200, 20), "floors": 6, "use": "mixed"},
                {"type": "add", "footprint": _square(690240, 4727200, 20), "height_m": 21},
            ],
        },
    ).json()
    sid = created["id"]
    buildings = planner.get(
        "/collections/scenario_buildings/items", params={"scenario": sid, "limit": 10000}
    ).json()
    assert buildings["numberMatched"] == before + 2
    added = sorted(
        (f["properties"] for f in buildings["features"] if f["properties"]["changed"] == "added"),
        key=lambda p: p["building_id"],
    )
    assert [(p["building_id"], p["floors"], p["height_m"], p["use"]) for p in added] == [
        (-2, 7, 21.0, "residential"),
        (-1, 6, 18.0, "mixed"),
    ]
    difference = planner.get("/collections/scenario_difference/items", params={"scenario": sid}).json()
    delta = sum(f["properties"]["delta_residents"] for f in difference["features"])
    assert delta == pytest.approx(created["report"]["floor_area"]["residents_added"], abs=0.5)
    indicators = planner.get("/collections/planning_indicators/items", params={"scenario": sid}).json()
    assert sum(f["properties"]["residents"] for f in indicators["features"]) == pytest.approx(
        53_110 + delta, abs=1
    )

    listed = planner.get("/scenarios", params={"limit": 1}).json()
    assert listed["scenarios"][0]["id"] == sid
    again = planner.put(
        f"/scenarios/{sid}",
        json={
            "name": "One block",
            "changes": [{"type": "add", "footprint": _square(690200, 4727200, 20), "floors": 6}],
        },
        headers={"If-Match": '"1"'},
    )
    assert again.status_code == 200, again.text
    assert again.json()["version"] == 2
    stale = planner.put(
        f"/scenarios/{sid}",
        json={
            "name": "x",
            "changes": [{"type": "add", "footprint": _square(690200, 4727200, 20), "floors": 6}],
        },
        headers={"If-Match": '"1"'},
    )
    assert_problem(stale, 409, "version 2")
    got = planner.get(f"/scenarios/{sid}").json()
    assert [h["version"] for h in got["history"]] == [1]
    assert got["name"] == "One block"

    assert planner.delete(f"/scenarios/{sid}").status_code == 204
    assert_problem(planner.get(f"/scenarios/{sid}"), 404)
    assert_problem(planner.get("/collections/scenario_buildings/items", params={"scenario": sid}), 404)
    assert planner.get("/collections/buildings/items", params={"limit": 1}).json()["numberMatched"] == before


def test_bad_changes_are_named(
    planning_loaded: None, planner: httpx.Client, engine: Engine, clean_scenarios: None
) -> None:
    bowtie = _square(690200, 4727200, 20)
    ring = bowtie["coordinates"][0]
    bowtie["coordinates"][0] = [ring[0], ring[2], ring[1], ring[3], ring[0]]
    building = _synthetic_near(engine)["id"]
    changes = [
        {"type": "add", "footprint": bowtie, "floors": 3},  # 0
        {"type": "add", "footprint": _square(694500, 4724500, 20), "floors": 3},  # 1: outside Lozenets
        {"type": "add", "footprint": _square(690300, 4727200, 20), "floors": 0},  # 2
        {"type": "add", "footprint": _square(690340, 4727200, 20)},  # 3: no floors
        {"type": "demolish", "building": 99_999_999},  # 4
        {"type": "demolish", "building": building},  # 5
        {"type": "height", "building": building, "floors": 4},  # 6: the same building again
        {"type": "lift", "building": building},  # 7
        {
            "type": "add",
            "footprint": {
                "type": "Polygon",
                "coordinates": [[[690400, 4727200], [690420, 4727200], [690420, 4727220], [690400, 4727200]]],
            },
            "floors": 3,
        },  # 8: projected, no crs
        {"type": "add", "footprint": _square(690500, 4727200, 20), "floors": 3, "colour": "red"},  # 9
    ]
    response = planner.post("/scenarios", json={"name": "bad", "changes": changes})
    body = assert_problem(response, 400, "nothing was stored")
    found = {(e["change"], e["field"]) for e in body["errors"]}
    assert found == {
        (0, "footprint"),
        (1, "footprint"),
        (2, "floors"),
        (3, "floors"),
        (4, "building"),
        (6, "building"),
        (7, "type"),
        (8, "footprint"),
        (9, "colour"),
    }
    messages = {(e["change"], e["field"]): e["message"] for e in body["errors"]}
    assert "Self-intersection" in messages[(0, "footprint")]
    assert "inside Lozenets" in messages[(1, "footprint")]
    assert "changed twice" in messages[(6, "building")]
    assert_problem(
        planner.post(
            "/scenarios", json={"name": "many", "changes": [{"type": "demolish", "building": building}] * 201}
        ),
        400,
        "1 to 200",
    )
    assert_problem(planner.post("/scenarios", json={"changes": []}), 400, "name")
    assert planner.get("/scenarios").json()["scenarios"] == []


def test_scenarios_need_a_planner_key(planning_loaded: None, client: httpx.Client, make_key: MakeKey) -> None:
    body = {"name": "x", "changes": [{"type": "demolish", "building": 1}]}
    assert_problem(client.post("/scenarios", json=body), 401)
    assert_problem(
        client.post("/scenarios", json=body, headers={"Authorization": f"Bearer {make_key('transport')}"}),
        403,
    )


def test_a_report_says_what_it_cannot_answer() -> None:
    import geopandas as gpd
    import shapely

    from twin.planning import report, walking
    from twin.planning.rules import committed_rules

    empty = gpd.GeoDataFrame(
        {"id": [], "code": [], "name": [], "unit_id": [], "kind": [], "capacity": []}, geometry=[], crs=32634
    )
    stock = gpd.GeoDataFrame(
        {
            "id": [1],
            "use": ["residential"],
            "floors": [3],
            "height_m": [9.0],
            "synthetic": [False],
            "changed": ["added"],
        },
        geometry=[shapely.box(0, 0, 10, 10)],
        crs=32634,
    )
    ctx = report.Context(
        zones=empty,
        rules=committed_rules(),
        rules_version=1,
        neighbourhoods=empty,
        green=empty,
        mapped=shapely.Polygon(),
        population=None,
        education=empty,
        graph=walking.graph_of(empty),
        walk_m=1200,
        detour=1.3,
        transit=None,
        transit_day=__import__("datetime").date(2026, 12, 1),
        transit_window=(25200, 32400),
        air=None,
        transit_missing="no pilot answers 'transit' (the public-transport pilot is not installed)",
        air_missing=None,
    )
    found = report.report(
        stock.iloc[0:0].assign(changed=[]),
        stock,
        [
            {
                "type": "add",
                "footprint": shapely.geometry.mapping(
                    gpd.GeoSeries([shapely.box(0, 0, 10, 10)], crs=32634).to_crs(4326).iloc[0]
                ),
            }
        ],
        ctx,
    )
    assert found["transit"] == {
        "available": False,
        "reason": "no pilot answers 'transit' (the public-transport pilot is not installed)",
    }
    assert found["air"]["available"] is False
