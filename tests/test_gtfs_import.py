"""The Sofia GTFS feed in PostGIS: counts, the routes at each stop, the stops of Lozenets, atomicity."""

from __future__ import annotations

import csv
import io
import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import Engine, text

from tests.test_api import assert_problem
from twin.errors import SourceError
from twin.importers import gtfs as gtfs_importer
from twin.importers import loaders
from twin.importers.runner import run_import
from twin.manifest import Manifest
from twin.repositories import gtfs as gtfs_repo
from twin.settings import Settings

FIXTURE = Path(__file__).parent / "fixtures" / "gtfs_tiny"


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("gtfs_stop", "gtfs_route", "gtfs_trip", "gtfs_stop_time")
        }


@pytest.fixture(scope="module")
def feed_zip(settings: Settings) -> Path:
    assert settings.sources_dir is not None
    return settings.sources_dir / "sofiatraffic-gtfs" / "result.zip"


@pytest.fixture(scope="module")
def loaded(engine: Engine, settings: Settings, manifest: Manifest) -> None:
    run_import(engine, settings, manifest, loaders()["gtfs"])


def _raw(feed_zip: Path, name: str) -> list[dict[str, str]]:
    with zipfile.ZipFile(feed_zip) as archive:
        return list(csv.DictReader(io.TextIOWrapper(archive.open(name), encoding="utf-8-sig")))


def test_the_whole_feed_is_loaded(loaded: None, engine: Engine) -> None:
    assert _counts(engine) == {
        "gtfs_stop": 2870,
        "gtfs_route": 138,
        "gtfs_trip": 26245,
        "gtfs_stop_time": 606519,
    }
    with engine.connect() as conn:
        feed = conn.execute(text("SELECT counts, start_date, end_date FROM gtfs_feed")).one()
    assert str(feed.start_date) == "2026-01-01"
    assert str(feed.end_date) == "2026-12-31"


def test_routes_at_a_stop_match_the_raw_feed(loaded: None, engine: Engine, feed_zip: Path) -> None:
    stops = {r["stop_id"] for r in _raw(feed_zip, "stops.txt") if r["stop_name"] == "МЕТРОСТАНЦИЯ ВИТОША"}
    route_of_trip = {r["trip_id"]: r["route_id"] for r in _raw(feed_zip, "trips.txt")}
    expected: dict[str, set[str]] = {stop: set() for stop in stops}
    for row in _raw(feed_zip, "stop_times.txt"):
        if row["stop_id"] in expected:
            expected[row["stop_id"]].add(route_of_trip[row["trip_id"]])
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT stop_id, routes, route_count FROM gtfs_stop WHERE stop_id = ANY(:ids)"),
            {"ids": list(stops)},
        ).all()
    assert len(rows) == len(stops) == 9
    for stop_id, routes, count in rows:
        assert set(routes.split()) == expected[stop_id]
        assert count == len(expected[stop_id])


def test_the_stops_of_lozenets(
    loaded: None, client: httpx.Client, settings: Settings, feed_zip: Path
) -> None:
    body = client.get("/collections/lozenets_stops/items", params={"limit": 100}).json()
    got = {f["properties"]["stop_id"] for f in body["features"]}
    # Independently: the raw stops against the raw district polygon, with shapely.
    assert settings.sources_dir is not None
    regions = json.loads(
        (settings.sources_dir / "sofiaplan-districts-callsofia/sofia.regions.json").read_text()
    )
    district = next(shape(f["geometry"]) for f in regions["features"] if f["properties"]["obns_num"] == "09")
    expected = {
        r["stop_id"]
        for r in _raw(feed_zip, "stops.txt")
        if district.intersects(shapely.Point(float(r["stop_lon"]), float(r["stop_lat"])))
    }
    assert got == expected
    assert len(got) == body["numberMatched"] == 78
    collection = client.get("/collections/stops").json()
    assert collection["synthetic"] is False
    assert "Център за градска мобилност" in collection["attribution"]


def test_a_failure_midway_keeps_the_previous_feed(
    loaded: None, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _counts(engine)
    original: Callable[..., int] = gtfs_repo._copy

    def copy_then_fail(conn: Any, table: str, frame: Any, columns: Any) -> int:
        if table == "gtfs_stop_time":
            raise OSError("connection lost during COPY")
        return original(conn, table, frame, columns)

    monkeypatch.setattr(gtfs_repo, "_copy", copy_then_fail)
    with pytest.raises(OSError, match="during COPY"), engine.begin() as conn:
        gtfs_importer.load_feed(conn, FIXTURE)
    assert _counts(engine) == before


def test_a_broken_feed_is_refused_with_its_problems(loaded: None, engine: Engine, tmp_path: Path) -> None:
    before = _counts(engine)
    broken = tmp_path / "feed"
    shutil.copytree(FIXTURE, broken)
    lines = (broken / "stop_times.txt").read_text(encoding="utf-8").splitlines()
    fields = lines[1].split(",")
    header = lines[0].split(",")
    fields[header.index("stop_id")] = "NO_SUCH_STOP"
    lines[1] = ",".join(fields)
    (broken / "stop_times.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(SourceError) as refused, engine.begin() as conn:
        gtfs_importer.load_feed(conn, broken)
    problems = refused.value.extensions["problems"]
    assert {"file": "stop_times.txt", "line": 2, "column": "stop_id"}.items() <= problems[0].items()
    assert "NO_SUCH_STOP" in problems[0]["message"]
    assert _counts(engine) == before


def test_a_gtfs_import_over_http_needs_a_transport_key(
    loaded: None, client: httpx.Client, make_key: Callable[..., str]
) -> None:
    planner = {"Authorization": f"Bearer {make_key('planner')}"}
    assert_problem(client.post("/imports", json={"loader": "gtfs"}, headers=planner), 403, "'transport'")
    transport = {"Authorization": f"Bearer {make_key('transport')}"}
    response = client.post("/imports", json={"loader": "gtfs"}, headers=transport)
    assert response.status_code == 200
    assert response.json()["status"] == "unchanged"
