"""Buildings: the real OpenStreetMap window and the synthetic stock around it; every import format with
fixtures written from the formats' specifications; every bad file refused whole, naming what and where."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import httpx
import pytest
from pyproj import Transformer
from sqlalchemy import Engine, text

from tests.support.api import MakeKey, assert_problem
from twin.platform.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"
TO_WGS84 = Transformer.from_crs(32634, 4326, always_xy=True)


def _count(engine: Engine, where: str = "TRUE") -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM building WHERE {where}")).scalar_one())


def test_the_real_window_is_loaded_as_real(planning_loaded: None, engine: Engine, settings: Settings) -> None:
    assert settings.sources_dir is not None
    raw = json.loads(
        (settings.sources_dir / "osm-buildings-green-lozenets-fmi-block" / "block_areas.geojson").read_text()
    )
    tagged = [f for f in raw["features"] if f["properties"].get("building")]
    with_levels = {
        f["properties"]["osm_id"]: int(f["properties"]["levels"])
        for f in tagged
        if f["properties"].get("levels")
    }
    assert len(tagged) == 812
    assert _count(engine, "origin = 'osm-buildings-green-fmi-block' AND NOT synthetic") == 812
    with engine.connect() as conn:
        floors = dict(
            conn.execute(
                text(
                    "SELECT CAST(split_part(source_ref, '/', 2) AS bigint), floors FROM building"
                    " WHERE origin = 'osm-buildings-green-fmi-block'"
                )
            ).all()
        )
        green = conn.execute(text("SELECT count(*) FROM green_area")).scalar_one()
    assert {osm_id: floors[osm_id] for osm_id in with_levels} == with_levels  # the 295 with levels keep them
    assert green == 45  # the 46 green features whose ways intersect the district, less one outside it


def test_the_synthetic_stock_keeps_clear_of_everything_real(planning_loaded: None, engine: Engine) -> None:
    with engine.connect() as conn:
        checks = conn.execute(
            text(
                "SELECT"
                " (SELECT count(*) FROM building s, building r WHERE s.synthetic AND NOT r.synthetic"
                "   AND ST_Intersects(s.geom, r.geom)) AS over_real,"
                " (SELECT count(*) FROM building s, building_coverage c WHERE s.synthetic"
                "   AND ST_Intersects(s.geom, c.geom)) AS in_coverage,"
                " (SELECT count(*) FROM building s, street t WHERE s.synthetic"
                "   AND ST_Intersects(s.geom, t.geom)) AS on_street,"
                " (SELECT count(*) FROM building s WHERE s.synthetic AND NOT EXISTS"
                "   (SELECT 1 FROM neighbourhood n WHERE n.name = s.neighbourhood"
                "   AND ST_Within(s.geom, n.geom))) AS outside_its_neighbourhood,"
                " (SELECT count(*) FROM building s, building o WHERE s.synthetic AND o.synthetic"
                "   AND s.id < o.id AND ST_Intersects(s.geom, o.geom)) AS overlapping,"
                " (SELECT count(*) FROM building WHERE synthetic) AS synthetic"
            )
        ).one()
    assert checks.synthetic > 1000
    assert (
        checks.over_real,
        checks.in_coverage,
        checks.on_street,
        checks.outside_its_neighbourhood,
        checks.overlapping,
    ) == (0, 0, 0, 0, 0)


def test_the_synthetic_stock_has_the_typology_of_each_neighbourhood(
    planning_loaded: None, engine: Engine
) -> None:
    with engine.connect() as conn:
        rows = {
            r.neighbourhood: r
            for r in conn.execute(
                text(
                    "SELECT neighbourhood, count(*) AS n, avg(floors) AS floors, min(floors) AS low,"
                    " bool_and(use = 'non-residential') AS non_residential FROM building WHERE synthetic"
                    " GROUP BY 1"
                )
            )
        }
    assert rows["жк. Лозенец"].low >= 8  # tall residential blocks
    assert rows["кв. Витоша"].floors < 6  # villas and small blocks
    assert rows["Промишлена Зона Хладилника"].non_residential  # industrial halls
    assert rows["Зоопарк"].n < 20  # little in the zoo


def test_the_stock_is_the_same_every_time(
    planning_loaded: None, engine: Engine, settings: Settings, restore_buildings: None
) -> None:
    from twin.core.imports.manifest import load_manifest
    from twin.core.imports.runner import run_import
    from twin.core.registry import loaders

    def stock() -> list[tuple[str, str]]:
        with engine.connect() as conn:
            return [
                tuple(r)
                for r in conn.execute(
                    text("SELECT source_ref, md5(ST_AsBinary(geom)) FROM building WHERE synthetic ORDER BY 1")
                )
            ]  # type: ignore[misc]

    before = stock()
    run_import(engine, settings, load_manifest(settings.manifest), loaders()["buildings"], force=True)
    assert stock() == before


def test_the_layers_say_what_is_synthetic(planning_loaded: None, client: httpx.Client) -> None:
    buildings = client.get("/collections/buildings").json()
    assert buildings["provenance"]["synthetic"] is True
    zones = client.get("/collections/zones").json()
    assert zones["provenance"]["synthetic"] is True
    coverage = client.get("/collections/building_coverage").json()
    assert coverage["provenance"]["synthetic"] is False
    real = client.get(
        "/collections/buildings/items", params={"filter": "synthetic = false", "limit": 1}
    ).json()
    assert real["numberMatched"] == 812
    assert real["features"][0]["properties"]["origin"] == "osm-buildings-green-fmi-block"


# -- imports -------------------------------------------------------------------------------------------------
Post = Callable[..., httpx.Response]


@pytest.fixture
def post_file(client: httpx.Client, make_key: MakeKey) -> Post:
    headers = {"Authorization": f"Bearer {make_key('planner')}", "content-type": "application/octet-stream"}

    def post(name: str, content: bytes, path: str = "/planning/buildings") -> httpx.Response:
        return client.post(path, params={"name": name}, content=content, headers=headers)

    return post


def _imported(engine: Engine, origin: str) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT source_ref, use, floors, height_m, height_from, footprint_m2, synthetic FROM building"
                " WHERE origin = :o ORDER BY source_ref"
            ),
            {"o": origin},
        ).mappings()
        return {r["source_ref"]: dict(r) for r in rows}


def test_overpass_json(
    planning_loaded: None, engine: Engine, post_file: Post, restore_buildings: None
) -> None:
    synthetic_before = _count(engine, "synthetic")
    response = post_file("overpass.json", (FIXTURES / "overpass.json").read_bytes())
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["format"] == "Overpass JSON"
    got = _imported(engine, result["origin"])
    # By hand: 15 × 12 m with building:levels 4; 20 × 14 m retail, height 7.5 m; a 30 × 30 m multipolygon
    # with a 10 × 10 m courtyard, 6 levels; a 10 × 10 m house from node references, no levels (2 by type).
    assert {k: (v["use"], v["floors"], v["height_m"]) for k, v in got.items()} == {
        "osm:relation/2001": ("residential", 6, 18.0),
        "osm:way/1001": ("residential", 4, 12.0),
        "osm:way/1002": ("non-residential", 2, 7.5),
        "osm:way/1004": ("residential", 2, 6.0),
    }
    areas = {k: v["footprint_m2"] for k, v in got.items()}
    assert areas == pytest.approx(
        {"osm:relation/2001": 800, "osm:way/1001": 180, "osm:way/1002": 280, "osm:way/1004": 100}, abs=0.5
    )
    assert all(not v["synthetic"] for v in got.values())
    # The synthetic buildings of the area it covers were replaced (the stock rebuilt around it).
    assert result["replaced"] >= 1
    with engine.connect() as conn:
        inside = conn.execute(
            text(
                "SELECT count(*) FROM building b, building_coverage c WHERE c.origin = :o AND b.synthetic"
                " AND ST_Intersects(b.geom, c.geom)"
            ),
            {"o": result["origin"]},
        ).scalar_one()
    assert inside == 0
    assert _count(engine, "synthetic") <= synthetic_before
    again = post_file("overpass.json", (FIXTURES / "overpass.json").read_bytes())
    assert again.status_code == 200
    assert again.json()["status"] == "unchanged"


@pytest.mark.parametrize(
    ("fixture", "fmt", "expected"),
    [
        # CityJSON: 16 × 12 m, measuredHeight 12, 4 storeys; a BuildingPart 10 × 20 m, 9 m high (its solid).
        (
            "buildings.city.json",
            "CityJSON",
            {
                "cityjson:B1": ("residential", 4, 12.0, 192.0),
                "cityjson:B2": ("non-residential", 3, 9.0, 200.0),
            },
        ),
        # CityGML 2.0: 20 × 12 m, 15 m, 5 storeys, function 1000 (residential); 12 × 12 m, a 6 m solid.
        (
            "buildings.gml",
            "CityGML 2.0",
            {
                "citygml:GML_B1": ("residential", 5, 15.0, 240.0),
                "citygml:GML_B2": ("non-residential", 2, 6.0, 144.0),
            },
        ),
        # GeoJSON with attributes: height_m 9 (3 floors); floors 3 (9 m), use shop.
        (
            "heights.geojson",
            "GeoJSON",
            {"heights:h1": ("residential", 3, 9.0, 140.0), "heights:h2": ("non-residential", 3, 9.0, 100.0)},
        ),
    ],
)
def test_each_format(
    planning_loaded: None,
    engine: Engine,
    post_file: Post,
    restore_buildings: None,
    fixture: str,
    fmt: str,
    expected: dict[str, tuple[str, int, float, float]],
) -> None:
    response = post_file(fixture, (FIXTURES / fixture).read_bytes())
    assert response.status_code == 201, response.text
    assert response.json()["format"] == fmt
    got = _imported(engine, response.json()["origin"])
    assert {k: (v["use"], v["floors"], v["height_m"]) for k, v in got.items()} == {
        k: e[:3] for k, e in expected.items()
    }
    assert {k: v["footprint_m2"] for k, v in got.items()} == pytest.approx(
        {k: e[3] for k, e in expected.items()}, abs=0.5
    )


def test_geopackage_in_another_crs(
    planning_loaded: None, engine: Engine, post_file: Post, restore_buildings: None, tmp_path: Path
) -> None:
    frame = gpd.read_file(FIXTURES / "heights.geojson").to_crs(32634)
    path = tmp_path / "heights.gpkg"
    frame.to_file(path, driver="GPKG")
    response = post_file("heights.gpkg", path.read_bytes())
    assert response.status_code == 201, response.text
    got = _imported(engine, response.json()["origin"])
    assert {v["floors"] for v in got.values()} == {3}
    assert sorted(round(v["footprint_m2"]) for v in got.values()) == [100, 140]


def test_osm_pbf(
    planning_loaded: None, engine: Engine, post_file: Post, restore_buildings: None, tmp_path: Path
) -> None:
    import osmium

    path = tmp_path / "tiny.osm.pbf"
    corners = [(691100, 4724100), (691112, 4724100), (691112, 4724110), (691100, 4724110)]
    with osmium.SimpleWriter(str(path)) as writer:
        for n, (x, y) in enumerate(corners, start=1):
            lon, lat = TO_WGS84.transform(x, y)
            writer.add_node(osmium.osm.mutable.Node(id=n, location=(lon, lat)))
        writer.add_way(
            osmium.osm.mutable.Way(
                id=77, nodes=[1, 2, 3, 4, 1], tags={"building": "apartments", "building:levels": "5"}
            )
        )
    response = post_file("tiny.osm.pbf", path.read_bytes())
    assert response.status_code == 201, response.text
    got = _imported(engine, response.json()["origin"])
    assert {k: (v["floors"], v["height_m"], round(v["footprint_m2"])) for k, v in got.items()} == {
        "osm:way/77": (5, 15.0, 120)
    }


def _geojson(*features: dict[str, Any], crs: str | None = None) -> bytes:
    document: dict[str, Any] = {"type": "FeatureCollection", "features": list(features)}
    if crs:
        document["crs"] = {"type": "name", "properties": {"name": crs}}
    return json.dumps(document).encode()


def _feature(ring: list[tuple[float, float]], **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"id": props.pop("id", "f"), **props},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def _wgs_box(x: float, y: float, w: float = 10, d: float = 10) -> list[tuple[float, float]]:
    return [TO_WGS84.transform(a, b) for a, b in [(x, y), (x + w, y), (x + w, y + d), (x, y + d), (x, y)]]


def test_bad_files_are_refused_whole(planning_loaded: None, engine: Engine, post_file: Post) -> None:
    before = _count(engine)
    good = _wgs_box(691200, 4724100)
    bowtie = [
        TO_WGS84.transform(a, b)
        for a, b in [
            (691220, 4724100),
            (691230, 4724110),
            (691230, 4724100),
            (691220, 4724110),
            (691220, 4724100),
        ]
    ]
    response = post_file(
        "bad.geojson",
        _geojson(
            _feature(good, id="ok", floors=3),
            _feature(bowtie, id="bow"),
            _feature(_wgs_box(691240, 4724100), id="zero", floors=0),
            _feature(_wgs_box(691260, 4724100), id="tall", floors=500),
        ),
    )
    body = assert_problem(response, 422, "3 problem(s), nothing imported")
    problems = {p["feature"]: p["message"] for p in body["problems"]}
    assert set(problems) == {"bad:bow", "bad:zero", "bad:tall"}
    assert "Self-intersection" in problems["bad:bow"]
    assert "[23." in problems["bad:bow"]  # and where
    assert "floors 0" in problems["bad:zero"]
    assert "floors 500" in problems["bad:tall"]

    utm_as_wgs84 = [
        (691200.0, 4724100.0),
        (691210.0, 4724100.0),
        (691210.0, 4724110.0),
        (691200.0, 4724100.0),
    ]
    wrong_crs = post_file("wrong.geojson", _geojson(_feature(utm_as_wgs84)))
    assert_problem(wrong_crs, 422, "is the file's CRS right?")
    mladost = _wgs_box(694500, 4724500)  # in Sofia, outside Lozenets
    assert_problem(
        post_file("away.geojson", _geojson(_feature(mladost))),
        422,
        "none of its 1 footprints lies in Lozenets",
    )

    city = json.loads((FIXTURES / "buildings.city.json").read_text())
    del city["metadata"]["referenceSystem"]
    assert_problem(
        post_file("nocrs.city.json", json.dumps(city).encode()), 422, "names no coordinate reference system"
    )
    gml = (FIXTURES / "buildings.gml").read_bytes()
    assert_problem(post_file("broken.gml", gml[: len(gml) // 2]), 422, "not well-formed XML")
    assert_problem(post_file("data.csv", b"a,b\n1,2\n"), 422, "not a format the twin reads")
    assert_problem(post_file("empty.geojson", b""), 400, "empty")
    angles = [2 * math.pi * t / 6000 for t in range(6000)]
    many = [TO_WGS84.transform(691300 + 5 * math.cos(a), 4724100 + 5 * math.sin(a)) for a in angles]
    many.append(many[0])
    assert_problem(post_file("many.geojson", _geojson(_feature(many))), 422, "vertices")
    assert _count(engine) == before


def test_imports_need_a_planner_key(planning_loaded: None, client: httpx.Client, make_key: MakeKey) -> None:
    content = (FIXTURES / "heights.geojson").read_bytes()
    assert_problem(client.post("/planning/buildings", params={"name": "h.geojson"}, content=content), 401)
    transport = {"Authorization": f"Bearer {make_key('transport')}"}
    assert_problem(
        client.post("/planning/buildings", params={"name": "h.geojson"}, content=content, headers=transport),
        403,
    )
