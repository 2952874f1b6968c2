"""The transport tests' fixtures: the Sofia feed (as a file, loaded, and read raw) and the district."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import Engine

from tests.support.gtfs_raw import MODES, RawFeed
from twin.core.imports.manifest import Manifest
from twin.core.imports.runner import run_import
from twin.core.registry import loaders
from twin.platform.settings import Settings


@pytest.fixture(scope="module")
def feed_zip(settings: Settings) -> Path:
    assert settings.sources_dir is not None
    return settings.sources_dir / "sofiatraffic-gtfs" / "result.zip"


@pytest.fixture(scope="module")
def loaded(engine: Engine, settings: Settings, manifest: Manifest) -> None:
    run_import(engine, settings, manifest, loaders()["gtfs"])


@pytest.fixture(scope="module")
def raw(feed_zip: Path) -> RawFeed:
    def read(name: str) -> pd.DataFrame:
        with zipfile.ZipFile(feed_zip) as archive:
            return pd.read_csv(archive.open(name), dtype=str, keep_default_na=False, encoding="utf-8-sig")

    stops = read("stops.txt")
    project = Transformer.from_crs(4326, 32634, always_xy=True).transform
    xs, ys = project(stops["stop_lon"].astype(float).to_numpy(), stops["stop_lat"].astype(float).to_numpy())
    trips = read("trips.txt")
    if "direction_id" not in trips:
        trips = trips.assign(direction_id="")
    routes = read("routes.txt")
    assert set(routes["route_type"]) <= set(MODES)
    return RawFeed(
        stops_xy={s: (float(x), float(y)) for s, x, y in zip(stops["stop_id"], xs, ys, strict=True)},
        mode_of_route=dict(zip(routes["route_id"], routes["route_type"].map(MODES), strict=True)),
        trips=trips[["trip_id", "route_id", "service_id", "direction_id"]],
        stop_times=read("stop_times.txt")[["trip_id", "stop_id", "stop_sequence", "departure_time"]],
        calendar=read("calendar.txt"),
    )


@pytest.fixture(scope="module")
def district(settings: Settings) -> shapely.Geometry:
    assert settings.sources_dir is not None
    regions = gpd.read_file(settings.sources_dir / "sofiaplan-districts-callsofia/sofia.regions.json")
    return shapely.union_all(regions[regions["obns_num"] == "09"].to_crs(32634).geometry.values)
