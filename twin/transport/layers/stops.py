"""Public-transport scenarios: the stops of the district, stations (platforms grouped) and walking
catchments."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from pydantic import BaseModel, ConfigDict, Field

from twin.core.derived.contract import DerivedLayer, OutputProperty
from twin.core.derived.inputs import METRIC_CRS, Inputs
from twin.questions import WALKING, Walking


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


LOZENETS_STOPS = DerivedLayer(
    id="lozenets_stops",
    title="Public transport stops in Lozenets",
    description="The feed's stops inside the official Lozenets polygon, with the routes serving each.",
    geometry_type="Point",
    parameters=NoParameters,
    properties=(
        OutputProperty("stop_id", "string", "GTFS stop_id."),
        OutputProperty("stop_name", "string", "Stop name as in the feed (upper case)."),
        OutputProperty("routes", "string", "Short names of the routes serving the stop, space-separated."),
        OutputProperty("route_count", "integer", "How many routes serve the stop."),
    ),
    inputs=("stops", "district"),
    compute=_compute,
    extent_input="district",
)


def group_platforms(stops: gpd.GeoDataFrame, max_distance: float) -> gpd.GeoDataFrame:
    """Stations: platforms of the same name linked when within `max_distance` of each other (single
    linkage: a chain of close platforms is one station).

    Parameters
    ----------
    stops : GeoDataFrame
        Points in a projected CRS with metre units, with ``stop_id``, ``stop_name`` and ``routes``.
    max_distance : float
        Metres.

    Returns
    -------
    GeoDataFrame
        One row per station: ``station_id`` (the smallest stop_id of its platforms), ``name``,
        ``stop_ids`` and ``routes`` (space-separated), ``platforms``; geometry the platforms' centroid.
    """
    if stops.crs is None or not stops.crs.is_projected:
        raise ValueError("group_platforms needs a projected CRS in metres: use stops.to_crs(32634) first")
    rows = []
    for name, group in stops.groupby("stop_name", sort=True):
        xy = np.column_stack([group.geometry.x.to_numpy(), group.geometry.y.to_numpy()])
        close = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1]) <= max_distance
        labels = _components(close)
        for label in np.unique(labels):
            members = group[labels == label]
            ids = sorted(members["stop_id"], key=lambda s: (len(s), s))
            routes = sorted({r for text in members["routes"] for r in str(text).split()})
            rows.append(
                {
                    "station_id": ids[0],
                    "name": name,
                    "stop_ids": " ".join(ids),
                    "platforms": len(ids),
                    "routes": " ".join(routes),
                    "geometry": shapely.MultiPoint(list(members.geometry)).centroid,
                }
            )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=stops.crs)


def _components(linked: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
    """Connected components of a symmetric boolean adjacency matrix, as one label per node."""
    parent = list(range(len(linked)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(linked, k=1)), strict=True):
        parent[find(int(i))] = find(int(j))
    return np.array([find(i) for i in range(len(linked))])


def walking_catchments(
    stops: gpd.GeoDataFrame, walk_m: float, detour_factor: float, walking: Walking | None = None
) -> gpd.GeoDataFrame:
    """The area within walking distance of each stop: drawn along the streets by `walking` where it
    knows them (:meth:`twin.questions.Walking.catchments`), else a circle of radius walk / detour
    factor. Index and columns of `stops` are kept; ``walk`` says which ('street graph' or 'straight
    line').

    Parameters
    ----------
    stops : GeoDataFrame
        Points in a projected CRS with metre units (EPSG:32634 when `walking` is given).
    walk_m : float
        Walking distance along streets, metres.
    detour_factor : float
        Street distance / straight-line distance (≥ 1), for walks off the street graph.
    walking : Walking, optional
        The street graph's answerer; without it every catchment is the circle.
    """
    if stops.crs is None or not stops.crs.is_projected:
        raise ValueError("walking_catchments needs a projected CRS in metres: use stops.to_crs(32634) first")
    if detour_factor < 1:
        raise ValueError(f"detour_factor must be at least 1, got {detour_factor}")
    radius = walk_m / detour_factor
    circles = stops.geometry.buffer(radius, quad_segs=16)
    if walking is None or stops.empty:
        return stops.assign(radius_m=radius, walk="straight line", geometry=circles)
    if stops.crs.to_epsg() != METRIC_CRS:
        raise ValueError(f"walking catchments are drawn in EPSG:{METRIC_CRS}, got {stops.crs}")
    xy = np.column_stack([stops.geometry.x.to_numpy(), stops.geometry.y.to_numpy()])
    drawn_areas, drawn = walking.catchments(xy, walk_m, detour_factor)
    return stops.assign(
        radius_m=radius,
        walk=np.where(drawn, "street graph", "straight line"),
        geometry=gpd.GeoSeries(
            np.where(drawn, drawn_areas, circles.to_numpy()), index=stops.index, crs=stops.crs
        ),
    )


class StationParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_distance_m: int = Field(
        default=300,
        ge=10,
        le=2000,
        description="Platforms of one name within this many metres form one station.",
    )


class CatchmentParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    walk_m: int = Field(default=400, ge=50, le=2000, description="Walking distance, metres.")
    detour_factor: float = Field(
        default=1.2, ge=1.0, le=2.0, description="Street / straight-line distance, off the street graph."
    )
    street_graph: bool = Field(
        default=True,
        description="Draw along the street graph where one is loaded; false: circles everywhere.",
    )


def _stations(inputs: Inputs, params: BaseModel) -> gpd.GeoDataFrame:
    assert isinstance(params, StationParameters)
    return group_platforms(inputs.frame("stops"), params.max_distance_m)


def _catchments(inputs: Inputs, params: BaseModel) -> gpd.GeoDataFrame:
    assert isinstance(params, CatchmentParameters)
    stops = inputs.frame("stops").sort_values("stop_id")
    walking = inputs.get(WALKING) if params.street_graph and inputs.has(WALKING) else None
    result = walking_catchments(stops, params.walk_m, params.detour_factor, walking)[
        ["stop_id", "stop_name", "routes", "radius_m", "walk", "geometry"]
    ]
    result.attrs["computation"] = {
        "walking": walking.account()
        if walking is not None
        else {"graph": None, "note": "street_graph=false or no pilot answers 'walking': circles"},
        "stops_on_graph": int((result["walk"] == "street graph").sum()),
    }
    return result


STATIONS = DerivedLayer(
    id="stations",
    title="Stations (platforms grouped)",
    description="The Sofia feed lists each direction as its own stop: platforms of the same name within "
    "`max_distance_m` of each other are grouped into one station, at their centroid.",
    geometry_type="Point",
    parameters=StationParameters,
    properties=(
        OutputProperty("station_id", "string", "The smallest stop_id of its platforms."),
        OutputProperty("name", "string", "Stop name as in the feed."),
        OutputProperty("stop_ids", "string", "stop_ids of its platforms, space-separated."),
        OutputProperty("platforms", "integer", "Number of platforms (stops)."),
        OutputProperty("routes", "string", "Route ids serving any platform, space-separated."),
    ),
    inputs=("stops",),
    compute=_stations,
)

STOP_CATCHMENTS = DerivedLayer(
    id="stop_catchments",
    title="Walking catchments of stops",
    description="For each stop, the area within `walk_m` metres of walking: drawn along the street "
    "graph where OpenStreetMap streets are loaded (the planning pilot's answer), a circle of radius "
    "walk_m / detour_factor elsewhere; `walk` and the result's `computation` say which.",
    geometry_type="Polygon",
    parameters=CatchmentParameters,
    properties=(
        OutputProperty("stop_id", "string", "GTFS stop_id."),
        OutputProperty("stop_name", "string", "Stop name as in the feed."),
        OutputProperty("routes", "string", "Route ids serving the stop, space-separated."),
        OutputProperty("radius_m", "number", "Straight-line radius used off the street graph, metres."),
        OutputProperty("walk", "string", "How the catchment was drawn: 'street graph' or 'straight line'."),
    ),
    inputs=("stops",),
    compute=_catchments,
    optional=(WALKING,),
    version="2",  # 2: drawn along the street graph where one is loaded
)
