"""Public Transport Accessibility Level (PTAL) over a grid of the district, by the published TfL
method.

The method (Transport for London, *Measuring Public Transport Accessibility Levels — PTALs Summary*,
2010, and *Assessing transport connectivity in London*, 2015, §2.5; summarised in Wikipedia's
"Public transport accessibility level", section Method) rates a point of interest (POI):

1. Service access points (SAPs) are the stops within a walk of 640 m for buses (here also
   trolleybuses) and 960 m for rail, Underground and tram (here tram and metro), walked at
   80 m/min. The walk follows the street graph where a pilot answers
   :data:`twin.questions.WALKING` and both ends are on it (the OpenStreetMap streets loaded), and is
   the straight-line distance × ``detour_factor`` elsewhere.
2. Each route's frequency at a SAP is its departures per hour in the AM peak (08:15–09:15),
   taking the direction with the highest frequency.
3. Scheduled waiting time SWT = 0.5 × 60 / frequency (half the headway, minutes); average waiting
   time AWT = SWT + a reliability margin: 2.0 min for buses, 0.75 min for rail modes.
4. Total access time TAT = walk time + AWT; each route counts once, at the SAP where its TAT is
   smallest.
5. Equivalent doorstep frequency EDF = 30 / TAT.
6. Per mode, the route with the highest EDF counts in full and every other route at half:
   AI_mode = EDF_max + 0.5 × ΣEDF_others; the accessibility index AI = Σ AI_mode.
7. Bands: 0 (AI = 0), 1a (≤ 2.5), 1b (≤ 5), 2 (≤ 10), 3 (≤ 15), 4 (≤ 20), 5 (≤ 25), 6a (≤ 40),
   6b (> 40).

Adaptations to Sofia, said where they apply: a GTFS ``route_type`` is a mode, except that trolleybuses
count as buses (they run on the same streets, from the same stops, with the same catchment and
reliability margin, so giving them a dominant route of their own would inflate the index); a stop
is a SAP (the feed lists each platform as its own stop); a route's direction is its
``direction_id`` and, where the feed gives none (the Sofia feed), all its departures at the stop
count as one direction (a platform normally serves one direction; a trip's last stop is its
arrival and never counts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from twin.core.derived.contract import DerivedLayer, OutputProperty
from twin.core.derived.inputs import Inputs
from twin.core.grids import centre_grid
from twin.questions import TRANSIT, WALKING
from twin.transport.layers.service import PeakParameters
from twin.transport.metrics import hms, parse_window

WALK_M_PER_MIN = 80.0
BUS_CATCHMENT_M = 640.0
RAIL_CATCHMENT_M = 960.0
BUS_RELIABILITY_MIN = 2.0
RAIL_RELIABILITY_MIN = 0.75
BANDS: tuple[tuple[str, float], ...] = (
    ("1a", 2.5),
    ("1b", 5.0),
    ("2", 10.0),
    ("3", 15.0),
    ("4", 20.0),
    ("5", 25.0),
    ("6a", 40.0),
)
"""Upper bounds (inclusive) of the bands above 0; above 40 is 6b."""

BUS_MODES = frozenset({"bus", "trolleybus", "coach"})
"""Modes walked to over the bus catchment and waited for with the bus margin; all others are rail."""


def band_of(ai: float) -> str:
    """The PTAL band of an accessibility index, as published: on the index rounded to 2 decimals (TfL's
    bands run 0.01–2.50, 2.51–5.00, …), so a cell shown as 15.00 is band 3, never 4."""
    ai = round(ai, 2)
    if not ai > 0:
        return "0"
    for band, upper in BANDS:
        if ai <= upper:
            return band
    return "6b"


def bands_of(ai: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.object_]]:
    """The PTAL bands of many accessibility indices at once (as :func:`band_of`)."""
    values = np.round(np.asarray(ai, dtype=np.float64), 2)
    labels = np.array([band for band, _ in BANDS] + ["6b"], dtype=object)
    result = labels[np.searchsorted([upper for _, upper in BANDS], values, side="left")]
    result[~(values > 0)] = "0"
    return result


def route_frequencies(schedule: pd.DataFrame, routes: pd.DataFrame, window: tuple[int, int]) -> pd.DataFrame:
    """Each route's departures per hour at each stop in a window, in its busiest direction.

    Parameters
    ----------
    schedule : DataFrame
        A service day's departures: ``stop_id``, ``departure_s``, ``route_id``, ``direction_id``
        (-1 when unknown: all such departures count as one direction).
    routes : DataFrame
        ``route_id``, ``mode`` (as the transport pilot assigns it: ``twin.transport.modes``).
    window : (start, end)
        Seconds after the service day's midnight, end excluded.

    Returns
    -------
    DataFrame
        ``stop_id``, ``route_id``, ``mode``, ``frequency`` (departures per hour, > 0), sorted by stop and
        route.
    """
    start, end = window
    if not end > start:
        raise ValueError(f"window must end after it starts, got {window}")
    times = schedule["departure_s"]
    inside = schedule[(times >= start) & (times < end)]
    per_direction = inside.groupby(["stop_id", "route_id", "direction_id"]).size()
    busiest = per_direction.groupby(level=["stop_id", "route_id"]).max()
    frame = (busiest / ((end - start) / 3600)).rename("frequency").reset_index()
    frame = frame.join(routes.set_index("route_id")["mode"], on="route_id", how="inner")
    return frame[["stop_id", "route_id", "mode", "frequency"]].reset_index(drop=True)


@dataclass(frozen=True)
class PtalResult:
    """Per point of interest, in the order of the points given."""

    ai: np.ndarray[Any, np.dtype[np.float64]]
    """Accessibility index (unrounded)."""
    routes: np.ndarray[Any, np.dtype[np.int64]]
    """Routes counted."""
    best_route: np.ndarray[Any, np.dtype[np.object_]]
    """The route with the highest EDF (ties: the smallest route_id), None without any."""
    nearest_walk_min: np.ndarray[Any, np.dtype[np.float64]]
    """Walk to the nearest SAP counted, minutes; NaN without any."""
    bands: np.ndarray[Any, np.dtype[np.object_]]
    nearest_on_graph: np.ndarray[Any, np.dtype[np.bool_]]
    """Whether the walk to the nearest SAP counted was measured on the street graph."""


Array = np.ndarray[Any, Any]
Walker = Callable[[Array, Array], tuple[Array, Array]]
"""(points, stops) → (points × stops walking metres, whether each was measured on the street graph)."""


@dataclass(frozen=True)
class _Saps:
    """The service access points prepared once: per row (a route at a stop) its reach, waiting time,
    route and weighting group; the stops once each, with their rows as contiguous runs."""

    reach_m: Array
    awt: Array
    route_code: Array
    route_names: Array
    mode_code: Array
    stop_xy: Array
    by_stop: Array
    per_stop: Array
    first_row: Array


def ptal_index(
    points_xy: np.ndarray[Any, Any],
    saps: pd.DataFrame,
    *,
    detour_factor: float = 1.2,
    chunk: int = 1024,
    walker: Walker | None = None,
) -> PtalResult:
    """The PTAL accessibility index of many points at once (vectorised: no Python loop per point).

    Parameters
    ----------
    points_xy : array (n, 2)
        Points of interest in a projected CRS with metre units.
    saps : DataFrame
        One row per route at a stop: ``stop_id``, ``x``, ``y`` (same CRS), ``route_id``, ``mode``,
        ``frequency`` (departures per hour in the busiest direction; rows ≤ 0 are ignored).
    detour_factor : float
        Walking distance / straight-line distance (≥ 1).
    chunk : int
        Points per block of the distance matrix (bounds memory, not the result).
    walker : callable, optional
        Walks along a street graph (:meth:`twin.questions.Walking.distances` with the detour bound):
        a pair it measured on the graph takes the graph's walk, every other pair the straight line ×
        `detour_factor`. Without it, every walk is the straight line × `detour_factor`.
    """
    if detour_factor < 1:
        raise ValueError(f"detour_factor must be at least 1, got {detour_factor}")
    points = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    n = len(points)
    saps = saps[saps["frequency"] > 0]
    if n == 0 or saps.empty:
        return _no_service(n)
    prepared = _prepare(saps)
    p_point, p_stop, p_walk, p_on = _stops_in_reach(points, prepared, detour_factor, chunk, walker)
    point, row, walk_min, on_graph = _routes_in_reach(p_point, p_stop, p_walk, p_on, prepared)
    if len(row) == 0:
        return _no_service(n)
    nearest = np.full(n, np.inf)
    np.minimum.at(nearest, point, walk_min)
    nearest_on_graph = np.zeros(n, dtype=bool)
    nearest_on_graph[point[on_graph & (walk_min == nearest[point])]] = True
    point, route, edf, mode = _best_stop_per_route(point, row, walk_min, prepared)
    ai = _weighted_index(point, route, edf, mode, n)
    return PtalResult(
        ai.astype(np.float64),
        np.bincount(point, minlength=n).astype(np.int64),
        _best_routes(point, route, edf, prepared.route_names, n),
        np.where(np.isfinite(nearest), nearest, np.nan),
        bands_of(ai),
        nearest_on_graph,
    )


def _no_service(n: int) -> PtalResult:
    return PtalResult(
        np.zeros(n),
        np.zeros(n, dtype=np.int64),
        np.full(n, None, dtype=object),
        np.full(n, np.nan),
        np.full(n, "0", dtype=object),
        np.zeros(n, dtype=bool),
    )


def _prepare(saps: pd.DataFrame) -> _Saps:
    is_bus = saps["mode"].isin(BUS_MODES).to_numpy()
    awt = 0.5 * 60.0 / saps["frequency"].to_numpy(np.float64) + np.where(
        is_bus, BUS_RELIABILITY_MIN, RAIL_RELIABILITY_MIN
    )
    route_names, route_code = np.unique(saps["route_id"].to_numpy(str), return_inverse=True)
    # The weighting groups: every bus-like mode is one (see the module's adaptations).
    groups = np.where(is_bus, "bus", saps["mode"].to_numpy(str))
    _groups, mode_code = np.unique(groups, return_inverse=True)
    # Stops once each, and the rows (routes) of each stop as a contiguous run, so that a
    # (point, stop) pair expands to its routes without a Python loop.
    stop_names, stop_of_row = np.unique(saps["stop_id"].to_numpy(str), return_inverse=True)
    per_stop = np.bincount(stop_of_row, minlength=len(stop_names))
    stop_xy = np.zeros((len(stop_names), 2))
    stop_xy[stop_of_row] = saps[["x", "y"]].to_numpy(np.float64)
    return _Saps(
        reach_m=np.where(is_bus, BUS_CATCHMENT_M, RAIL_CATCHMENT_M),
        awt=awt,
        route_code=route_code,
        route_names=route_names,
        mode_code=mode_code,
        stop_xy=stop_xy,
        by_stop=np.argsort(stop_of_row, kind="stable"),
        per_stop=per_stop,
        first_row=np.cumsum(per_stop) - per_stop,
    )


def _stops_in_reach(
    points: Array, saps: _Saps, detour_factor: float, chunk: int, walker: Walker | None
) -> tuple[Array, Array, Array, Array]:
    """(point, stop, walk metres, measured on the graph) of every stop within the longest catchment of
    a point, in blocks of points, each a vectorised distance matrix. A graph walk is never shorter
    than the straight line, so the straight line bounds the stops a walker is asked about."""
    reach = float(saps.reach_m.max())
    radius = reach if walker is not None else reach / detour_factor
    lo, hi = points.min(axis=0) - radius, points.max(axis=0) + radius
    near = np.flatnonzero(np.all((saps.stop_xy >= lo) & (saps.stop_xy <= hi), axis=1))
    pair_point, pair_stop, pair_walk, pair_on = [], [], [], []
    for begin in range(0, len(points), chunk):
        block = points[begin : begin + chunk]
        walk = (
            np.hypot(
                block[:, None, 0] - saps.stop_xy[None, near, 0],
                block[:, None, 1] - saps.stop_xy[None, near, 1],
            )
            * detour_factor
        )
        on = np.zeros(walk.shape, dtype=bool)
        if walker is not None and len(near):
            walked, on = walker(block, saps.stop_xy[near])
            walk = np.where(on, walked, walk)
        i, j = np.nonzero(walk <= reach)
        pair_point.append(i + begin)
        pair_stop.append(near[j])
        pair_walk.append(walk[i, j])
        pair_on.append(on[i, j])
    p_point, p_stop, p_walk, p_on = (np.concatenate(a) for a in (pair_point, pair_stop, pair_walk, pair_on))
    return p_point, p_stop, p_walk, p_on


def _routes_in_reach(
    p_point: Array, p_stop: Array, p_walk: Array, p_on: Array, saps: _Saps
) -> tuple[Array, Array, Array, Array]:
    """(point, route row, walk minutes, on the graph) of every route at a stop within its mode's
    catchment."""
    count = saps.per_stop[p_stop]
    offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    row = saps.by_stop[np.repeat(saps.first_row[p_stop], count) + offset]
    point = np.repeat(p_point, count)
    walk_m = np.repeat(p_walk, count)
    keep = walk_m <= saps.reach_m[row]
    return point[keep], row[keep], walk_m[keep] / WALK_M_PER_MIN, np.repeat(p_on, count)[keep]


def _best_stop_per_route(
    point: Array, row: Array, walk_min: Array, saps: _Saps
) -> tuple[Array, Array, Array, Array]:
    """Each route once per point, at its SAP with the smallest total access time: (point, route, EDF,
    weighting group)."""
    tat = walk_min + saps.awt[row]
    route = saps.route_code[row]
    order = np.lexsort((tat, route, point))
    point, route, tat, row = point[order], route[order], tat[order], row[order]
    first = np.ones(len(point), dtype=bool)
    first[1:] = (point[1:] != point[:-1]) | (route[1:] != route[:-1])
    return point[first], route[first], 30.0 / tat[first], saps.mode_code[row[first]]


def _weighted_index(point: Array, route: Array, edf: Array, mode: Array, n: int) -> Array:
    """Per point and weighting group: the highest EDF in full, the others at half; summed over groups."""
    order = np.lexsort((route, -edf, mode, point))
    point, edf, mode = point[order], edf[order], mode[order]
    head = np.ones(len(point), dtype=bool)
    head[1:] = (point[1:] != point[:-1]) | (mode[1:] != mode[:-1])
    starts = np.flatnonzero(head)
    total = np.add.reduceat(edf, starts)
    best = edf[starts]
    return np.bincount(point[starts], weights=best + 0.5 * (total - best), minlength=n)


def _best_routes(point: Array, route: Array, edf: Array, route_names: Array, n: int) -> Array:
    """The route with the highest EDF at each point (ties: the smallest route_id), None without any."""
    order = np.lexsort((route, -edf, point))
    leader = order[np.r_[True, point[order][1:] != point[order][:-1]]]
    best_route = np.full(n, None, dtype=object)
    best_route[point[leader]] = route_names[route[leader]]
    return best_route


class PtalParameters(PeakParameters):
    cell_m: int = Field(default=100, ge=25, le=500, description="Side of a grid cell, metres.")
    detour_factor: float = Field(
        default=1.2,
        ge=1.0,
        le=2.0,
        description="Walking / straight-line distance, for walks off the street graph.",
    )
    street_graph: bool = Field(
        default=True,
        description="Walk along the street graph where one is loaded; false: the straight line × "
        "detour_factor everywhere (the TfL method without a network).",
    )


def ptal_grid(inputs: Inputs, params: PtalParameters) -> gpd.GeoDataFrame:
    """The grid with unrounded accessibility indices (the layer rounds them)."""
    window = parse_window(params.window)
    cells = centre_grid(inputs.frame("district"), params.cell_m)
    stops = inputs.frame("stops")
    if stops.crs != cells.crs:
        raise ValueError(f"stops ({stops.crs}) and district ({cells.crs}) must share a CRS")
    frequencies = route_frequencies(
        inputs.get(TRANSIT).schedule(params.date, window), inputs.get(TRANSIT).routes(), window
    )
    located = pd.DataFrame(
        {"stop_id": stops["stop_id"], "x": stops.geometry.x.to_numpy(), "y": stops.geometry.y.to_numpy()}
    )
    saps = frequencies.merge(located, on="stop_id", how="inner")
    walking = inputs.get(WALKING) if params.street_graph and inputs.has(WALKING) else None
    walker: Walker | None = None
    if walking is not None:
        detour = params.detour_factor

        def walker(points: Array, stops_xy: Array) -> tuple[Array, Array]:
            return walking.distances(points, stops_xy, detour)

    result = ptal_index(cells[["x", "y"]].to_numpy(), saps, detour_factor=params.detour_factor, walker=walker)
    grid = cells.assign(
        cell_id=cells["col"].astype(str) + "_" + cells["row"].astype(str),
        ai=result.ai,
        band=result.bands,
        routes=result.routes,
        best_route=result.best_route,
        nearest_stop_walk_min=result.nearest_walk_min,
        walk=np.where(result.nearest_on_graph, "street graph", "straight line"),
        service_date=params.date.isoformat(),
        counted=f"{hms(window[0])}-{hms(window[1])}",
    )
    grid.attrs["computation"] = {
        "walking": walking.account()
        if walking is not None
        else {
            "graph": None,
            "note": "street_graph=false or no pilot answers 'walking': straight line × detour",
        },
        "cells_nearest_walk_on_graph": int(result.nearest_on_graph.sum()),
        "detour_factor_off_graph": params.detour_factor,
    }
    return grid


def _compute(inputs: Inputs, params: BaseModel) -> gpd.GeoDataFrame:
    assert isinstance(params, PtalParameters)
    grid = ptal_grid(inputs, params)
    result = grid.assign(
        ai=grid["ai"].round(2), nearest_stop_walk_min=grid["nearest_stop_walk_min"].round(2)
    )[[p.name for p in PTAL.properties] + ["geometry"]]
    result.attrs = grid.attrs
    return result


PTAL = DerivedLayer(
    id="ptal",
    title="Public transport accessibility level (PTAL)",
    description="Grid cells (side `cell_m`, centre inside the district) rated by the TfL PTAL method: "
    "walk to stops within 640 m (bus, trolleybus) or 960 m (tram, metro) at 80 m/min, waiting "
    "time from each route's departures per hour in `window` on `date` plus a reliability margin, "
    "equivalent doorstep frequencies summed per mode. Walks follow the street graph where "
    "OpenStreetMap streets are loaded (the planning pilot's answer) and are the straight line × "
    "`detour_factor` elsewhere; `walk` and the result's `computation` say which.",
    geometry_type="Polygon",
    parameters=PtalParameters,
    properties=(
        OutputProperty("cell_id", "string", "col_row of the UTM 34N grid (easting, northing / cell_m)."),
        OutputProperty("ai", "number", "Accessibility index (sum over modes of weighted EDFs), 2 d.p."),
        OutputProperty("band", "string", "PTAL band: 0, 1a, 1b, 2, 3, 4, 5, 6a or 6b."),
        OutputProperty("routes", "integer", "Routes counted (each once, at its best stop)."),
        OutputProperty("best_route", "string", "route_id with the highest EDF; null without any."),
        OutputProperty(
            "nearest_stop_walk_min", "number", "Walk to the nearest stop counted, minutes; null if none."
        ),
        OutputProperty(
            "walk",
            "string",
            "How that walk was measured: 'street graph' or 'straight line' (× detour_factor).",
        ),
        OutputProperty("service_date", "string", "The service date counted (YYYY-MM-DD)."),
        OutputProperty("counted", "string", "The window counted, HH:MM:SS-HH:MM:SS."),
    ),
    inputs=("stops", "district"),
    compute=_compute,
    uses=(TRANSIT,),
    optional=(WALKING,),
    extent_input="district",
    # 2: modes from the one route_type table (extended types as the reference gives them);
    # 3: walks on the street graph where one is loaded.
    version="3",
)
