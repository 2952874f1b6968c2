"""Planning indicators as a derived layer: per zone, neighbourhood, H3 hexagon or grid cell, the built-up
density, floor-area ratio, heights, gross floor area, residents (calibrated to the published population
unless a floor area per person is given), residents per hectare, green share and, per zone, compliance
with the zone's rules."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import shapely
from pydantic import BaseModel, ConfigDict, Field

from twin.core.derived.contract import DerivedLayer, OutputProperty
from twin.core.derived.inputs import Inputs
from twin.planning import indicators
from twin.planning.inputs import PLANNING_RULES, PLANNING_STOCK
from twin.planning.layers.units import UnitKind, as_multipolygons, units_of


class IndicatorParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit: UnitKind = Field(default="neighbourhood", description="neighbourhood, zone, h3 or grid.")
    h3_resolution: int = Field(default=9, ge=6, le=11, description="H3 resolution (unit=h3).")
    cell_m: int = Field(default=250, ge=50, le=2000, description="Grid cell side, metres (unit=grid).")
    floor_area_per_person: float | None = Field(
        default=None,
        ge=5,
        le=500,
        description="m² of homes per resident; default: calibrated so the district total matches its "
        "published population.",
    )
    scenario: int | None = Field(
        default=None, ge=1, description="A scenario's buildings in place of the baseline (see /scenarios)."
    )


PROPERTIES = (
    OutputProperty("unit_id", "string", "The unit: neighbourhood id (or 'rest'), zone id, H3 cell, col_row."),
    OutputProperty("name", "string", "Its name (neighbourhoods and zones)."),
    OutputProperty("code", "string", "The zone's master-plan code (unit=zone)."),
    OutputProperty("land_ha", "number", "Land area inside the district, ha."),
    OutputProperty("buildings", "integer", "Buildings with a part inside."),
    OutputProperty("footprint_m2", "number", "Built-up area inside, m²."),
    OutputProperty("built_density_pct", "number", "Built-up density, % of the land."),
    OutputProperty("gross_floor_area_m2", "number", "Gross floor area (footprint × floors), m²."),
    OutputProperty("far", "number", "Floor-area ratio (Кинт): gross floor area ÷ land."),
    OutputProperty("mean_height_m", "number", "Footprint-weighted mean height, m."),
    OutputProperty("max_height_m", "number", "Tallest building (part) inside, m."),
    OutputProperty("volume_m3", "number", "Built volume (footprint × height, momepy.volume), m³."),
    OutputProperty("residential_floor_area_m2", "number", "Floor area that is homes, m²."),
    OutputProperty("residents", "number", "Estimated residents."),
    OutputProperty("residents_per_ha", "number", "Residents per hectare of land."),
    OutputProperty(
        "green_pct", "number", "Mapped green area, % of the land; null where green is not mapped."
    ),
    OutputProperty(
        "green_mapped_share", "number", "Share of the unit inside the window where green is mapped."
    ),
    OutputProperty(
        "synthetic_share", "number", "Share of the unit's gross floor area in synthetic buildings."
    ),
    OutputProperty(
        "compliance",
        "string",
        "Per rule pass/fail/no rule/not measured (unit=zone); details and sources in `computation`.",
    ),
)


def _compute(inputs: Inputs, params: BaseModel) -> gpd.GeoDataFrame:
    assert isinstance(params, IndicatorParameters)
    units = units_of(inputs, params.unit, params.h3_resolution, params.cell_m)
    baseline = inputs.frame("buildings")
    buildings = baseline if params.scenario is None else inputs.get(PLANNING_STOCK).stock(params.scenario)
    district = inputs.frame("district")
    population = int(district["population_estimate"].fillna(0).sum()) or None
    # Calibrated on the baseline, so a scenario's residents are counted at the same floor area per person.
    calibrated = indicators.calibrate(baseline, population)
    per_person = params.floor_area_per_person or calibrated or indicators.DEFAULT_FLOOR_AREA_PER_PERSON
    rules = inputs.get(PLANNING_RULES)
    mapped = shapely.union_all(inputs.frame("building_coverage").geometry.values)
    result = indicators.compute(
        units, buildings, inputs.frame("green_areas"), mapped, per_person, rules.rules
    )
    synthetic = indicators.compute(
        units, buildings[buildings["synthetic"]], inputs.frame("green_areas").iloc[0:0], None, per_person
    )
    with_share = result.assign(
        synthetic_share=(
            synthetic["gross_floor_area_m2"]
            / result["gross_floor_area_m2"].where(result["gross_floor_area_m2"] > 0)
        ).round(4),
        code=result.get("code"),
        compliance=[_summary(c) for c in result["compliance"]] if "compliance" in result else None,
    )
    frame = with_share[[p.name for p in PROPERTIES] + ["geometry"]]
    frame = frame.assign(geometry=as_multipolygons(frame.geometry.values))
    frame.attrs["computation"] = {
        "unit": params.unit,
        "stock": "baseline" if params.scenario is None else f"scenario {params.scenario}",
        "floor_area_per_person": round(per_person, 3),
        "residents_from": _residents_from(params.floor_area_per_person, calibrated, population),
        "district_residents": round(float(result["residents"].sum()), 0),
        "rules_version": rules.version,
        "rules": {
            str(code): details
            for code, details in zip(result.get("code", []), result.get("compliance", []), strict=False)
        }
        if "compliance" in result
        else None,
        "definitions": indicators.__doc__,
        "synthetic": "synthetic buildings stand in where no real footprint is loaded: see synthetic_share",
    }
    return frame


def _residents_from(given: float | None, calibrated: float | None, population: int | None) -> str:
    if given:
        return "the floor area per person given"
    if calibrated and population:
        return (
            "calibrated: the district's residential floor area ÷ its published population "
            f"({population:,}, Sofiaplan)"
        )
    return f"an assumed {indicators.DEFAULT_FLOOR_AREA_PER_PERSON:g} m² per person (no published population)"


def _summary(checks: list[dict[str, Any]]) -> str:
    return "; ".join(f"{c['rule']} {c['status']}" for c in checks)


PLANNING_INDICATORS = DerivedLayer(
    id="planning_indicators",
    title="Planning indicators per zone, neighbourhood, hexagon or cell",
    description="Per unit (`unit`: neighbourhood — clipped to the district, and the rest of it —, zone, "
    "h3 at `h3_resolution`, or grid at `cell_m`): built-up density, floor-area ratio (Кинт), mean and max "
    "height, gross floor area, volume, estimated residents (residential floor area ÷ "
    "`floor_area_per_person`, calibrated to the district's published population by default) and residents "
    "per hectare, mapped green "
    "share, the share standing on synthetic buildings, and per zone the compliance with its rules (limits "
    "and sources in the result's `computation`).",
    geometry_type="MultiPolygon",
    parameters=IndicatorParameters,
    properties=PROPERTIES,
    inputs=(
        "district",
        "neighbourhoods",
        "zones",
        "buildings",
        "green_areas",
        "building_coverage",
        "scenarios",
    ),
    compute=_compute,
    uses=(PLANNING_RULES, PLANNING_STOCK),
    extent_input="district",
)
