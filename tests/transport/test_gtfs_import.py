"""The Sofia GTFS feed in PostGIS: counts, the routes at each stop, the stops of Lozenets, route lines,
atomicity."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import shape
from sqlalchemy import Engine, text

from tests.support.api import assert_problem
from tests.support.geo import to_utm
from tests.support.gtfs_raw import raw_rows
from twin.core.bulk import copy_text
from twin.core.errors import Conflict, SourceError
from twin.platform.settings import Settings
from twin.transport import importer as gtfs_importer
from twin.transport.gtfs import read_feed
from twin.transport.store import feed as gtfs_repo

FIXTURE = Path(__file__).parent / "fixtures" / "gtfs_tiny"


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("gtfs_stop", "gtfs_route", "gtfs_trip", "gtfs_stop_time")
        }


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
    stops = {r["stop_id"] for r in raw_rows(feed_zip, "stops.txt") if r["stop_name"] == "МЕТРОСТАНЦИЯ ВИТОША"}
    route_of_trip = {r["trip_id"]: r["route_id"] for r in raw_rows(feed_zip, "trips.txt")}
    expected: dict[str, set[str]] = {stop: set() for stop in stops}
    for row in raw_rows(feed_zip, "stop_times.txt"):
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
        for r in raw_rows(feed_zip, "stops.txt")
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


# -- route lines -----------------------------------------------------------------------------------------
def _representative_patterns(folder_or_zip: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Independently, with pandas: per (route_id, direction_id) the stop sequence most of its trips
    follow (ties: more stops, then the smallest trip_id), its trips, and the route's trip count."""

    def read(name: str) -> pd.DataFrame:
        if folder_or_zip.is_dir():
            return pd.read_csv(folder_or_zip / name, dtype=str, keep_default_na=False)
        with zipfile.ZipFile(folder_or_zip) as archive:
            return pd.read_csv(archive.open(name), dtype=str, keep_default_na=False)

    trips = read("trips.txt")
    if "direction_id" not in trips:
        trips["direction_id"] = ""
    stop_times = read("stop_times.txt")
    stop_times["seq"] = stop_times["stop_sequence"].astype(int)
    sequences = stop_times.sort_values(["trip_id", "seq"]).groupby("trip_id")["stop_id"].agg(tuple)
    result: dict[tuple[str, str], dict[str, Any]] = {}
    for (route_id, direction), group in trips.groupby(["route_id", "direction_id"]):
        followed: dict[tuple[str, ...], list[str]] = {}
        for trip_id in group["trip_id"]:
            stops = sequences.get(trip_id, ())
            if len(stops) >= 2:
                followed.setdefault(stops, []).append(trip_id)
        stops, members = sorted(followed.items(), key=lambda kv: (-len(kv[1]), -len(kv[0]), min(kv[1])))[0]
        result[(route_id, direction)] = {"stops": stops, "trips": members, "all_trips": len(group)}
    return result


def test_route_lines_of_the_real_feed(loaded: None, engine: Engine, feed_zip: Path) -> None:
    expected = _representative_patterns(feed_zip)
    assert len(expected) == 138  # no direction_id in the Sofia feed: one line per route
    with zipfile.ZipFile(feed_zip) as archive:
        stops = pd.read_csv(archive.open("stops.txt"), dtype={"stop_id": str}).set_index("stop_id")
    # Bus 68's most frequent stop sequence passes ЗООПАРКА (stop 2764) in Lozenets.
    a68 = expected[("А68", "")]
    assert "2764" in a68["stops"]
    line = shapely.LineString(stops.loc[list(a68["stops"]), ["stop_lon", "stop_lat"]].to_numpy())
    utm = to_utm(line)
    geodesic = Geod(ellps="WGS84").geometry_length(line)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM gtfs_route_line")).scalar_one()
        row = conn.execute(
            text(
                "SELECT route_dir, direction_id, stops, trips, pattern_trips, geometry_source, mode,"
                " length_m, ST_Length(ST_Transform(geom, 32634)) AS utm_m, ST_AsText(geom) AS wkt"
                " FROM gtfs_route_line WHERE route_id = 'А68'"
            )
        ).one()
    assert count == len(expected)
    assert row.route_dir == "А68:"
    assert row.direction_id is None
    assert row.stops == len(a68["stops"]) == 17
    assert row.trips == a68["all_trips"]
    assert row.pattern_trips == len(a68["trips"])
    assert (row.geometry_source, row.mode) == ("stop_sequence", "bus")
    assert shapely.equals_exact(shapely.from_wkt(row.wkt), line, tolerance=1e-9)
    assert row.utm_m == pytest.approx(utm.length, abs=0.01)
    assert row.length_m == pytest.approx(geodesic, abs=0.01)
    assert 5_000 < row.utm_m < 30_000


def test_routes_are_served_as_a_collection(loaded: None, client: httpx.Client) -> None:
    body = client.get("/collections/routes/items", params={"limit": 200}).json()
    assert body["numberMatched"] == len(body["features"]) == 138
    assert {f["properties"]["geometry_source"] for f in body["features"]} == {"stop_sequence"}
    assert {f["geometry"]["type"] for f in body["features"]} == {"LineString"}
    modes = {f["properties"]["mode"] for f in body["features"]}
    assert modes == {"bus", "tram", "trolleybus", "metro"}
    one = client.get("/collections/routes/items/А64:").json()
    assert one["id"] == "А64:"
    assert one["properties"]["route_short_name"] == "64"
    metro = client.get("/collections/routes/items", params={"filter": "mode = 'metro'"}).json()
    assert metro["numberMatched"] == 4
    collection = client.get("/collections/routes").json()
    assert "Център за градска мобилност" in collection["attribution"]


def test_the_tiny_feed_draws_from_its_shapes(loaded: None, engine: Engine) -> None:
    expected = _representative_patterns(FIXTURE)
    with engine.connect() as conn, conn.begin() as transaction:
        gtfs_importer.load_feed(conn, FIXTURE)
        lines = {
            r.route_dir: r
            for r in conn.execute(
                text(
                    "SELECT route_dir, geometry_source, shape_id, stops, trips, patterns, headsign,"
                    " ST_AsText(geom) AS wkt FROM gtfs_route_line"
                )
            )
        }
        shape = conn.execute(text("SELECT shape_id, point_count, ST_AsText(geom) FROM gtfs_shape")).one()
        feed = conn.execute(text("SELECT feed_info, counts FROM gtfs_feed")).one()
        frequency = conn.execute(
            text("SELECT trip_id, start_s, end_s, headway_secs FROM gtfs_frequency")
        ).one()
        transaction.rollback()
    assert (
        set(lines)
        == {f"{route}:{direction}" for route, direction in expected}
        == {
            "R1:0",
            "R1:1",
            "R2:",
            "R2:0",
            "R2:1",
        }
    )
    # R1 direction 0: T1 (4 stops) and T3 (2 stops) tie on trips; the longer wins. Both follow SH1.
    assert lines["R1:0"].geometry_source == "shapes"
    assert lines["R1:0"].shape_id == "SH1"
    assert (lines["R1:0"].stops, lines["R1:0"].trips, lines["R1:0"].patterns) == (4, 2, 2)
    assert lines["R1:0"].headsign == "Hill"
    assert shape == ("SH1", 4, "LINESTRING(23.3201 42.6801,23.33 42.67,23.34 42.66,23.35 42.65)")
    assert lines["R1:0"].wkt == shape[2]
    # No shape: the stops joined in stop_sequence order.
    assert lines["R1:1"].geometry_source == "stop_sequence"
    assert lines["R1:1"].wkt == "LINESTRING(23.35 42.65,23.34 42.66,23.3201 42.6801)"
    assert expected[("R1", "1")]["stops"] == ("S5", "S4", "S1")
    assert feed.feed_info["feed_publisher_name"] == "Tiny Transit"
    assert (feed.counts["shapes"], feed.counts["route_lines"]) == (1, 5)
    assert tuple(frequency) == ("T6", 6 * 3600, 9 * 3600, 600)


def test_a_shape_of_one_point_falls_back_to_the_stops(loaded: None, engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "feed"
    shutil.copytree(FIXTURE, folder)
    (folder / "shapes.txt").write_text(
        "shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence\nSH1,42.6801,23.3201,1\n", encoding="utf-8"
    )
    warning = next(w for w in read_feed(folder).warnings if w.file == "shapes.txt")
    assert (warning.file, warning.line, warning.column) == ("shapes.txt", 2, "shape_id")
    assert "single point" in warning.message
    with engine.connect() as conn, conn.begin() as transaction:
        gtfs_importer.load_feed(conn, folder)
        source = conn.execute(
            text("SELECT geometry_source, ST_NPoints(geom) FROM gtfs_route_line WHERE route_dir = 'R1:0'")
        ).one()
        shapes = conn.execute(text("SELECT count(*) FROM gtfs_shape")).scalar_one()
        transaction.rollback()
    assert tuple(source) == ("stop_sequence", 4)
    assert shapes == 0


def test_an_import_gives_up_on_tables_held_by_a_reader(
    loaded: None, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader in the middle of a long query holds the tables: the import answers 409 instead of making
    every later reader queue behind it, and the feed stays as it was."""
    monkeypatch.setattr(gtfs_repo, "_LOCK_TIMEOUT", "200ms")
    before = _counts(engine)
    with engine.connect() as reader, reader.begin():
        reader.execute(text("SELECT count(*) FROM gtfs_stop"))  # holds its lock until the end
        with pytest.raises(Conflict, match="long-running query") as refused, engine.begin() as conn:
            gtfs_importer.load_feed(conn, FIXTURE)
    assert refused.value.status == 409
    assert _counts(engine) == before


def test_copy_text_writes_postgresql_text_format() -> None:
    frame = pd.DataFrame(
        {
            "text": ["plain", "tab\there", "back\\slash", "", None, "ünïcode, «ok»"],
            "code": pd.Categorical(["b", "a", "b", None, "a", "a"]),
            "big": np.array([0, -5, 10**12, -(2**63), 7, 120], dtype=np.int64),
            "maybe": pd.array([1, None, -3, 4, None, 0], dtype="Int64"),
            "flag": [True, False, True, True, False, False],
            "ratio": [0.1, 2.5, float("nan"), -1e-7, 3.0, 42.6801],
            "day": [dt.date(2026, 1, 1), None, dt.date(2026, 12, 31), None, None, dt.date(2000, 2, 29)],
            "kept": ["", "x", "", "y", "", "z"],
        }
    )
    got = b"".join(copy_text(frame, list(frame.columns), keep_empty=("kept",))).decode()
    assert got.splitlines() == [
        "plain\tb\t0\t1\tt\t0.1\t2026-01-01\t",
        "tab\\there\ta\t-5\t\\N\tf\t2.5\t\\N\tx",
        "back\\\\slash\tb\t1000000000000\t-3\tt\t\\N\t2026-12-31\t",
        "\\N\t\\N\t-9223372036854775808\t4\tt\t-1e-07\t\\N\ty",
        "\\N\ta\t7\t\\N\tf\t3.0\t\\N\t",
        "ünïcode, «ok»\ta\t120\t0\tf\t42.6801\t2000-02-29\tz",
    ]
    assert got.endswith("\n")
