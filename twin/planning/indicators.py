"""Planning indicators per unit of analysis: pure functions over frames in a metric CRS (EPSG:32634),
index kept, no I/O.

Definitions (also in the README), for a unit of land area A:

- built-up density = Σ footprint area inside the unit ÷ A (%): a footprint cut by the unit's edge
  counts with its part inside;
- floor-area ratio (Кинт) = gross floor area ÷ A, the gross floor area Σ (footprint inside × floors);
- mean height = footprint-weighted mean of the heights of the buildings (parts) inside; max height;
- volume = Σ footprint inside × height (momepy.volume);
- residents = residential floor area ÷ floor area per person, residential floor area = Σ gross floor
  area × the use's residential share (residential 1, mixed ½, non-residential 0);
- residents per hectare = residents ÷ (A / 10,000);
- green share = mapped green area inside ÷ A (%), given only where green areas are mapped (the unit
  lies at least 90 % inside the mapped window); elsewhere null, and its rule "not measured".
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import momepy
import numpy as np
import pandas as pd
import shapely

from twin.planning.rules import RuleSet, check
from twin.planning.uses import home_share

GREEN_MAPPED_MIN_SHARE = 0.9
DEFAULT_FLOOR_AREA_PER_PERSON = 35.0
"""m² of homes per person assumed when no published population calibrates it (an assumption, said so in
every answer that uses it)."""


def _require_metric(*frames: gpd.GeoDataFrame) -> None:
    for frame in frames:
        if frame.crs is None or frame.crs.to_epsg() != 32634:
            raise ValueError("indicators are computed in EPSG:32634: reproject the frames first")


def residential_floor_area(buildings: gpd.GeoDataFrame) -> float:
    """Σ footprint × floors × residential share, m²."""
    share = home_share(buildings["use"])
    return float((buildings.geometry.area * buildings["floors"].astype("float64") * share).sum())


def calibrate(buildings: gpd.GeoDataFrame, population: int | None) -> float | None:
    """The floor area per person that makes the stock house the published population (m² per person)."""
    if not population or population <= 0:
        return None
    return residential_floor_area(buildings) / population


def compute(
    units: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    green: gpd.GeoDataFrame,
    mapped: Any,
    floor_area_per_person: float,
    rules: RuleSet | None = None,
) -> gpd.GeoDataFrame:
    """Indicators per unit (``unit_id``, ``name``, optional ``code`` for zones); the units' index kept.

    `mapped` is the area where green is mapped (a geometry); `rules`, when the units are zones, adds each
    rule's check (``compliance``: a list of {rule, measured, limit, status, standing, source})."""
    _require_metric(units, buildings, green)
    land = units.geometry.area.to_numpy()
    index = np.arange(len(units))
    pieces = gpd.overlay(
        units.assign(_u=index)[["_u", "geometry"]],
        buildings.assign(_b=np.arange(len(buildings)))[["_b", "geometry"]],
        how="intersection",
        keep_geom_type=True,
    )
    parts = pieces.join(buildings.reset_index(drop=True)[["floors", "height_m", "use"]], on="_b")
    area = parts.geometry.area.to_numpy()
    floors = parts["floors"].to_numpy(dtype=np.float64)
    height = parts["height_m"].to_numpy(dtype=np.float64)
    share = home_share(parts["use"])
    u = parts["_u"].to_numpy()
    footprint = np.bincount(u, weights=area, minlength=len(units))
    gfa = np.bincount(u, weights=area * floors, minlength=len(units))
    residential = np.bincount(u, weights=area * floors * share, minlength=len(units))
    volume = np.bincount(u, weights=np.asarray(momepy.volume(area, height)), minlength=len(units))
    weighted_height = np.bincount(u, weights=area * height, minlength=len(units))
    max_height = pd.Series(height).groupby(u).max().reindex(index).to_numpy()
    buildings_in = parts.groupby("_u")["_b"].nunique().reindex(index, fill_value=0).to_numpy()
    residents = residential / floor_area_per_person
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_height = np.where(footprint > 0, weighted_height / footprint, np.nan)
    green_area, mapped_share = _green(units, green, mapped)
    green_pct = np.where(mapped_share >= GREEN_MAPPED_MIN_SHARE, 100 * green_area / land, np.nan)
    result = units.assign(
        land_ha=np.round(land / 10_000, 4),
        buildings=buildings_in,
        footprint_m2=np.round(footprint, 1),
        built_density_pct=np.round(100 * footprint / land, 2),
        gross_floor_area_m2=np.round(gfa, 1),
        far=np.round(gfa / land, 3),
        mean_height_m=np.round(mean_height, 2),
        max_height_m=max_height,
        volume_m3=np.round(volume, 0),
        residential_floor_area_m2=np.round(residential, 1),
        residents=np.round(residents, 1),
        residents_per_ha=np.round(residents / (land / 10_000), 2),
        green_pct=np.round(green_pct, 2),
        green_mapped_share=np.round(mapped_share, 3),
    )
    if rules is not None and "code" in units.columns:
        result["compliance"] = [
            _compliance(rules, row)
            for row in result[["code", "built_density_pct", "far", "green_pct", "max_height_m"]].itertuples()
        ]
    return result


def _green(
    units: gpd.GeoDataFrame, green: gpd.GeoDataFrame, mapped: Any
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(green area inside each unit, the share of each unit where green is mapped)."""
    areas = units.geometry.area.to_numpy()
    if green.empty:
        green_area = np.zeros(len(units))
    else:
        merged = shapely.union_all(green.geometry.values)
        green_area = shapely.area(shapely.intersection(units.geometry.values, merged))
    mapped_area = (
        np.zeros(len(units))
        if mapped is None or mapped.is_empty
        else shapely.area(shapely.intersection(units.geometry.values, mapped))
    )
    return np.asarray(green_area, dtype=np.float64), np.asarray(mapped_area / areas, dtype=np.float64)


def _compliance(rules: RuleSet, row: Any) -> list[dict[str, Any]]:
    zone = rules.get(str(row.code))
    if zone is None:
        return [{"rule": "zone", "status": f"no rules for zone code {row.code!r}"}]

    def value(x: Any) -> float | None:
        return None if x is None or (isinstance(x, float) and np.isnan(x)) else float(x)

    return [
        check(value(row.built_density_pct), zone.max_density, "max_density"),
        check(value(row.far), zone.max_far, "max_far"),
        check(value(row.green_pct), zone.min_green, "min_green"),
        check(value(row.max_height_m), zone.max_height, "max_height"),
    ]
