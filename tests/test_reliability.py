"""Line punctuality (June 2026) loaded as published, and joined to routes on name and mode with caveats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import httpx
import pandas as pd
import pytest
import shapely
from sqlalchemy import Engine, text

from twin.errors import SourceError
from twin.importers import loaders
from twin.importers import reliability as loader
from twin.importers.runner import run_import
from twin.manifest import Manifest
from twin.scenarios.reliability import JOIN_CAVEAT, join_punctuality
from twin.settings import Settings


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
    ],
)
def test_a_malformed_source_is_refused_with_what_is_wrong(tmp_path: Path, index: str, fragment: str) -> None:
    (tmp_path / "index.json").write_text(index)
    (tmp_path / "health.json").write_text('{"days": [{"date": "2026-06-12", "pct": 100.0}]}')
    paths = {loader.INDEX_SOURCE: tmp_path / "index.json", loader.HEALTH_SOURCE: tmp_path / "health.json"}
    with pytest.raises(SourceError, match=fragment.replace("(", r"\(")):
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
