"""What the surface and the exposure layers share: their parameters, the grid over the district and
its margin, and the account of an estimate."""

from __future__ import annotations

import math
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import shapely
from pydantic import BaseModel, ConfigDict, Field, field_validator

from twin.air.estimation import Prepared, prepare
from twin.air.inputs import AIR_DATA
from twin.air.periods import check_period, resolve
from twin.core.derived.inputs import Inputs
from twin.core.errors import InvalidParameter
from twin.core.grids import area_inside, square_grid

MAX_CELLS = 250_000
"""Cells of one surface, at most (Lozenets and 500 m around it at 10 m is ~200,000)."""

PollutantName = Literal["PM10", "PM2.5", "NO2", "O3", "SO2", "CO"]
Method = Literal["kriging", "idw"]


class EstimateParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pollutant: PollutantName = Field(default="PM10", description="The pollutant estimated.")
    period: str = Field(
        default="last-year",
        max_length=21,
        description="A day (YYYY-MM-DD), month (YYYY-MM), year (YYYY), first/last day (at most five "
        "years), or last-year: the last full calendar year with reference data.",
    )
    method: Method = Field(
        default="kriging",
        description="kriging (ordinary kriging, with a variance) or idw (inverse-distance weighting).",
    )
    include_citizen: bool = Field(
        default=True, description="Use citizen sensors (corrected against a reference station)."
    )

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        return check_period(value)


def district_grid(district: gpd.GeoDataFrame, cell_m: int, margin_m: int) -> gpd.GeoDataFrame:
    """Square cells over the district and `margin_m` around it (UTM 34N), with the share of each cell
    inside the district; refused (a 400 naming cell_m) when it would exceed MAX_CELLS."""
    if district.crs is None or district.crs.to_epsg() != 32634:
        raise ValueError("the district must be in EPSG:32634")
    area = shapely.union_all(district.geometry.values)
    covered = area.buffer(margin_m) if margin_m > 0 else area
    minx, miny, maxx, maxy = covered.bounds
    estimate = math.ceil((maxx - minx) / cell_m + 1) * math.ceil((maxy - miny) / cell_m + 1)
    if estimate > MAX_CELLS:
        raise InvalidParameter(
            f"cell_m {cell_m} would make about {estimate:,} cells over the district and its margin; "
            f"at most {MAX_CELLS:,} (choose a larger cell_m or a smaller margin_m)",
            parameter="cell_m",
        )
    grid = square_grid(gpd.GeoDataFrame(geometry=[covered], crs=district.crs), cell_m)
    inside = area_inside(area, np.asarray(grid.geometry.values), cell_m * cell_m)
    return grid.assign(
        cell_id=grid["col"].astype(str) + "_" + grid["row"].astype(str),
        in_district=(inside / (cell_m * cell_m)).round(4),
        x=(grid["col"].to_numpy() + 0.5) * cell_m,
        y=(grid["row"].to_numpy() + 0.5) * cell_m,
    )


def empty(columns: list[str], crs: Any, computation: dict[str, Any]) -> gpd.GeoDataFrame:
    """An honest empty answer: no features, and why."""
    frame = gpd.GeoDataFrame({name: [] for name in columns}, geometry=[], crs=crs)
    frame.attrs["computation"] = computation
    return frame


def prepared_for(inputs: Inputs, params: EstimateParameters) -> tuple[Prepared | None, dict[str, Any]]:
    """The asked period's stations, corrections and variogram, with the account of what was asked; or
    None, with the account saying why nothing can be estimated (the layer is then empty)."""
    data = inputs.get(AIR_DATA)
    period = resolve(params.period, data.last_day(params.pollutant))
    asked = {"pollutant": params.pollutant, "period": params.period, "method_asked": params.method}
    if period is None:
        return None, {**asked, "reason": f"no reference station has {params.pollutant} data"}
    prepared = prepare(data, params.pollutant, period, params.include_citizen)
    if isinstance(prepared, str):
        return None, {**asked, "period": period.label, "reason": prepared}
    return prepared, asked
