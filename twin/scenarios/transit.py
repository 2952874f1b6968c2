"""Stops of the district: the feed's stops that lie inside the Lozenets polygon."""

from __future__ import annotations

import geopandas as gpd
from pydantic import BaseModel, ConfigDict

from twin.scenarios import DerivedLayer, Inputs, OutputProperty, register


def stops_within(stops: gpd.GeoDataFrame, area: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Stops inside (or on the edge of) an area; the stops' index and columns are kept.

    Parameters
    ----------
    stops : GeoDataFrame
        Points.
    area : GeoDataFrame
        Polygons in the same CRS as `stops` (they are dissolved first).
    """
    if stops.crs is None or stops.crs != area.crs:
        raise ValueError(f"stops ({stops.crs}) and area ({area.crs}) must share a CRS: reproject one first")
    boundary = area.geometry.union_all()
    return stops[stops.geometry.intersects(boundary)]


class NoParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _compute(inputs: Inputs, params: BaseModel) -> gpd.GeoDataFrame:
    stops = inputs.frame("stops")
    inside = stops_within(stops, inputs.frame("district"))
    return inside.sort_values("stop_id")[["stop_id", "stop_name", "routes", "route_count", "geometry"]]


LOZENETS_STOPS = register(
    DerivedLayer(
        id="lozenets_stops",
        title="Public transport stops in Lozenets",
        description="The feed's stops inside the official Lozenets polygon, with the routes serving each.",
        geometry_type="Point",
        parameters=NoParameters,
        properties=(
            OutputProperty("stop_id", "string", "GTFS stop_id."),
            OutputProperty("stop_name", "string", "Stop name as in the feed (upper case)."),
            OutputProperty(
                "routes", "string", "Short names of the routes serving the stop, space-separated."
            ),
            OutputProperty("route_count", "integer", "How many routes serve the stop."),
        ),
        inputs=("stops", "district"),
        compute=_compute,
    )
)
