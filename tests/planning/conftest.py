"""The planning tests' fixtures: the planning sources loaded once, and the district in a metric CRS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from twin.core.imports.manifest import Manifest
from twin.core.imports.runner import run_import
from twin.core.registry import loaders
from twin.platform.settings import Settings

PLANNING_LOADERS = ("streets", "education", "zoning", "buildings")


@pytest.fixture(scope="session")
def planning_loaded(engine: Engine, settings: Settings, manifest: Manifest) -> None:
    for name in PLANNING_LOADERS:
        run_import(engine, settings, manifest, loaders()[name])


@pytest.fixture
def restore_buildings(
    planning_loaded: None, engine: Engine, settings: Settings, manifest: Manifest
) -> Iterator[None]:
    """Whatever a test imports is taken out again, and the synthetic stock rebuilt as it was."""
    yield
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM building WHERE origin LIKE 'import:%'"))
        conn.execute(text("DELETE FROM building_coverage WHERE origin LIKE 'import:%'"))
    run_import(engine, settings, manifest, loaders()["buildings"], force=True)


@pytest.fixture(scope="session")
def transit_loaded(engine: Engine, settings: Settings, manifest: Manifest) -> None:
    """The Sofia GTFS feed (the proposal reports ask the transport pilot)."""
    run_import(engine, settings, manifest, loaders()["gtfs"])
