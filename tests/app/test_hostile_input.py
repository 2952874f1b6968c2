"""Hostile input over HTTP: SQL-injection strings in every parameter that reaches a query, bodies too
large or nested too deep, bytes that are not UTF-8, archives that climb out of themselves — each a 4xx
problem+json (or an honest empty answer), nothing executed, nothing stored."""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path

import httpx
import pytest
import shapely
from sqlalchemy import Engine, text

from app.main import create_app
from tests.support.api import MakeKey, assert_problem
from tests.support.live import LiveServer
from twin.core.errors import InvalidParameter
from twin.planning.scenarios import check_changes
from twin.platform.settings import Settings

INJECTIONS = (
    "1; DROP TABLE layer; --",
    "' OR '1'='1",
    "1) UNION SELECT version() --",
    '"; DELETE FROM district; --',
    "name_en); DROP TABLE district; --",
)
TINY_GTFS = Path(__file__).parents[1] / "transport" / "fixtures" / "gtfs_tiny"


def counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(text("SELECT count(*) FROM layer")).scalar_one(),
            conn.execute(text("SELECT count(*) FROM district")).scalar_one(),
            conn.execute(text("SELECT count(*) FROM api_key")).scalar_one(),
        )


def refused_or_empty(response: httpx.Response) -> None:
    """A 4xx problem, or a 200 that matched nothing: never a 5xx, never data the string unlocked."""
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
    else:
        body = response.json()
        assert body.get("numberMatched", 0) == 0 or body.get("features") == [], body


@pytest.mark.parametrize("evil", INJECTIONS)
def test_injection_strings_in_every_parameter(client: httpx.Client, engine: Engine, evil: str) -> None:
    before = counts(engine)
    for path, params in (
        (f"/collections/{evil}/items", {}),
        (f"/collections/district/items/{evil}", {}),
        ("/collections/district/items", {"name_en": evil}),
        ("/collections/district/items", {"filter": f"name_en = '{evil}'"}),
        ("/collections/district/items", {"filter": evil}),
        ("/collections/district/items", {"sortby": evil}),
        ("/collections/district/items", {"crs": evil}),
        ("/collections/district/items", {"bbox-crs": evil}),
        ("/collections/district/items", {"datetime": evil}),
        ("/collections/district/items", {"bbox": evil}),
        ("/collections/district/items", {"properties": evil}),
        ("/collections/neighbourhoods/items", {"cursor": evil}),
        (f"/transport/stops/{evil}/metrics", {}),
        ("/transport/stops/2764/metrics", {"date": evil}),
        ("/transport/stops/2764/metrics", {"window": evil}),
        (f"/air/stations/{evil}/statistics", {}),
        ("/collections/lozenets_grid/items", {"cell_size": evil}),
        (f"/imports/{evil}", {}),
        (f"/scenarios/{evil}", {}),
    ):
        refused_or_empty(client.get(path, params=params))
    assert counts(engine) == before


def test_the_property_filter_matches_the_string_as_a_string(client: httpx.Client) -> None:
    # The quote is a character of the value, not the end of one: nothing matches, and the real name does.
    assert (
        client.get("/collections/district/items", params={"name_en": "Lozenec' OR '1'='1"}).json()[
            "numberMatched"
        ]
        == 0
    )
    assert (
        client.get("/collections/district/items", params={"name_en": "Lozenec"}).json()["numberMatched"] == 1
    )


def test_bodies_too_large_or_too_deep(client: httpx.Client, make_key: MakeKey, engine: Engine) -> None:
    key = {"Authorization": f"Bearer {make_key('planner')}"}
    before = counts(engine)
    huge = b'{"name": "' + b"x" * (8 * 2**20) + b'"}'
    assert_problem(
        client.post("/scenarios", content=huge, headers={**key, "Content-Type": "application/json"}), 413
    )
    deep = b'{"name": "deep", "changes": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    problem = assert_problem(
        client.post("/scenarios", content=deep, headers={**key, "Content-Type": "application/json"}), 400
    )
    assert problem["parameter"] == "body"
    not_utf8 = b'{"name": "\xff\xfe\xfd", "changes": []}'
    assert_problem(
        client.post("/scenarios", content=not_utf8, headers={**key, "Content-Type": "application/json"}), 400
    )
    assert counts(engine) == before


def test_query_bytes_that_are_not_utf8(client: httpx.Client) -> None:
    for query in ("name_en=%FF%FE", "filter=name_en%20%3D%20%27%C3%28%27", "f=%C0%80"):
        response = client.get(f"/collections/district/items?{query}")
        refused_or_empty(response)


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    "climbing", ["../stops.txt", "feed/../../stops.txt", "/etc/stops.txt", "C:/stops.txt"]
)
def test_an_archive_that_climbs_out_of_itself_is_refused(
    client: httpx.Client, make_key: MakeKey, engine: Engine, climbing: str
) -> None:
    members = {p.name: p.read_bytes() for p in TINY_GTFS.iterdir() if p.suffix == ".txt"}
    members[climbing] = members["stops.txt"]
    key = make_key("transport")
    before = counts(engine)
    with engine.connect() as conn:
        runs = conn.execute(text("SELECT count(*) FROM import_run WHERE status = 'succeeded'")).scalar_one()
    response = client.post(
        "/imports/gtfs/upload",
        params={"licence": "CC-BY-4.0", "source": "crafted", "source_date": "2026-11-01"},
        content=_zip(members),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/zip"},
    )
    problem = assert_problem(response, 422)
    assert "outside itself" in str(problem)
    assert counts(engine) == before
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM import_run WHERE status = 'succeeded'")).scalar_one()
            == runs
        )


def _ring(vertices: int) -> str:
    """A closed ring of `vertices` positions around a point in Lozenets (a regular polygon)."""
    points = [
        (
            23.325 + 0.001 * math.cos(2 * math.pi * i / (vertices - 1)),
            42.670 + 0.001 * math.sin(2 * math.pi * i / (vertices - 1)),
        )
        for i in range(vertices - 1)
    ]
    return ", ".join(f"{x:.6f} {y:.6f}" for x, y in [*points, points[0]])


def test_geometries_past_the_vertex_limit_are_refused(settings: Settings, engine: Engine) -> None:
    """TWIN_GEOMETRY_MAX_VERTICES bounds a geometry sent in a query (EDR coords) and a scenario's
    footprint; here set to 10."""
    small = settings.model_copy(update={"geometry_max_vertices": 10})
    with LiveServer(create_app(small)) as live, httpx.Client(base_url=live.url) as http:
        within = http.get("/edr/collections/air_quality/area", params={"coords": f"POLYGON(({_ring(10)}))"})
        assert within.status_code != 400 or "vertices" not in within.text, within.text
        past = http.get("/edr/collections/air_quality/area", params={"coords": f"POLYGON(({_ring(11)}))"})
        problem = assert_problem(past, 400, "11 vertices; at most 10")
        assert problem["parameter"] == "coords"
    district = shapely.box(23.30, 42.63, 23.35, 42.69)
    footprint = {
        "type": "Polygon",
        "coordinates": [[list(map(float, p.split())) for p in _ring(11).split(", ")]],
    }
    with pytest.raises(InvalidParameter) as refused:
        check_changes(
            [{"type": "add", "footprint": footprint, "floors": 5}], set(), district, max_vertices=10
        )
    assert refused.value.extensions["errors"] == [
        {"change": 0, "field": "footprint", "message": "11 vertices; at most 10 (TWIN_GEOMETRY_MAX_VERTICES)"}
    ]
    assert check_changes([{"type": "add", "footprint": footprint, "floors": 5}], set(), district, 11)
