"""The urban-planning pilot as the core registry sees it (entry point ``planning`` in pyproject.toml)."""

from __future__ import annotations

from twin.core.registry import Pilot
from twin.planning import tables  # noqa: F401 -- declares the pilot's tables on the one MetaData
from twin.planning.cli import commands
from twin.planning.importers.loaders import BUILDINGS, EDUCATION, STREETS, ZONING
from twin.planning.inputs import RESIDENTS_PROVIDER, RULES_PROVIDER, STOCK_PROVIDER, WALKING_PROVIDER
from twin.planning.layers.access import WALK_ACCESS
from twin.planning.layers.indicators import PLANNING_INDICATORS
from twin.planning.layers.scenario import SCENARIO_BUILDINGS, SCENARIO_DIFFERENCE

PILOT = Pilot(
    name="planning",
    title="Urban planning",
    summary="Buildings (real OpenStreetMap footprints in one window, a seeded synthetic stock elsewhere), "
    "zones and their rules, planning indicators, walking access to kindergartens and schools, and "
    "what-if proposals answered across the three pilots.",
    loaders=(STREETS, EDUCATION, ZONING, BUILDINGS),
    layers=(PLANNING_INDICATORS, WALK_ACCESS, SCENARIO_BUILDINGS, SCENARIO_DIFFERENCE),
    providers=(RULES_PROVIDER, RESIDENTS_PROVIDER, STOCK_PROVIDER, WALKING_PROVIDER),
    commands=commands,
    links=(("/planning/rules", "The zoning rules in force, each number with its source"),),
)
