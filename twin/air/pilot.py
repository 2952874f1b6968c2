"""The air-quality pilot as the core registry sees it (entry point ``air`` in pyproject.toml)."""

from __future__ import annotations

from twin.air import tables  # noqa: F401 -- declares the pilot's tables on the one MetaData
from twin.air.cli import commands
from twin.air.importers.loader import LOADER
from twin.air.inputs import AIR_DATA_PROVIDER, AIR_QUALITY_PROVIDER
from twin.air.layers.exposure import AIR_EXPOSURE
from twin.air.layers.surface import AIR_SURFACE
from twin.air.settings import AirSettings
from twin.core.registry import Pilot

PILOT = Pilot(
    name="air",
    title="Air quality",
    summary="EEA-verified PM10 and PM2.5 of Sofia's stations, the municipal sample and citizen sensors: "
    "statistics held against the EU limit values and the WHO guidelines, a surface estimated over "
    "Lozenets with its uncertainty, exposure per neighbourhood, and OGC API – EDR.",
    loaders=(LOADER,),
    layers=(AIR_SURFACE, AIR_EXPOSURE),
    providers=(AIR_DATA_PROVIDER, AIR_QUALITY_PROVIDER),
    settings=(AirSettings,),
    commands=commands,
    links=(
        ("/air/limits", "The limit values and guidelines the twin holds measurements against"),
        (
            "/edr",
            "OGC API – Environmental Data Retrieval: air quality at a point, over an area, at a station",
        ),
    ),
)
