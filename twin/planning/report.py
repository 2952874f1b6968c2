"""The report of a proposal: what it does to the zones' rules, to floor area and residents, to walking
access to kindergartens and schools, to transit access at the site, to the air there, and to green area
per resident — baseline against scenario. Pure over frames; the transport and air pilots' answers come
in as arguments, None when no pilot answers (the section then says "not available" and why)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from twin.planning import indicators, walking
from twin.planning.layers.access import access
from twin.planning.rules import RuleSet
from twin.planning.scenarios import changed_area
from twin.planning.uses import home_share

FREQUENT_DEPARTURES_PER_HOUR = 6.0
FREQUENT_STOP_REACH_M = 400.0
STOP_SEARCH_M = 800.0


@dataclass(frozen=True)
class Context:
    """What the report reads besides the two stocks."""

    zones: gpd.GeoDataFrame
    rules: RuleSet
    rules_version: int
    neighbourhoods: gpd.GeoDataFrame
    """Units: the neighbourhoods clipped to the district and the rest of it (unit_id, name)."""
    green: gpd.GeoDataFrame
    mapped: Any
    population: int | None
    education: gpd.GeoDataFrame
    graph: walking.Graph
    walk_m: float
    detour: float
    transit: Any | None
    transit_day: date
    transit_window: tuple[int, int]
    air: Any | None
    transit_missing: str | None = None
    air_missing: str | None = None


def report(
    baseline: gpd.GeoDataFrame, scenario: gpd.GeoDataFrame, changes: list[dict[str, Any]], ctx: Context
) -> dict[str, Any]:
    area = changed_area(baseline, changes)
    site = area.representative_point() if not area.is_empty else None
    per_person = indicators.calibrate(baseline, ctx.population) or indicators.DEFAULT_FLOOR_AREA_PER_PERSON
    return {
        "site": None if site is None else gpd.GeoSeries([site], crs=32634).to_crs(4326).iloc[0].coords[0],
        "zones": _zones(baseline, scenario, area, ctx, per_person),
        "floor_area": _floor_area(baseline, scenario, per_person, ctx.population),
        "education": _education(baseline, scenario, area, ctx, per_person),
        "transit": _transit(scenario, changes, site, ctx, per_person),
        "air": _air(site, ctx),
        "green": _green(baseline, scenario, area, ctx, per_person),
    }


def _zones(
    baseline: gpd.GeoDataFrame, scenario: gpd.GeoDataFrame, area: Any, ctx: Context, per_person: float
) -> dict[str, Any]:
    touched = ctx.zones[ctx.zones.intersects(area)] if not area.is_empty else ctx.zones.iloc[0:0]
    units = gpd.GeoDataFrame(
        {
            "unit_id": touched["id"].astype(str).to_numpy(),
            "name": touched["name"].to_numpy(),
            "code": touched["code"].to_numpy(),
        },
        geometry=touched.geometry.values,
        crs=32634,
    )
    before = indicators.compute(units, baseline, ctx.green, ctx.mapped, per_person, ctx.rules)
    after = indicators.compute(units, scenario, ctx.green, ctx.mapped, per_person, ctx.rules)
    zones = []
    for b, a in zip(before.itertuples(), after.itertuples(), strict=True):
        checks = []
        for rule_before, rule_after in zip(b.compliance, a.compliance, strict=True):
            entry = {k: v for k, v in rule_after.items() if k not in ("measured", "status")}
            entry.update(
                before=rule_before.get("measured"),
                before_status=rule_before.get("status"),
                after=rule_after.get("measured"),
                after_status=rule_after.get("status"),
            )
            checks.append(entry)
        zones.append({"zone": b.unit_id, "code": b.code, "name": b.name, "rules": checks})
    return {"rules_version": ctx.rules_version, "touched": zones}


def _floor_area(
    baseline: gpd.GeoDataFrame, scenario: gpd.GeoDataFrame, per_person: float, population: int | None
) -> dict[str, Any]:
    def totals(stock: gpd.GeoDataFrame) -> tuple[float, float]:
        gfa = float((stock.geometry.area * stock["floors"]).sum())
        return gfa, indicators.residential_floor_area(stock)

    gfa_before, homes_before = totals(baseline)
    gfa_after, homes_after = totals(scenario)
    return {
        "gross_floor_area_added_m2": round(gfa_after - gfa_before, 1),
        "residential_floor_area_added_m2": round(homes_after - homes_before, 1),
        "residents_added": round((homes_after - homes_before) / per_person, 1),
        "residents_before": round(homes_before / per_person, 1),
        "residents_after": round(homes_after / per_person, 1),
        "floor_area_per_person": round(per_person, 3),
        "residents_from": (
            f"the baseline calibrated to the district's published population ({population:,})"
            if population
            else f"an assumed {indicators.DEFAULT_FLOOR_AREA_PER_PERSON:g} m² per person"
        ),
    }


def _neighbourhoods_touched(area: Any, ctx: Context) -> gpd.GeoDataFrame:
    if area.is_empty:
        return ctx.neighbourhoods.iloc[0:0]
    return ctx.neighbourhoods[ctx.neighbourhoods.intersects(area)]


def _education(
    baseline: gpd.GeoDataFrame, scenario: gpd.GeoDataFrame, area: Any, ctx: Context, per_person: float
) -> dict[str, Any]:
    touched = _neighbourhoods_touched(area, ctx)
    result: dict[str, Any] = {"walk_m": ctx.walk_m, "neighbourhoods": []}
    states = {}
    for label, stock in (("before", baseline), ("after", scenario)):
        people = _homes_at(stock, per_person)
        found, account = access(people, ctx.graph, ctx.education, ctx.walk_m, ctx.detour)
        states[label] = (people, found)
        result["places"] = account
    for unit in touched.itertuples():
        entry: dict[str, Any] = {"unit_id": unit.unit_id, "name": unit.name}
        for label, (people, found) in states.items():
            inside = people.within(unit.geometry).to_numpy()
            residents = people["residents"].to_numpy()[inside]
            total = residents.sum()
            values = {}
            for kind in ("kindergarten", "school"):
                within = found[f"{kind}_within"].to_numpy()[inside]
                places = found[f"{kind}_places"].to_numpy()[inside]
                values[kind] = {
                    "residents_within_walk": round(float((residents * within).sum()), 1),
                    "places_per_100_residents": round(float(100 * (residents * places).sum() / total), 3)
                    if total
                    else None,
                }
            entry[label] = {"residents": round(float(total), 1), **values}
        result["neighbourhoods"].append(entry)
    if not area.is_empty:
        site = np.array([area.representative_point().coords[0]])
        for kind in ("kindergarten", "school"):
            chosen = ctx.education[ctx.education["kind"] == kind]
            targets = (
                np.column_stack([chosen.geometry.x, chosen.geometry.y]) if len(chosen) else np.zeros((0, 2))
            )
            distance, on_graph = walking.distances(ctx.graph, site, targets, ctx.detour)
            row = distance[0] if distance.shape[1] else np.array([])
            result[f"site_{kind}s_within_walk"] = int((row <= ctx.walk_m).sum())
            result[f"site_nearest_{kind}_min"] = (
                round(float(row.min()) / walking.WALK_M_PER_MIN, 1) if len(row) else None
            )
            result["site_walks_on_graph"] = bool(on_graph.any())
    return result


def _homes_at(stock: gpd.GeoDataFrame, per_person: float) -> gpd.GeoDataFrame:
    residents = stock.geometry.area * stock["floors"] * home_share(stock["use"])
    points = gpd.GeoDataFrame(
        {"residents": (residents / per_person).to_numpy(), "synthetic": stock["synthetic"].to_numpy()},
        geometry=stock.geometry.representative_point().to_numpy(),
        crs=32634,
    )
    return points[points["residents"] > 0].reset_index(drop=True)


def _transit(
    scenario: gpd.GeoDataFrame, changes: list[dict[str, Any]], site: Any, ctx: Context, per_person: float
) -> dict[str, Any]:
    if ctx.transit is None:
        return {"available": False, "reason": ctx.transit_missing or "no pilot answers 'transit'"}
    if site is None:
        return {"available": False, "reason": "the proposal has no site"}
    from twin.core.errors import InvalidParameter

    window = ctx.transit_window
    added = scenario[scenario["changed"] == "added"]
    points = np.array([site.coords[0]] + [p.coords[0] for p in added.geometry.representative_point()])
    try:
        near = ctx.transit.stops_near(points, STOP_SEARCH_M, ctx.transit_day, window)
    except (InvalidParameter, LookupError) as exc:
        return {"available": False, "reason": f"the schedule cannot answer: {getattr(exc, 'detail', exc)}"}
    near = _walks_to(near, points, ctx)
    at_site = near[near["point"] == 0].sort_values(["walk_m", "stop_id"]).head(5)
    stops = [
        {
            "stop_id": r.stop_id,
            "name": r.stop_name,
            "walk_m": round(float(r.walk_m), 1),
            "walk_min": round(float(r.walk_m) / walking.WALK_M_PER_MIN, 1),
            "walk": "street graph" if r.on_graph else "straight line",
            "departures_per_hour": round(float(r.departures_per_hour), 2),
        }
        for r in at_site.itertuples()
    ]
    frequent = near[
        (near["departures_per_hour"] >= FREQUENT_DEPARTURES_PER_HOUR)
        & (near["walk_m"] <= FREQUENT_STOP_REACH_M)
    ]
    covered = set(frequent["point"]) - {0}
    homes_added = added.geometry.area * added["floors"] * home_share(added["use"])
    residents_added = (homes_added / per_person).to_numpy()
    within = sum(r for n, r in enumerate(residents_added, start=1) if n in covered)
    return {
        "available": True,
        "service_day": ctx.transit_day.isoformat(),
        "window": f"{_hm(window[0])}-{_hm(window[1])}",
        "nearest_stops": stops,
        "frequent_stop": (
            f"≥ {FREQUENT_DEPARTURES_PER_HOUR:g} departures an hour within a {FREQUENT_STOP_REACH_M:g} m walk"
        ),
        "residents_added": round(float(residents_added.sum()), 1),
        "residents_added_near_frequent_stops": round(float(within), 1),
    }


def _walks_to(near: pd.DataFrame, points: np.ndarray[Any, Any], ctx: Context) -> pd.DataFrame:
    """The stops found by straight line, with the walk to each (the street graph's where both ends are
    on it, the straight line × detour elsewhere)."""
    if near.empty:
        return near.assign(walk_m=pd.Series(dtype=float), on_graph=pd.Series(dtype=bool))
    # One walk matrix, points × the stops found (a shortest-path tree per stop, not per pair).
    _ids, first_row, stop_of_row = np.unique(
        near["stop_id"].to_numpy(str), return_index=True, return_inverse=True
    )
    stop_of_row = stop_of_row.ravel()
    stop_xy = near[["x", "y"]].to_numpy(np.float64)[first_row]
    distance, measured = walking.distances(ctx.graph, points, stop_xy, ctx.detour)
    point = near["point"].to_numpy(int)
    return near.assign(walk_m=distance[point, stop_of_row], on_graph=measured[point, stop_of_row])


def _hm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _air(site: Any, ctx: Context) -> dict[str, Any]:
    if ctx.air is None:
        return {"available": False, "reason": ctx.air_missing or "no pilot answers 'air_quality'"}
    if site is None:
        return {"available": False, "reason": "the proposal has no site"}
    result: dict[str, Any] = {"available": True, "period": "last-year", "pollutants": {}}
    for pollutant in ("PM10", "PM2.5"):
        found = ctx.air.at(np.array([site.coords[0]]), pollutant, "last-year")
        estimate = float(found["estimate"].iloc[0])
        sd = float(found["uncertainty"].iloc[0])
        computation = found.attrs.get("computation", {})
        if not np.isfinite(estimate):
            result["pollutants"][pollutant] = {"estimate": None, "reason": computation.get("reason")}
            continue
        low, high = max(estimate - 1.96 * sd, 0.0), estimate + 1.96 * sd
        result["pollutants"][pollutant] = {
            "annual_mean": round(estimate, 2),
            "uncertainty_sd": round(sd, 2),
            "interval_95": [round(low, 2), round(high, 2)],
            "period": computation.get("period"),
            "method": computation.get("method"),
            "limits": [
                {
                    **limit,
                    "status": "below"
                    if high <= limit["value"]
                    else "above"
                    if low > limit["value"]
                    else "uncertain",
                }
                for limit in ctx.air.annual_limits(pollutant)
            ],
        }
    return result


def _green(
    baseline: gpd.GeoDataFrame, scenario: gpd.GeoDataFrame, area: Any, ctx: Context, per_person: float
) -> dict[str, Any]:
    touched = _neighbourhoods_touched(area, ctx)
    added = scenario[scenario["changed"] == "added"]
    built_over = shapely.union_all(added.geometry.values) if len(added) else shapely.Polygon()
    out = []
    for unit in touched.itertuples():
        green = (
            shapely.intersection(shapely.union_all(ctx.green.geometry.values), unit.geometry)
            if len(ctx.green)
            else shapely.Polygon()
        )
        mapped = (
            shapely.area(shapely.intersection(unit.geometry, ctx.mapped)) / unit.geometry.area
            if ctx.mapped is not None
            else 0.0
        )
        residents = {}
        for label, stock in (("before", baseline), ("after", scenario)):
            inside = stock[stock.representative_point().within(unit.geometry)]
            residents[label] = indicators.residential_floor_area(inside) / per_person
        green_after = green.difference(built_over)
        out.append(
            {
                "unit_id": unit.unit_id,
                "name": unit.name,
                "green_mapped_share": round(float(mapped), 3),
                "green_m2_before": round(green.area, 1),
                "green_m2_after": round(green_after.area, 1),
                "green_m2_per_resident_before": round(green.area / residents["before"], 3)
                if residents["before"]
                else None,
                "green_m2_per_resident_after": round(green_after.area / residents["after"], 3)
                if residents["after"]
                else None,
                "note": None
                if mapped >= indicators.GREEN_MAPPED_MIN_SHARE
                else "green is mapped only in the OpenStreetMap window: a lower bound",
            }
        )
    return {"neighbourhoods": out}


def difference(before: pd.DataFrame, after: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """after − before of the numeric columns, per unit (aligned on position)."""
    return pd.DataFrame({c: after[c].to_numpy() - before[c].to_numpy() for c in columns})
