"""Line punctuality (June 2026) loaded as published, and joined to routes on name and mode with caveats."""

from __future__ import annotations

import csv
import io
import json
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import httpx
import pandas as pd
import pytest
import shapely
from sqlalchemy import Engine, text

from tests.support.api import features, follow
from twin.core.errors import SourceError
from twin.core.imports.manifest import Manifest
from twin.core.imports.runner import run_import
from twin.core.registry import loaders
from twin.platform.settings import Settings
from twin.transport import punctuality as loader
from twin.transport.layers.reliability import JOIN_CAVEAT, join_punctuality


@pytest.fixture(scope="module")
def raw_index(settings: Settings) -> list[dict[str, Any]]:
    assert settings.sources_dir is not None
    path = settings.sources_dir / "zakasnyava-li-reliability" / "data" / "2026-06" / "index.json"
    rows: list[dict[str, Any]] = json.loads(path.read_text())
    return rows


@pytest.fixture(scope="module")
def punctuality(engine: Engine, settings: Settings, manifest: Manifest) -> None:
    run_import(engine, settings, manifest, loaders()["reliability"])


def test_every_line_of_the_month_is_loaded_as_published(
    punctuality: None, engine: Engine, raw_index: list[dict[str, Any]]
) -> None:
    with engine.connect() as conn:
        stored = {r.line_id: r for r in conn.execute(text("SELECT * FROM line_punctuality"))}
    assert len(stored) == len(raw_index) == 135
    for raw in raw_index:
        row = stored[raw["line_id"]]
        assert (row.name, row.mode, row.month) == (raw["name"], raw["type"], "2026-06")
        assert row.median_delay_min == raw["median"]
        assert row.p90_delay_min == raw["p90"]
        assert row.ontime_pct == raw["ontime_pct"]
        assert row.served_pct == raw["served_pct"]
        assert row.sample_n == raw["sample_n"]
        assert row.grade == raw["grade"]
    # Bus 72 is A1 in the official feed; its line file flags it as a frequent line.
    a1 = stored["A1"]
    assert a1.name == "72"
    assert "frequent line: Честа линия" in a1.caveats
    assert "observed 2026-06-11 to 2026-06-30 (20 days)" in a1.caveats
    assert "partial real-time coverage on 2026-06-11 (52.9 %)" in a1.caveats


def test_punctuality_is_listed_with_its_provenance_but_is_not_a_collection(
    punctuality: None, client: httpx.Client
) -> None:
    layers = {layer["id"]: layer for layer in client.get("/layers").json()["layers"]}
    entry = layers["line_punctuality"]
    assert entry["licence"].startswith("not stated")
    assert "Закъснява ли?" in entry["attribution"]
    assert entry["synthetic"] is False
    assert client.get("/collections/line_punctuality").status_code == 404


@pytest.mark.parametrize(
    ("index", "fragment"),
    [
        ("{not json", "not readable JSON"),
        ('{"line_id": "A1"}', "expected a list"),
        ('[{"line_id": "A1", "name": "72", "type": "ferry"}]', "unknown type 'ferry'"),
        ('[{"line_id": "A1", "name": "72", "type": "bus", "median": "slow"}]', "non-numeric 'median'"),
        (
            '[{"line_id": "A1", "name": "72", "type": "bus"},'
            ' {"line_id": "A1", "name": "72", "type": "bus"}]',
            "twice",
        ),
        ('[{"name": "72", "type": "bus"}]', "entry 1 has no line_id"),
        (
            '[{"line_id": "A1", "name": "72", "type": "bus"},'
            ' {"line_id": "A9", "name": "72", "type": "bus"}]',
            "bus line '72' appears twice",
        ),
    ],
)
def test_a_malformed_source_is_refused_with_what_is_wrong(tmp_path: Path, index: str, fragment: str) -> None:
    (tmp_path / "index.json").write_text(index)
    (tmp_path / "health.json").write_text('{"days": [{"date": "2026-06-12", "pct": 100.0}]}')
    paths = {loader.INDEX_SOURCE: tmp_path / "index.json", loader.HEALTH_SOURCE: tmp_path / "health.json"}
    with pytest.raises(SourceError, match=re.escape(fragment)):
        loader.read_punctuality(paths)


def _routes() -> gpd.GeoDataFrame:
    line = shapely.LineString([(0, 0), (100, 0)])
    return gpd.GeoDataFrame(
        {
            "route_id": ["А72", "ТМ7", "А73", "M2"],
            "route_short_name": ["72", "7", "73", "M2"],
            "mode": ["bus", "tram", "bus", "metro"],
            "geometry": [line] * 4,
        },
        index=pd.Index(["a", "b", "c", "d"], name="route_dir"),
        crs=32634,
    )


def _punctuality() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "line_id": ["A1", "TM30", "TB39"],
            "month": ["2026-06"] * 3,
            "name": ["72", "7", "73"],
            "mode": ["bus", "tram", "trolleybus"],
            "median_delay_min": [0.6, 2.5, 1.2],
            "p90_delay_min": [3.8, 14.6, 6.4],
            "ontime_pct": [75.0, 50.4, 67.6],
            "served_pct": [67.1, 79.0, 64.4],
            "sample_n": [84093, 66607, 149481],
            "grade": ["D", "E", "E"],
            "caveats": ["frequent line: …", "", ""],
        }
    )


def test_the_join_is_on_name_and_mode_and_never_borrows_another_line() -> None:
    joined = join_punctuality(_routes(), _punctuality())
    assert list(joined.index) == ["a", "b", "c", "d"]  # index kept
    assert joined.loc["a", "official_line_id"] == "A1"
    assert joined.loc["a", "p90_delay_min"] == 3.8
    assert joined.loc["a", "caveats"] == f"{JOIN_CAVEAT} | frequent line: …"
    assert joined.loc["b", "official_line_id"] == "TM30"
    # Bus 73 is not trolleybus 73: no figures, and the reason.
    assert not joined.loc["c", "matched"]
    assert pd.isna(joined.loc["c", "median_delay_min"])
    assert joined.loc["c", "caveats"] == "no bus line named '73' in the source (June 2026)"
    assert not joined.loc["d", "matched"]
    assert joined["matched"].tolist() == [True, True, False, False]


def test_an_ambiguous_source_is_refused() -> None:
    twice = pd.concat([_punctuality(), _punctuality().iloc[[0]].assign(line_id="A999")])
    with pytest.raises(ValueError, match="twice"):
        join_punctuality(_routes(), twice)


def _raw_csv(archive_path: Path, name: str) -> list[dict[str, str]]:
    with zipfile.ZipFile(archive_path) as archive:
        return list(csv.DictReader(io.TextIOWrapper(archive.open(name), encoding="utf-8-sig")))


def test_route_reliability_on_the_real_feeds(
    punctuality: None,
    loaded: None,
    client: httpx.Client,
    feed_zip: Path,
    raw_index: list[dict[str, Any]],
) -> None:
    # The imports reach the server's catalog by NOTIFY, a moment after they commit.
    deadline = time.monotonic() + 10
    while client.get("/collections/route_reliability").status_code == 404:
        assert time.monotonic() < deadline, (
            "route_reliability was not registered",
            client.get("/readyz").json(),
            [c["id"] for c in client.get("/collections").json()["collections"]],
        )
        time.sleep(0.1)
    pages = follow(client, features(client, "route_reliability", limit=1000))
    found = [feature for page in pages for feature in page["features"]]
    by_route: dict[str, list[dict[str, Any]]] = {}
    for feature in found:
        by_route.setdefault(feature["properties"]["route_id"], []).append(feature["properties"])
    # Independently: the routes stopping in Lozenets, from the raw stop_times and the stops layer.
    inside = features(client, "lozenets_stops", limit=1000)["features"]
    lozenets = {f["properties"]["stop_id"] for f in inside}
    assert len(lozenets) == 78
    route_of_trip = {r["trip_id"]: r["route_id"] for r in _raw_csv(feed_zip, "trips.txt")}
    stop_times = _raw_csv(feed_zip, "stop_times.txt")
    serving = {route_of_trip[r["trip_id"]] for r in stop_times if r["stop_id"] in lozenets}
    routes = {r["route_id"]: r for r in _raw_csv(feed_zip, "routes.txt")}
    modes = {"0": "tram", "1": "metro", "3": "bus", "11": "trolleybus"}
    published = {(r["name"], r["type"]): r for r in raw_index}
    expected = {
        route: published.get((routes[route]["route_short_name"], modes[routes[route]["route_type"]]))
        for route in serving
    }
    assert len(expected) == 26
    assert sum(1 for match in expected.values() if match is not None) == 22
    assert sorted(routes[r]["route_short_name"] for r, m in expected.items() if m is None) == [
        "288",
        "73",
        "M2",
        "Х9",
    ]
    for route, match in expected.items():
        for props in by_route[route]:  # every direction of the route carries the line's figures
            assert props["matched"] is (match is not None)
            if match is None:
                assert props["median_delay_min"] is None
                assert "no " in props["caveats"]
            else:
                assert props["official_line_id"] == match["line_id"]
                assert props["median_delay_min"] == match["median"]
                assert props["p90_delay_min"] == match["p90"]
                assert props["ontime_pct"] == match["ontime_pct"]
                assert props["sample_n"] == match["sample_n"]
                assert props["caveats"].startswith(JOIN_CAVEAT)
    # Bus 72 (А72 here, A1 in the official feed).
    assert by_route["А72"][0]["official_line_id"] == "A1"
