"""A pilot written here, in the tests, joins the twin without editing a core file: it registers an
importer (whose layer has time), a question it answers for other computations, and a derived layer
computed from a POSTed body that also asks the transport pilot, through the core, for stops."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import geopandas as gpd
import httpx
import numpy as np
import pytest
import shapely
from pydantic import BaseModel, ConfigDict, Field
from pyproj import Geod
from sqlalchemy import Connection, Engine, text

from app.main import create_app
from tests.support.api import assert_problem, features, once_heard
from tests.support.databases import scratch_database
from tests.support.live import LiveServer
from twin.core import registry
from twin.core.catalog.specs import LayerSpec
from twin.core.derived.contract import DerivedLayer, OutputProperty
from twin.core.derived.inputs import InputKey, Inputs, Provider
from twin.core.imports.loader import Loader
from twin.core.imports.manifest import Manifest, SourceEntry
from twin.core.imports.runner import run_import
from twin.core.imports.upload import new_upload
from twin.platform import migrate
from twin.platform.db import make_sync_engine
from twin.platform.settings import Settings
from twin.questions import TRANSIT

TINY_GTFS = Path(__file__).parents[1] / "transport" / "fixtures" / "gtfs_tiny"
ZOO = (23.3300, 42.6700)  # stop S3 of the tiny feed
GEOD = Geod(ellps="WGS84")


def _east(metres: float) -> tuple[float, float]:
    """The point `metres` due east of the Zoo stop."""
    lon, lat, _ = GEOD.fwd(ZOO[0], ZOO[1], 90, metres)
    return lon, lat


TREES = [  # id, species, planted, position
    (1, "Tilia tomentosa", "2019-04-01T10:00:00Z", _east(50)),
    (2, "Acer platanoides", "2021-05-10T10:00:00Z", _east(80)),
    (3, "Platanus × hispanica", "2023-03-15T10:00:00Z", _east(150)),
    (4, "Quercus robur", "2024-10-01T10:00:00Z", (23.3200, 42.6800)),
]


# -- the pilot --------------------------------------------------------------------------------------
TREES_LAYER = LayerSpec(
    id="example_trees",
    title="Street trees (example pilot)",
    description="Trees with their planting time.",
    geometry_type="Point",
    table_name="example_tree",
    source_ids=("example-trees",),
    temporal_column="planted",
)


def load_trees(conn: Connection, paths: Any) -> dict[str, int]:
    with Path(paths["example-trees"]).open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    conn.execute(text("DELETE FROM example_tree"))
    conn.execute(
        text(
            "INSERT INTO example_tree (id, species, planted, geom) VALUES (CAST(:id AS integer), :species,"
            " CAST(:planted AS timestamptz),"
            " ST_SetSRID(ST_MakePoint(CAST(:lon AS float8), CAST(:lat AS float8)), 4326))"
        ),
        rows,
    )
    return {"example_tree": len(rows)}


class TreeCounter(Protocol):
    def within(self, points_xy: np.ndarray[Any, Any], radius_m: float) -> np.ndarray[Any, Any]: ...


class StoredTrees:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def within(self, points_xy: np.ndarray[Any, Any], radius_m: float) -> np.ndarray[Any, Any]:
        rows = self.conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM"
                " (SELECT ST_Transform(geom, 32634) p FROM example_tree LIMIT 10000) t"
            )
        ).all()
        trees = np.array(rows, dtype=float).reshape(-1, 2)
        distance = np.hypot(
            points_xy[:, None, 0] - trees[None, :, 0], points_xy[:, None, 1] - trees[None, :, 1]
        )
        return (distance <= radius_m).sum(axis=1)


TREE_COUNT: InputKey[TreeCounter] = InputKey("example.trees", "trees within a distance of points")


class ShadeParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: list[tuple[float, float]] = Field(default_factory=list, description="lon, lat of each place.")
    radius_m: float = Field(default=100, gt=0, le=1000)
    date: dt.date = dt.date(2026, 12, 1)
    window: tuple[int, int] = (8 * 3600, 9 * 3600)


def shade(inputs: Inputs, params: BaseModel) -> gpd.GeoDataFrame:
    assert isinstance(params, ShadeParameters)
    places = gpd.GeoDataFrame(geometry=[shapely.Point(p) for p in params.points], crs=4326).to_crs(32634)
    xy = np.column_stack([places.geometry.x, places.geometry.y]) if len(places) else np.zeros((0, 2))
    trees = inputs.get(TREE_COUNT).within(xy, params.radius_m)
    stops = inputs.get(TRANSIT).stops_near(xy, 300, params.date, params.window)
    nearest = stops.groupby("point").first()
    result = places.assign(
        trees=trees,
        nearest_stop=[nearest["stop_id"].get(i) for i in range(len(places))],
        departures_per_hour=[nearest["departures_per_hour"].get(i) for i in range(len(places))],
    )
    result.attrs["computation"] = {"places": len(places), "trees_counted": np.int64(trees.sum())}
    return result


SHADE = DerivedLayer(
    id="tree_shade",
    title="Trees and transit at places (example pilot)",
    description="For each place POSTed: trees within `radius_m`, the nearest stop, its departures per hour.",
    geometry_type="Point",
    parameters=ShadeParameters,
    properties=(
        OutputProperty("trees", "integer", "Trees within radius_m."),
        OutputProperty("nearest_stop", "string", "The nearest stop within 300 m."),
        OutputProperty("departures_per_hour", "number", "Its departures per hour in the window."),
    ),
    inputs=(),
    compute=shade,
    uses=(TREE_COUNT, TRANSIT),
)

BENCH_COUNT: InputKey[TreeCounter] = InputKey("example.benches", "benches near points (never loaded here)")
UNANSWERED: InputKey[TreeCounter] = InputKey("example.unanswered", "a question no pilot answers")


def census(inputs: Inputs, params: BaseModel) -> gpd.GeoDataFrame:
    trees = inputs.frame("example_trees")
    answered = [k.name for k in (BENCH_COUNT, UNANSWERED) if inputs.has(k)]
    return gpd.GeoDataFrame(
        {"trees": [len(trees)], "answered": [" ".join(answered) or "not available"]},
        geometry=[shapely.MultiPoint(list(trees.geometry)).centroid],
        crs=trees.crs,
    )


class NoParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")


CENSUS = DerivedLayer(
    id="tree_census",
    title="Trees counted (example pilot)",
    description="How many trees; benches when a pilot answers for them.",
    geometry_type="Point",
    parameters=NoParameters,
    properties=(
        OutputProperty("trees", "integer", "Trees."),
        OutputProperty("answered", "string", "The optional questions some pilot answers."),
    ),
    inputs=("example_trees",),
    compute=census,
    optional=(BENCH_COUNT, UNANSWERED),
)

EXAMPLE = registry.Pilot(
    name="example",
    title="Example pilot",
    summary="Street trees, written in the tests.",
    loaders=(Loader("example_trees", "Street trees", "planner", (TREES_LAYER,), load_trees),),
    layers=(SHADE, CENSUS),
    providers=(
        Provider(TREE_COUNT, layers=("example_trees",), open=StoredTrees),
        Provider(BENCH_COUNT, layers=("example_benches",), open=StoredTrees),
    ),
)


# -- the twin with it -------------------------------------------------------------------------------
def _trees_file(folder: Path, trees: list[tuple[int, str, str, tuple[float, float]]]) -> SourceEntry:
    path = folder / "trees.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "species", "planted", "lon", "lat"])
        writer.writerows([(i, s, p, lon, lat) for i, s, p, (lon, lat) in trees])
    data = path.read_bytes()
    return SourceEntry(
        id="example-trees",
        title="Street trees written by the tests",
        dataset="example",
        url="",
        mirror="trees.csv",
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        media_type="text/csv",
        licence="CC0-1.0",
        attribution="the tests",
        source_date="2026-12-05",
        synthetic=True,
        loader="example_trees",
    )


@pytest.fixture(scope="module")
def twin(
    base_settings: Settings, manifest: Manifest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, Engine, Path]]:
    registry.register(EXAMPLE)
    settings = scratch_database(base_settings, "twin_test_pilot")
    engine = make_sync_engine(settings)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE TABLE example_tree (id integer PRIMARY KEY, species text NOT NULL,"
                    " planted timestamptz, geom geometry(Point, 4326) NOT NULL)"
                )
            )
        upload = new_upload(TINY_GTFS, licence="CC0-1.0", source="the tiny test feed")
        run_import(engine, settings, manifest, registry.loaders()["gtfs"], upload=upload)
        mirror = tmp_path_factory.mktemp("example-mirror")
        yield settings.model_copy(update={"sources_dir": mirror}), engine, mirror
    finally:
        registry.unregister("example")
        engine.dispose()


@pytest.fixture(scope="module")
def http(twin: tuple[Settings, Engine, Path]) -> Iterator[httpx.Client]:
    settings, engine, mirror = twin
    entry = _trees_file(mirror, TREES)
    result = run_import(engine, settings, Manifest(sources=(entry,)), registry.loaders()["example_trees"])
    assert result.row_counts == {"example_tree": 4}
    with LiveServer(create_app(settings)) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        yield client


def test_the_pilot_is_registered_without_a_core_file_edited(http: httpx.Client) -> None:
    assert "example" in [p.name for p in registry.pilots()]
    collections = {c["id"]: c for c in http.get("/collections").json()["collections"]}
    assert {"example_trees", "tree_shade", "stops"} <= set(collections)
    assert collections["example_trees"]["provenance"]["synthetic"] is True
    assert collections["example_trees"]["extent"]["temporal"]["interval"] == [
        ["2019-04-01T10:00:00+00:00", "2024-10-01T10:00:00+00:00"]
    ]
    # Computed from its own input and the transport pilot's: it says so, and is synthetic because one is.
    assert collections["tree_shade"]["provenance"]["synthetic"] is True
    landing = http.get("/").json()
    assert {
        "pilot": "example",
        "title": "Example pilot",
        "summary": "Street trees, written in the tests.",
    } in (landing["pilots"])


def test_the_loaders_temporal_column_drives_datetime_filters(http: httpx.Client) -> None:
    since_2020 = features(http, "example_trees", datetime="2020-01-01T00:00:00Z/..")
    assert sorted(f["id"] for f in since_2020["features"]) == [2, 3, 4]
    one_day = features(http, "example_trees", datetime="2023-03-15")
    assert [f["id"] for f in one_day["features"]] == [3]


def test_a_body_computes_a_result_served_as_a_collection(http: httpx.Client) -> None:
    body = {"points": [list(ZOO), [23.3200, 42.6800]], "radius_m": 100}
    created = http.post("/collections/tree_shade/results", json=body)
    assert created.status_code == 201, created.text
    result = created.json()
    assert created.headers["location"].endswith(f"/collections/tree_shade/results/{result['id']}")
    assert result["numberMatched"] == 2
    assert result["parameters"]["radius_m"] == 100
    again = http.post("/collections/tree_shade/results", json=body)
    assert again.json()["id"] == result["id"]  # the same parameters: the same stored result
    items = features(http, "tree_shade", result=result["id"])
    by_place = [f["properties"] for f in items["features"]]
    # At the Zoo stop: trees 1 and 2 (50 m and 80 m east) are within 100 m, tree 3 (150 m) is not.
    # S3's departures 08:00-09:00 on Tuesday 2026-12-01 (service WD): T1 at 08:06, and T6 every 10 min
    # from 06:00 (frequencies.txt) at 08:00 … 08:50: 7 an hour.
    assert by_place[0] == {"trees": 2, "nearest_stop": "S3", "departures_per_hour": 7.0}
    # At Central Station (a station, not a stop one boards at): tree 4 is there; the nearest stop is S1
    # (14 m) with T1 at 08:00 only.
    assert by_place[1] == {"trees": 1, "nearest_stop": "S1", "departures_per_hour": 1.0}
    # The computation's account of itself is served with its features (numpy numbers made plain).
    assert items["computation"] == {"places": 2, "trees_counted": 3}
    assert http.get(f"/collections/tree_shade/results/{result['id']}").status_code == 200


def test_bad_results_are_problems(http: httpx.Client) -> None:
    assert_problem(http.post("/collections/tree_shade/results", json={"radius_m": -1}), 400, "radius_m")
    assert_problem(http.post("/collections/tree_shade/results", json={"colour": "red"}), 400, "colour")
    assert_problem(http.post("/collections/example_trees/results", json={}), 400, "not a derived layer")
    assert_problem(http.get("/collections/tree_shade/items", params={"result": "f" * 32}), 404, "POST")
    assert_problem(
        http.get("/collections/tree_shade/items", params={"result": "f" * 32, "radius_m": "5"}),
        400,
        "radius_m",
    )


def test_a_result_from_replaced_data_is_not_served(
    http: httpx.Client, twin: tuple[Settings, Engine, Path]
) -> None:
    settings, engine, mirror = twin
    created = http.post(
        "/collections/tree_shade/results", json={"points": [list(ZOO)], "radius_m": 60}
    ).json()
    assert features(http, "tree_shade", result=created["id"])["features"][0]["properties"]["trees"] == 1
    entry = _trees_file(mirror, TREES[1:])  # tree 1 is cut down
    run_import(engine, settings, Manifest(sources=(entry,)), registry.loaders()["example_trees"])
    stale = once_heard(
        lambda: http.get("/collections/tree_shade/items", params={"result": created["id"]}),
        lambda answer: answer.status_code != 200,
    )
    assert_problem(stale, 404, "replaced")
    again = http.post("/collections/tree_shade/results", json={"points": [list(ZOO)], "radius_m": 60}).json()
    assert again["id"] != created["id"]
    assert features(http, "tree_shade", result=again["id"])["features"][0]["properties"]["trees"] == 0


def test_optional_questions_do_not_hold_a_layer_back(http: httpx.Client) -> None:
    # BENCH_COUNT is answered by a provider whose layer is never loaded, UNANSWERED by nobody: the
    # layer is registered and computed all the same, and says which of them it could ask.
    collections = {c["id"] for c in http.get("/collections").json()["collections"]}
    assert "tree_census" in collections
    [census] = features(http, "tree_census")["features"]
    trees = features(http, "example_trees", limit=100)["numberReturned"]
    assert trees >= 3
    assert census["properties"] == {"trees": trees, "answered": "example.benches"}


def test_a_body_is_bounded_and_a_base_layer_has_no_results(http: httpx.Client) -> None:
    huge = b'{"points": [' + b"[23.33, 42.67]," * 80_000 + b"[23.33, 42.67]]}"  # 1.2 MB
    assert_problem(
        http.post(
            "/collections/tree_shade/results", content=huge, headers={"content-type": "application/json"}
        ),
        413,
    )
    assert_problem(http.post("/collections/tree_shade/results", content=b"[1, 2]"), 400, "JSON object")
    assert_problem(http.post("/collections/tree_shade/results", content=b"{not json"), 400, "not JSON")
    assert_problem(http.get("/collections/example_trees/results/abc"), 404, "not a derived layer")


def test_no_installed_pilot_is_an_error_not_an_empty_twin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "entry_points", lambda group: [])
    registry._installed.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="no pilot is installed"):
            registry.pilots()
    finally:
        monkeypatch.undo()
        registry._installed.cache_clear()
    assert {"district", "transport"} <= {p.name for p in registry.pilots()}
