"""The district pilot's derived layer: the analysis grid over Lozenets."""

from __future__ import annotations

import geopandas as gpd
from pydantic import BaseModel, ConfigDict, Field

from twin.core.derived.contract import DerivedLayer, OutputProperty
from twin.core.derived.inputs import Inputs
from twin.core.grids import square_grid


class GridParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cell_size: int = Field(default=100, ge=25, le=1000, description="Side of a grid cell, metres.")


def _compute(inputs: Inputs, params: BaseModel) -> gpd.GeoDataFrame:
    assert isinstance(params, GridParameters)
    return square_grid(inputs.frame("district"), params.cell_size)


LOZENETS_GRID = DerivedLayer(
    id="lozenets_grid",
    title="Analysis grid over Lozenets",
    description="Square cells (side `cell_size` metres, aligned in UTM 34N) overlapping the "
    "district, with the area and share of each cell inside it: the frame of the accessibility "
    "and exposure scenarios.",
    geometry_type="Polygon",
    parameters=GridParameters,
    properties=(
        OutputProperty("row", "integer", "Cell row index from the aligned origin (northing / cell_size)."),
        OutputProperty("col", "integer", "Cell column index (easting / cell_size)."),
        OutputProperty("area_inside_m2", "number", "Area of the cell inside the district, m²."),
        OutputProperty("share_inside", "number", "Share of the cell inside the district, 0–1."),
    ),
    inputs=("district",),
    compute=_compute,
)
