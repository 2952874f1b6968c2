"""The estimated concentration over Lozenets and a margin: per cell the estimate, its uncertainty and
the European Air Quality Index band; the layer's result says how it was made (stations, corrections,
variogram, cross-validation, fallback)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from pydantic import BaseModel, Field

from twin.air import surfaces
from twin.air.inputs import AIR_DATA
from twin.air.layers.common import EstimateParameters, district_grid, empty, prepared_for
from twin.air.pollutants import POLLUTANTS
from twin.air.rules import rules
from twin.core.derived.contract import DerivedLayer, OutputProperty
from twin.core.derived.inputs import Inputs


class SurfaceParameters(EstimateParameters):
    cell_m: int = Field(default=100, ge=10, le=1000, description="Side of a grid cell, metres.")
    margin_m: int = Field(default=500, ge=0, le=5000, description="Margin around the district, metres.")


PROPERTIES = (
    OutputProperty("cell_id", "string", "col_row of the UTM 34N grid (easting, northing / cell_m)."),
    OutputProperty("estimate", "number", "Estimated mean concentration over the period (unit: see unit)."),
    OutputProperty(
        "uncertainty",
        "number",
        "Standard deviation of the estimate: kriging's, or with idw the spread of the stations weighted "
        "as the estimate weighs them (not a variance).",
    ),
    OutputProperty("lower_95", "number", "estimate − 1.96 × uncertainty, at least 0."),
    OutputProperty("upper_95", "number", "estimate + 1.96 × uncertainty."),
    OutputProperty(
        "eaqi_band",
        "string",
        "European Air Quality Index band of the estimate (EEA 2024 thresholds; defined for short-term "
        "concentrations, indicative for a longer period's mean).",
    ),
    OutputProperty("in_district", "number", "Share of the cell inside Lozenets, 0–1 (0 in the margin)."),
    OutputProperty("unit", "string", "Unit of the concentrations."),
    OutputProperty("method_used", "string", "kriging or idw (a fallback is said in the result)."),
)


def _compute(inputs: Inputs, params: BaseModel) -> gpd.GeoDataFrame:
    assert isinstance(params, SurfaceParameters)
    district = inputs.frame("district")
    grid = district_grid(district, params.cell_m, params.margin_m)
    names = [p.name for p in PROPERTIES]
    prepared, asked = prepared_for(inputs, params)
    if prepared is None:
        return empty(names, grid.crs, asked)
    found = surfaces.estimate(
        prepared.stations, grid[["x", "y"]].to_numpy(), params.method, prepared.variogram
    )
    estimate, uncertainty = found.estimate, found.uncertainty
    frame = grid.assign(
        estimate=estimate.round(3),
        uncertainty=uncertainty.round(3),
        lower_95=np.clip(estimate - 1.96 * uncertainty, 0.0, None).round(3),
        upper_95=(estimate + 1.96 * uncertainty).round(3),
        eaqi_band=rules().eaqi.band(params.pollutant, estimate),
        unit=POLLUTANTS[params.pollutant].unit,
        method_used=found.method,
    )[[*names, "geometry"]]
    frame.attrs["computation"] = {
        **asked,
        **prepared.describe(),
        "method": found.method,
        "fallback": found.fallback,
        "cross_validation": found.cross_validation,
        "cells": len(frame),
        "cell_m": params.cell_m,
        "eaqi_source": rules().eaqi.source,
    }
    return frame


AIR_SURFACE = DerivedLayer(
    id="air_surface",
    title="Air quality over Lozenets: estimated concentration and its uncertainty",
    description="Grid cells (side `cell_m`) over Lozenets and `margin_m` around it, each with the "
    "estimated mean concentration of `pollutant` over `period` from the stations and corrected "
    "citizen sensors around it (no station lies inside the district), its uncertainty and its EAQI "
    "band. `method`: ordinary kriging with a variogram pooled over the period's days, or inverse-"
    "distance weighting; with too few stations kriging falls back to IDW and says so. The result's "
    "`computation` member lists the stations, the citizen corrections and their fit, the variogram and "
    "the leave-one-out cross-validation; a period without data is an empty result with the reason.",
    geometry_type="Polygon",
    parameters=SurfaceParameters,
    properties=PROPERTIES,
    inputs=("district",),
    compute=_compute,
    uses=(AIR_DATA,),
)
