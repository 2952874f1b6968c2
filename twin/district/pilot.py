"""The district pilot as the core registry sees it (entry point ``district`` in pyproject.toml)."""

from __future__ import annotations

from twin.core.registry import Pilot, Readiness
from twin.district.importer import LOADER
from twin.district.layers import LOZENETS_GRID

PILOT = Pilot(
    name="district",
    title="Lozenets district",
    summary="The official Lozenets boundary and its seven neighbourhoods (Sofiaplan), with an analysis "
    "grid over the district at any cell size.",
    loaders=(LOADER,),
    layers=(LOZENETS_GRID,),
    readiness=Readiness(
        name="lozenets",
        tables={"districts": "district", "neighbourhoods": "neighbourhood"},
        hint="Lozenets is not loaded (run `twin load lozenets`)",
    ),
)
