"""The transport tests' fixtures: the Sofia feed (as a file, loaded, and read raw) and the district."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import Engine

from tests.support.gtfs_raw import RawFeed, read_raw_feed
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
    return read_raw_feed(feed_zip)


@pytest.fixture(scope="module")
def district(settings: Settings) -> shapely.Geometry:
    assert settings.sources_dir is not None
    regions = gpd.read_file(settings.sources_dir / "sofiaplan-districts-callsofia/sofia.regions.json")
    return shapely.union_all(regions[regions["obns_num"] == "09"].to_crs(32634).geometry.values)
