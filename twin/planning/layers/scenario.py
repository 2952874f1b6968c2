"""Scenarios as collections: a scenario's buildings (the baseline with its changes applied), and the
difference of the indicators from the baseline (or another scenario) to it, per unit."""

from __future__ import annotations

import geopandas as gpd
import shapely
from pydantic import BaseModel, ConfigDict, Field

from twin.core.derived.contract import DerivedLayer, OutputProperty
from twin.core.derived.inputs import Inputs
from twin.planning import indicators
from twin.planning.inputs import PLANNING_STOCK
from twin.planning.layers.units import UnitKind, as_multipolygons, units_of


class ScenarioBuildingsParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenario: int | None = Field(default=None, ge=1, description="The scenario (default: the baseline).")


BUILDING_PROPERTIES = (
    OutputProperty("building_id", "integer", "The baseline building's id; negative for a proposed one."),
    OutputProperty("name", "string", "Its name, if any."),
    OutputProperty("use", "string", "residential, mixed or non-residential."),
    OutputProperty("floors", "integer", "Floors."),
    OutputProperty("height_m", "number", "Height, m (extrude by it)."),
    OutputProperty("synthetic", "boolean", "Whether the building is of the synthetic stock."),
    OutputProperty("changed", "string", "unchanged, height or added."),
)


def _buildings(inputs: Inputs, params: BaseModel) -> gpd.GeoDataFrame:
    assert isinstance(params, ScenarioBuildingsParameters)
    stock = inputs.get(PLANNING_STOCK).stock(params.scenario)
    frame = stock.assign(building_id=stock["id"].astype("int64"))
    frame = frame[[p.name for p in BUILDING_PROPERTIES] + ["geometry"]]
    return frame.assign(geometry=as_multipolygons(frame.geometry.values))


SCENARIO_BUILDINGS = DerivedLayer(
    id="scenario_buildings",
    title="A scenario's buildings (hypothetical)",
    description="The baseline stock with a scenario's changes applied: demolished buildings gone, heights "
    "changed, proposed buildings added (negative ids). `scenario` names it (see /scenarios); without it, "
    "the baseline. For a 3D view, extrude by `height_m`; `synthetic` and `changed` tell the buildings apart.",
    geometry_type="MultiPolygon",
    parameters=ScenarioBuildingsParameters,
    properties=BUILDING_PROPERTIES,
    inputs=("buildings", "scenarios", "district"),
    compute=_buildings,
    uses=(PLANNING_STOCK,),
    extent_input="district",
)


class DifferenceParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenario: int | None = Field(
        default=None, ge=1, description="The scenario compared (default: the baseline)."
    )
    against: int | None = Field(
        default=None, ge=1, description="What it is compared with (default: the baseline)."
    )
    unit: UnitKind = Field(default="neighbourhood", description="neighbourhood, zone, h3 or grid.")
    h3_resolution: int = Field(default=9, ge=6, le=11, description="H3 resolution (unit=h3).")
    cell_m: int = Field(default=250, ge=50, le=2000, description="Grid cell side, metres (unit=grid).")


COMPARED = (
    "footprint_m2",
    "built_density_pct",
    "gross_floor_area_m2",
    "far",
    "max_height_m",
    "residential_floor_area_m2",
    "residents",
    "residents_per_ha",
)
DIFFERENCE_PROPERTIES = (
    OutputProperty("unit_id", "string", "The unit."),
    OutputProperty("name", "string", "Its name."),
    *(
        OutputProperty(f"delta_{c}", "number", f"{c}: the scenario minus what it is compared with.")
        for c in COMPARED
    ),
    OutputProperty("residents_after", "number", "Residents in the scenario."),
)


def _difference(inputs: Inputs, params: BaseModel) -> gpd.GeoDataFrame:
    assert isinstance(params, DifferenceParameters)
    units = units_of(inputs, params.unit, params.h3_resolution, params.cell_m)
    stocks = inputs.get(PLANNING_STOCK)
    baseline = inputs.frame("buildings")
    population = int(inputs.frame("district")["population_estimate"].fillna(0).sum()) or None
    per_person = indicators.calibrate(baseline, population) or indicators.DEFAULT_FLOOR_AREA_PER_PERSON
    green = inputs.frame("green_areas")
    before = indicators.compute(units, stocks.stock(params.against), green, None, per_person)
    after = indicators.compute(units, stocks.stock(params.scenario), green, None, per_person)
    frame = units[["unit_id", "name", "geometry"]].assign(
        **{f"delta_{c}": (after[c].fillna(0) - before[c].fillna(0)).round(3).to_numpy() for c in COMPARED},
        residents_after=after["residents"].to_numpy(),
    )
    frame = frame[[p.name for p in DIFFERENCE_PROPERTIES] + ["geometry"]]
    frame = frame.assign(geometry=as_multipolygons(frame.geometry.values))
    frame.attrs["computation"] = {
        "from": "baseline" if params.against is None else f"scenario {params.against}",
        "to": "baseline" if params.scenario is None else f"scenario {params.scenario}",
        "floor_area_per_person": round(per_person, 3),
        "changed_units": int((shapely.area(frame.geometry.values) > 0).sum()),
    }
    return frame


SCENARIO_DIFFERENCE = DerivedLayer(
    id="scenario_difference",
    title="What a scenario changes, per unit",
    description="Per unit (neighbourhood, zone, h3 or grid), the indicators of `scenario` minus those of "
    "`against` (each the baseline when not given): built-up area and density, gross floor area, Кинт, max "
    "height, residential floor area, residents and residents per hectare; residents counted at the "
    "baseline's calibrated floor area per person.",
    geometry_type="MultiPolygon",
    parameters=DifferenceParameters,
    properties=DIFFERENCE_PROPERTIES,
    inputs=("district", "neighbourhoods", "zones", "buildings", "green_areas", "scenarios"),
    compute=_difference,
    uses=(PLANNING_STOCK,),
    extent_input="district",
)
