"""Walking access to kindergartens and schools: per neighbourhood (or grid cell), the residents within a
walk of `walk_min` minutes of one, those short of one, and the places per 100 residents they reach
(2SFCA). Walks on the street graph where streets are loaded, straight line × `detour` elsewhere; the
answer says how many were measured which way."""

from __future__ import annotations

from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from twin.core.derived.contract import DerivedLayer, OutputProperty
from twin.core.derived.inputs import Inputs
from twin.planning import indicators, walking
from twin.planning.layers.units import as_multipolygons, units_of
from twin.planning.uses import home_share


class AccessParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit: Literal["neighbourhood", "grid"] = Field(
        default="neighbourhood", description="neighbourhood or grid."
    )
    cell_m: int = Field(default=250, ge=50, le=2000, description="Grid cell side, metres (unit=grid).")
    walk_min: float = Field(default=15.0, gt=0, le=60, description="The walk, minutes.")
    speed_m_per_min: float = Field(
        default=walking.WALK_M_PER_MIN, ge=30, le=150, description="Walking speed, m/min."
    )
    detour: float = Field(
        default=walking.DEFAULT_DETOUR,
        ge=1.0,
        le=3.0,
        description="Walk ÷ straight line off the street graph.",
    )


PROPERTIES = (
    OutputProperty("unit_id", "string", "The neighbourhood id (or 'rest'), or the cell's col_row."),
    OutputProperty("name", "string", "The neighbourhood's name."),
    OutputProperty("residents", "number", "Estimated residents (calibrated to the published population)."),
    OutputProperty("kindergarten_reach_pct", "number", "Residents within the walk of a kindergarten, %."),
    OutputProperty(
        "residents_without_kindergarten", "number", "Residents with no kindergarten within the walk."
    ),
    OutputProperty(
        "kindergarten_places_per_100", "number", "Kindergarten places reachable per 100 residents (2SFCA)."
    ),
    OutputProperty("school_reach_pct", "number", "Residents within the walk of a school, %."),
    OutputProperty("residents_without_school", "number", "Residents with no school within the walk."),
    OutputProperty("school_places_per_100", "number", "School places reachable per 100 residents (2SFCA)."),
    OutputProperty(
        "nearest_kindergarten_min", "number", "Residents' mean walk to their nearest kindergarten, min."
    ),
    OutputProperty("on_graph_pct", "number", "Residents whose walks were measured on the street graph, %."),
)


def homes(buildings: gpd.GeoDataFrame, population: int | None) -> gpd.GeoDataFrame:
    """One point per building with its residents (calibrated)."""
    per_person = indicators.calibrate(buildings, population) or indicators.DEFAULT_FLOOR_AREA_PER_PERSON
    residents = buildings.geometry.area * buildings["floors"] * home_share(buildings["use"])
    points = gpd.GeoDataFrame(
        {"residents": (residents / per_person).to_numpy(), "synthetic": buildings["synthetic"].to_numpy()},
        geometry=buildings.geometry.representative_point().to_numpy(),
        crs=32634,
    )
    return points[points["residents"] > 0].reset_index(drop=True)


def places(education: gpd.GeoDataFrame, kind: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], int]:
    """(coordinates, capacities, how many had no capacity and took their kind's median)."""
    chosen = education[education["kind"] == kind]
    capacity = pd.to_numeric(chosen["capacity"], errors="coerce")
    missing = int(capacity.isna().sum())
    capacity = capacity.fillna(capacity.median() if capacity.notna().any() else 0.0)
    xy = np.column_stack([chosen.geometry.x.to_numpy(), chosen.geometry.y.to_numpy()])
    return xy, capacity.to_numpy(dtype=np.float64), missing


def access(
    people: gpd.GeoDataFrame, graph: walking.Graph, education: gpd.GeoDataFrame, reach_m: float, detour: float
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per home: reach and places of each kind; and the account."""
    xy = np.column_stack([people.geometry.x.to_numpy(), people.geometry.y.to_numpy()])
    residents = people["residents"].to_numpy()
    columns: dict[str, Any] = {}
    account: dict[str, Any] = {}
    on_graph_any = np.zeros(len(people), dtype=bool)
    for kind in ("kindergarten", "school"):
        targets, capacity, missing = places(education, kind)
        found = walking.reach(graph, xy, targets, reach_m, detour)
        columns[f"{kind}_within"] = found.nearest_m <= reach_m
        columns[f"{kind}_places"] = walking.two_step_sparse(found.within, residents, capacity)
        columns[f"{kind}_nearest_m"] = found.nearest_m
        on_graph_any |= found.on_graph
        account[kind] = {"places": len(targets), "capacity_missing_took_median": missing}
    columns["on_graph"] = on_graph_any
    return pd.DataFrame(columns), account


def _compute(inputs: Inputs, params: BaseModel) -> gpd.GeoDataFrame:
    assert isinstance(params, AccessParameters)
    units = units_of(inputs, params.unit, 9, params.cell_m)
    district = inputs.frame("district")
    population = int(district["population_estimate"].fillna(0).sum()) or None
    people = homes(inputs.frame("buildings"), population)
    graph = walking.graph_of(inputs.frame("streets"))
    reach = params.walk_min * params.speed_m_per_min
    found, account = access(people, graph, inputs.frame("education_places"), reach, params.detour)
    joined = gpd.sjoin(people, units[["geometry"]], how="inner", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    per = found.loc[joined.index].assign(
        unit=joined["index_right"].to_numpy(), residents=joined["residents"].to_numpy()
    )
    r = per["residents"]
    grouped = pd.DataFrame(
        {
            "residents": r.groupby(per["unit"]).sum(),
            "k_in": (r * per["kindergarten_within"]).groupby(per["unit"]).sum(),
            "s_in": (r * per["school_within"]).groupby(per["unit"]).sum(),
            "k_places": (r * per["kindergarten_places"]).groupby(per["unit"]).sum(),
            "s_places": (r * per["school_places"]).groupby(per["unit"]).sum(),
            "k_walk": (r * per["kindergarten_nearest_m"]).groupby(per["unit"]).sum(),
            "graph": (r * per["on_graph"]).groupby(per["unit"]).sum(),
        }
    ).reindex(range(len(units)), fill_value=0.0)
    total = grouped["residents"].where(grouped["residents"] > 0)
    frame = units.assign(
        residents=grouped["residents"].round(1).to_numpy(),
        kindergarten_reach_pct=(100 * grouped["k_in"] / total).round(2).to_numpy(),
        residents_without_kindergarten=(grouped["residents"] - grouped["k_in"]).round(1).to_numpy(),
        kindergarten_places_per_100=(100 * grouped["k_places"] / total).round(3).to_numpy(),
        school_reach_pct=(100 * grouped["s_in"] / total).round(2).to_numpy(),
        residents_without_school=(grouped["residents"] - grouped["s_in"]).round(1).to_numpy(),
        school_places_per_100=(100 * grouped["s_places"] / total).round(3).to_numpy(),
        nearest_kindergarten_min=(grouped["k_walk"] / total / params.speed_m_per_min).round(2).to_numpy(),
        on_graph_pct=(100 * grouped["graph"] / total).round(2).to_numpy(),
    )
    frame = frame[[p.name for p in PROPERTIES] + ["geometry"]]
    frame = frame.assign(geometry=as_multipolygons(frame.geometry.values))
    frame.attrs["computation"] = {
        "walk_m": reach,
        "walk": f"{params.walk_min:g} min at {params.speed_m_per_min:g} m/min",
        "graph": {
            "nodes": len(graph.nodes),
            "edges": int(graph.edges.nnz // 2),
            "note": "the OpenStreetMap streets loaded (one window); off the graph a walk is the straight "
            f"line × {params.detour:g}",
        },
        "residents_on_graph": round(float(grouped["graph"].sum()), 1),
        "residents": round(float(grouped["residents"].sum()), 1),
        "method": "2SFCA (Luo & Wang 2003): each place's capacity shared among the residents within the walk",
        "places": account,
        "residents_from": "calibrated to the district's published population (see planning_indicators)",
    }
    return frame


WALK_ACCESS = DerivedLayer(
    id="walk_access",
    title="Walking access to kindergartens and schools",
    description="Per neighbourhood (clipped to the district, and the rest of it) or grid cell: residents "
    "within a `walk_min`-minute walk of a kindergarten and of a school, those short of one, and the "
    "places per 100 residents they reach (two-step floating catchment, capacities from the register). "
    "Walks follow the street graph where OpenStreetMap streets are loaded and are the straight line × "
    "`detour` elsewhere; `on_graph_pct` and the result's `computation` say which.",
    geometry_type="MultiPolygon",
    parameters=AccessParameters,
    properties=PROPERTIES,
    inputs=("district", "neighbourhoods", "buildings", "streets", "education_places"),
    compute=_compute,
    extent_input="district",
)
