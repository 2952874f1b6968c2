"""The transport pilot as the core registry sees it (entry point ``transport`` in pyproject.toml)."""

from __future__ import annotations

from twin.core.registry import Pilot
from twin.transport import importer, punctuality
from twin.transport.inputs import TRANSIT_PROVIDER
from twin.transport.layers.coverage import SERVICE_COVERAGE
from twin.transport.layers.ptal import PTAL
from twin.transport.layers.reliability import ROUTE_RELIABILITY
from twin.transport.layers.service import STOP_METRICS
from twin.transport.layers.stops import LOZENETS_STOPS, STATIONS, STOP_CATCHMENTS

PILOT = Pilot(
    name="transport",
    title="Public transport",
    summary="Sofia's GTFS feed: stops, stations and route lines, stop and station metrics for polling "
    "(departures per hour, headways, service span), PTAL, the area served by frequent stops, and "
    "route punctuality.",
    loaders=(importer.LOADER, punctuality.LOADER),
    layers=(
        LOZENETS_STOPS,
        STATIONS,
        STOP_CATCHMENTS,
        STOP_METRICS,
        PTAL,
        SERVICE_COVERAGE,
        ROUTE_RELIABILITY,
    ),
    providers=(TRANSIT_PROVIDER,),
    links=(("/transport/coverage", "Share of the district within walking distance of frequent stops"),),
)
