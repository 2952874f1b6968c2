"""Service coverage: the share of the district within walking distance of a stop with a given number
of departures per hour.

Definitions (also in the README): a stop *qualifies* when its departures in the window (all routes,
as /transport/stops/{id}/metrics counts them) divided by the window's length in hours are at least
``min_departures_per_hour``; its *catchment* is as ``stop_catchments`` draws it (along the street
graph where one is loaded, a circle of ``walk_m / detour_factor`` elsewhere); the *covered area* is the
union of the qualifying catchments clipped to the district, whichever side of the boundary the stop
stands on.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from pydantic import BaseModel, Field

from twin.core.derived.contract import DerivedLayer, OutputProperty
from twin.core.derived.inputs import Inputs
from twin.questions import RESIDENTS, TRANSIT, WALKING, Walking
from twin.transport.layers.service import PeakParameters, departures_per_stop
from twin.transport.metrics import hms, parse_window

QUAD_SEGS = 16
"""Segments per quarter circle of a catchment (as stop_catchments): areas within 0.2 % of a circle's."""


def service_coverage(
    stops: gpd.GeoDataFrame,
    district: gpd.GeoDataFrame,
    *,
    min_per_hour: float,
    walk_m: float,
    detour_factor: float,
    walking: Walking | None = None,
) -> gpd.GeoDataFrame:
    """The district's area within the catchment of a stop with at least `min_per_hour` departures.

    Parameters
    ----------
    stops : GeoDataFrame
        Points with ``departures_per_hour`` (unrounded), in a projected CRS with metre units.
    district : GeoDataFrame
        Polygons in the same CRS (dissolved first).
    min_per_hour : float
        Departures per hour a stop needs to count.
    walk_m, detour_factor : float
        Walking distance and street / straight-line ratio: the catchment radius off the street graph
        is their quotient.
    walking : Walking, optional
        Draws catchments along the street graph where it knows the streets (as ``stop_catchments``).

    Returns
    -------
    GeoDataFrame
        One row: ``district_area_m2``, ``covered_area_m2``, ``share`` (0–1), ``qualifying_stops`` (the
        qualifying stops whose catchment reaches into the district), ``radius_m``,
        ``stops_on_graph`` (of those, the ones whose catchment follows the streets); geometry the
        covered area as a MultiPolygon (empty when no stop qualifies).
    """
    if stops.crs is None or not stops.crs.is_projected or stops.crs != district.crs:
        raise ValueError(
            f"stops ({stops.crs}) and district ({district.crs}) must share a projected CRS in metres"
        )
    if detour_factor < 1:
        raise ValueError(f"detour_factor must be at least 1, got {detour_factor}")
    radius = walk_m / detour_factor
    area = shapely.union_all(district.geometry.values)
    shapely.prepare(area)
    frequent = stops[stops["departures_per_hour"] >= min_per_hour]
    # A graph walk is never shorter than the straight line: walk_m bounds every catchment.
    bound = radius if walking is None else walk_m
    candidates = frequent[shapely.distance(area, frequent.geometry.values) < bound]
    drawn = np.zeros(len(candidates), dtype=bool)
    if walking is None or candidates.empty:
        catchments = shapely.buffer(candidates.geometry.values, radius, quad_segs=QUAD_SEGS)
    else:
        xy = np.column_stack([candidates.geometry.x.to_numpy(), candidates.geometry.y.to_numpy()])
        catchments, drawn = walking.catchments(xy, walk_m, detour_factor)
    # Reaching into the district means overlapping it, not touching it at one point.
    reaches = shapely.area(shapely.intersection(catchments, area)) > 0
    reaching, catchments, drawn = candidates[reaches], catchments[reaches], drawn[reaches]
    covered = shapely.intersection(shapely.union_all(catchments), area)
    parts = shapely.get_parts(covered)
    polygons = shapely.multipolygons(parts[shapely.get_type_id(parts) == shapely.GeometryType.POLYGON])
    district_area = float(area.area)
    return gpd.GeoDataFrame(
        {
            "district_area_m2": [round(district_area, 1)],
            "covered_area_m2": [round(float(polygons.area), 1)],
            "share": [round(float(polygons.area) / district_area, 6) if district_area > 0 else None],
            "qualifying_stops": [len(reaching)],
            "radius_m": [round(radius, 3)],
            "stops_on_graph": [int(drawn.sum())],
        },
        geometry=[polygons],
        crs=stops.crs,
    )


class CoverageParameters(PeakParameters):
    min_departures_per_hour: float = Field(
        default=6, ge=0.1, le=120, description="Departures per hour a stop needs, all routes together."
    )
    walk_m: int = Field(default=400, ge=50, le=2000, description="Walking distance, metres.")
    detour_factor: float = Field(
        default=1.2, ge=1.0, le=2.0, description="Street / straight-line distance, off the street graph."
    )
    street_graph: bool = Field(
        default=True,
        description="Walk along the street graph where one is loaded; false: the straight line × "
        "detour_factor everywhere (to compare the two).",
    )


def residents_covered(
    homes: gpd.GeoDataFrame, covered: shapely.Geometry, district: shapely.Geometry
) -> tuple[float, float]:
    """(residents living in the district, those of them inside the covered area): a home counts where
    its point lies."""
    shapely.prepare(district)
    shapely.prepare(covered)
    xy = np.column_stack([homes.geometry.x.to_numpy(), homes.geometry.y.to_numpy()])
    inside = shapely.contains_xy(district, xy[:, 0], xy[:, 1])
    reached = inside & shapely.contains_xy(covered, xy[:, 0], xy[:, 1])
    people = homes["residents"].to_numpy(np.float64)
    return float(people[inside].sum()), float(people[reached].sum())


def coverage_frame(inputs: Inputs, params: CoverageParameters) -> gpd.GeoDataFrame:
    window = parse_window(params.window)
    walking = inputs.get(WALKING) if params.street_graph and inputs.has(WALKING) else None
    stops = departures_per_stop(
        inputs.frame("stops"), inputs.get(TRANSIT).schedule(params.date, window), window
    )
    # The threshold is compared unrounded (departures_per_stop rounds its rate for display).
    stops = stops.assign(departures_per_hour=stops["departures"] / ((window[1] - window[0]) / 3600))
    result = service_coverage(
        stops,
        inputs.frame("district"),
        min_per_hour=params.min_departures_per_hour,
        walk_m=params.walk_m,
        detour_factor=params.detour_factor,
        walking=walking,
    )
    result = result.assign(service_date=params.date.isoformat(), counted=f"{hms(window[0])}-{hms(window[1])}")
    district = shapely.union_all(inputs.frame("district").geometry.values)
    total, covered, account = _residents(inputs, result.geometry.iloc[0], district)
    result = result.assign(residents_total=total, residents_covered=covered)
    result.attrs["computation"] = {
        "walking": walking.account()
        if walking is not None
        else {
            "graph": None,
            "note": "street_graph=false: every catchment is a circle"
            if not params.street_graph
            else "no pilot answers 'walking': every catchment is a circle",
        },
        "stops_on_graph": int(result["stops_on_graph"].iloc[0]),
        "residents": account,
    }
    return result


def _residents(
    inputs: Inputs, covered: shapely.Geometry, district: shapely.Geometry
) -> tuple[float | None, float | None, dict[str, object]]:
    if not inputs.has(RESIDENTS):
        return None, None, {"available": False, "reason": "no pilot answers 'residents' (urban planning)"}
    try:
        homes = inputs.get(RESIDENTS).points()
    except LookupError as exc:  # the pilot is installed, its buildings not loaded
        return None, None, {"available": False, "reason": str(exc)}
    homes = homes[homes["residents"] > 0]
    if homes.empty:
        return None, None, {"available": False, "reason": "no building with residents is loaded"}
    total, reached = residents_covered(homes, covered, district)
    return (
        round(total, 1),
        round(reached, 1),
        {
            "available": True,
            "buildings": len(homes),
            "synthetic_share": round(float(homes["synthetic"].mean()), 4),
            "note": "residents per building from the urban-planning pilot (floor area ÷ floor area per "
            "person, calibrated to the district's published population); a home counts where its "
            "point lies",
        },
    )


def _compute(inputs: Inputs, params: BaseModel) -> gpd.GeoDataFrame:
    assert isinstance(params, CoverageParameters)
    return coverage_frame(inputs, params)


SERVICE_COVERAGE = DerivedLayer(
    id="service_coverage",
    title="Area served by frequent stops",
    description="The part of the district within `walk_m` metres of walking (along the street graph "
    "where OpenStreetMap streets are loaded, a circle of walk_m / detour_factor elsewhere) of a stop "
    "with at least `min_departures_per_hour` departures per hour in `window` on `date`, all routes "
    "together; stops outside the district count where their catchment reaches in. One feature, with "
    "the district's area, the covered area and its share.",
    geometry_type="MultiPolygon",
    parameters=CoverageParameters,
    properties=(
        OutputProperty("district_area_m2", "number", "Area of the district, m² (UTM 34N)."),
        OutputProperty("covered_area_m2", "number", "Area of the district within a catchment, m²."),
        OutputProperty("share", "number", "covered_area_m2 / district_area_m2, 0–1."),
        OutputProperty(
            "qualifying_stops", "integer", "Stops with enough departures whose catchment reaches in."
        ),
        OutputProperty("radius_m", "number", "Catchment radius used off the street graph, metres."),
        OutputProperty(
            "stops_on_graph", "integer", "Qualifying stops whose catchment follows the street graph."
        ),
        OutputProperty(
            "residents_total", "number", "Residents of the district (null until buildings are loaded)."
        ),
        OutputProperty("residents_covered", "number", "Of them, those living in the covered area."),
        OutputProperty("service_date", "string", "The service date counted (YYYY-MM-DD)."),
        OutputProperty("counted", "string", "The window counted, HH:MM:SS-HH:MM:SS."),
    ),
    inputs=("stops", "district"),
    compute=_compute,
    uses=(TRANSIT,),
    optional=(WALKING, RESIDENTS),
    extent_input="district",
    version="2",  # 2: catchments along the street graph where one is loaded, residents covered
)
