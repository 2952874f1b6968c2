"""Exposure per neighbourhood: for each neighbourhood (the part inside Lozenets) and the rest of the
district, the area-weighted mean of the estimated concentration over a period, and the days its
area-weighted daily mean would exceed the daily limit values; weighted by residents as soon as a pilot
answers :data:`twin.questions.RESIDENTS` (the planning pilot)."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pydantic import BaseModel, Field
from scipy import sparse

from twin.air import surfaces
from twin.air.estimation import Prepared
from twin.air.inputs import AIR_DATA
from twin.air.layers.common import EstimateParameters, district_grid, empty, prepared_for
from twin.air.pollutants import POLLUTANTS
from twin.air.rules import Limit, rules
from twin.core.derived.contract import DerivedLayer, OutputProperty
from twin.core.derived.inputs import Inputs
from twin.core.grids import parts_with_rest
from twin.questions import RESIDENTS


class ExposureParameters(EstimateParameters):
    cell_m: int = Field(
        default=50,
        ge=10,
        le=500,
        description="Side of the cells the neighbourhoods are averaged over, metres.",
    )


PROPERTIES = (
    OutputProperty("unit_id", "string", "The neighbourhood's id, or 'rest' for the rest of the district."),
    OutputProperty("name", "string", "The neighbourhood's name."),
    OutputProperty("area_km2", "number", "Area inside Lozenets, km²."),
    OutputProperty("mean", "number", "Area-weighted mean of the estimated concentration over the period."),
    OutputProperty(
        "uncertainty",
        "number",
        "Root of the area-weighted mean of the cells' variances: an upper bound of the standard deviation "
        "of the mean (the cells' errors are positively correlated).",
    ),
    OutputProperty(
        "days_estimated", "integer", "Days of the period with an estimate (some station had data)."
    ),
    OutputProperty(
        "days_above_limit",
        "integer",
        "Days whose area-weighted daily mean exceeds the daily limit in force (Directive 2008/50/EC); "
        "null without a daily limit for the pollutant.",
    ),
    OutputProperty("daily_limit", "number", "That daily limit value; null without one."),
    OutputProperty(
        "days_above_2030_limit",
        "integer",
        "Days above the daily limit of Directive (EU) 2024/2881 (from 2030); null without one.",
    ),
    OutputProperty("residents", "number", "Residents counted (null until a pilot answers residents)."),
    OutputProperty(
        "population_weighted_mean",
        "number",
        "Mean of the estimate at the residents' buildings weighted by residents (null until a pilot "
        "answers residents).",
    ),
    OutputProperty("unit", "string", "Unit of the concentrations."),
    OutputProperty("method_used", "string", "kriging or idw."),
)


def units(district: gpd.GeoDataFrame, neighbourhoods: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The neighbourhoods clipped to the district, and the rest of the district as one more unit."""
    return parts_with_rest(shapely.union_all(district.geometry.values), neighbourhoods)


def area_weights(unit_shapes: gpd.GeoDataFrame, cells: gpd.GeoDataFrame) -> sparse.csr_matrix:
    """(units, cells) areas of each cell inside each unit, m²."""
    pieces = gpd.overlay(
        unit_shapes.assign(u=np.arange(len(unit_shapes)))[["u", "geometry"]],
        cells.assign(c=np.arange(len(cells)))[["c", "geometry"]],
        how="intersection",
        keep_geom_type=True,
    )
    return sparse.csr_matrix(
        (shapely.area(pieces.geometry.values), (pieces["u"].to_numpy(), pieces["c"].to_numpy())),
        shape=(len(unit_shapes), len(cells)),
    )


def _daily_limit(pollutant: str, framework: str) -> Limit | None:
    return next(
        (
            limit
            for limit in rules().for_pollutant(pollutant)
            if limit.averaging == "day" and limit.framework == framework
        ),
        None,
    )


def _compute(inputs: Inputs, params: BaseModel) -> gpd.GeoDataFrame:
    assert isinstance(params, ExposureParameters)
    district = inputs.frame("district")
    shapes = units(district, inputs.frame("neighbourhoods"))
    names = [p.name for p in PROPERTIES]
    prepared, asked = prepared_for(inputs, params)
    if prepared is None:
        return empty(names, district.crs, asked)
    cells = district_grid(district, params.cell_m, 0)
    weights = area_weights(shapes, cells)
    share = sparse.diags(1.0 / np.asarray(weights.sum(axis=1)).ravel()) @ weights
    xy = cells[["x", "y"]].to_numpy()
    found = surfaces.estimate(prepared.stations, xy, params.method, prepared.variogram)
    frame = shapes.assign(
        area_km2=(shapely.area(shapes.geometry.values) / 1e6).round(4),
        mean=(share @ found.estimate).round(3),
        uncertainty=np.sqrt(share @ found.uncertainty**2).round(3),
        unit=POLLUTANTS[params.pollutant].unit,
        method_used=found.method,
    )
    computation: dict[str, Any] = {
        **asked,
        **prepared.describe(),
        "method": found.method,
        "fallback": found.fallback,
        "cross_validation": found.cross_validation,
        "cells": len(cells),
        "cell_m": params.cell_m,
    }
    frame, computation["daily"] = _exceedances(frame, prepared, xy, share, params.method)
    frame, computation["residents"] = _population_weighted(frame, inputs, prepared, params.method)
    frame = frame[[*names, "geometry"]]
    frame.attrs["computation"] = computation
    return frame


def _exceedances(
    frame: gpd.GeoDataFrame, prepared: Prepared, xy: np.ndarray[Any, Any], share: Any, method: str
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Each unit's area-weighted daily means (every day of the period estimated at every cell, days with
    the same stations sharing one set of weights) and the days above the daily limits."""
    daily, _ = surfaces.daily_fields(
        prepared.xy,
        prepared.daily_error_var,
        prepared.daily,
        xy,
        method,
        prepared.daily_variogram,
        share,
        with_spread=False,
    )
    unit_daily = daily.T  # (units, days)
    estimated = ~np.isnan(unit_daily)
    in_force = _daily_limit(prepared.pollutant, "2008/50/EC")
    from_2030 = _daily_limit(prepared.pollutant, "(EU) 2024/2881")

    def above(limit: Limit | None) -> Any:
        if limit is None:
            return None
        return np.sum(np.where(estimated, unit_daily > limit.value, False), axis=1).astype("int64")

    frame = frame.assign(
        days_estimated=estimated.sum(axis=1).astype("int64"),
        days_above_limit=above(in_force),
        daily_limit=None if in_force is None else in_force.value,
        days_above_2030_limit=above(from_2030),
    )
    account = {
        "rule": "a day is above a limit when the unit's area-weighted mean of that day's estimate exceeds it",
        "limit_in_force": None if in_force is None else {"value": in_force.value, "source": in_force.source},
        "limit_2030": None if from_2030 is None else {"value": from_2030.value, "source": from_2030.source},
        "variogram": prepared.daily_variogram.describe()
        if isinstance(prepared.daily_variogram, surfaces.Variogram)
        else {"none": prepared.daily_variogram},
    }
    return frame, account


def _population_weighted(
    frame: gpd.GeoDataFrame, inputs: Inputs, prepared: Prepared, method: str
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    if not inputs.has(RESIDENTS):
        return frame.assign(residents=None, population_weighted_mean=None), {
            "available": False,
            "reason": "no pilot answers 'residents' (the urban-planning pilot): area-weighted only",
        }
    try:
        homes = inputs.get(RESIDENTS).points()
    except LookupError as exc:  # the pilot is installed, its buildings not loaded
        homes = None
        missing = str(exc)
    else:
        homes = homes[homes["residents"] > 0]
        missing = "no building with residents is loaded"
    if homes is None or homes.empty:
        return frame.assign(residents=None, population_weighted_mean=None), {
            "available": False,
            "reason": f"{missing}: area-weighted only",
        }
    joined = gpd.sjoin(homes, frame[["geometry"]], how="inner", predicate="within")
    found = surfaces.estimate(
        prepared.stations,
        np.column_stack([joined.geometry.x.to_numpy(), joined.geometry.y.to_numpy()]),
        method,
        prepared.variogram,
    )
    joined = joined.assign(weighted=found.estimate * joined["residents"].to_numpy())
    totals = joined.groupby("index_right")[["residents", "weighted"]].sum()
    residents = totals["residents"].reindex(frame.index)
    mean = (totals["weighted"] / totals["residents"]).reindex(frame.index)
    return frame.assign(residents=residents.round(1), population_weighted_mean=mean.round(3)), {
        "available": True,
        "buildings": len(joined),
        "synthetic_share": round(float(homes["synthetic"].mean()), 4) if len(homes) else None,
    }


AIR_EXPOSURE = DerivedLayer(
    id="air_exposure",
    title="Air-quality exposure per neighbourhood of Lozenets",
    description="For each neighbourhood (its part inside Lozenets) and the rest of the district: the "
    "area-weighted mean of the estimated concentration of `pollutant` over `period`, its uncertainty, "
    "and the days whose area-weighted daily mean exceeds the daily limit values (in force, and from "
    "2030). Population-weighted where a pilot answers residents. Estimated as the air_surface layer "
    "is, over cells of `cell_m`; the result's `computation` member says how.",
    geometry_type="MultiPolygon",
    parameters=ExposureParameters,
    properties=PROPERTIES,
    inputs=("district", "neighbourhoods"),
    compute=_compute,
    uses=(AIR_DATA,),
    optional=(RESIDENTS,),
    extent_input="district",
)
