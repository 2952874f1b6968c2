"""What-if proposals: their changes checked (every problem named by change and field), applied to the
baseline stock (never written over it), and the report of what they do. Pure over frames; the answers
of the other pilots come in as arguments (None when no pilot answers).

A change is one of:

- ``{"type": "add", "footprint": <GeoJSON Polygon>, "floors": n | "height_m": h, "use": "residential"
  | "mixed" | "non-residential", "name"?: "..."}`` — a new building (WGS 84 unless ``"crs"`` names
  another);
- ``{"type": "demolish", "building": <id>}``;
- ``{"type": "height", "building": <id>, "floors": n | "height_m": h}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from shapely.geometry import shape

from twin.core.errors import InvalidParameter
from twin.planning.importers.footprints import MAX_VERTICES, crs_of
from twin.planning.uses import MAX_FLOORS, RESIDENTIAL_SHARE, floors_and_height

MAX_CHANGES = 200
CHANGE_FIELDS = {
    "add": {"type", "footprint", "floors", "height_m", "use", "name", "crs"},
    "demolish": {"type", "building"},
    "height": {"type", "building", "floors", "height_m"},
}
USES = tuple(RESIDENTIAL_SHARE)


@dataclass(frozen=True)
class Problem:
    change: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"change": self.change, "field": self.field, "message": self.message}


def check_changes(
    changes: Any, baseline_ids: set[int], district_wgs84: Any, max_vertices: int = MAX_VERTICES
) -> list[dict[str, Any]]:
    """The changes, normalised (footprints as WGS 84 GeoJSON, floors and height both set); or a 400
    naming every problem by change and field."""
    if not isinstance(changes, list) or not 1 <= len(changes) <= MAX_CHANGES:
        raise InvalidParameter(f"changes must be a list of 1 to {MAX_CHANGES} changes", parameter="changes")
    problems: list[Problem] = []
    normal: list[dict[str, Any]] = []
    touched: dict[int, int] = {}
    shapely.prepare(district_wgs84)
    for index, change in enumerate(changes):
        found = _check(index, change, baseline_ids, district_wgs84, problems, touched, max_vertices)
        if found is not None:
            normal.append(found)
    if problems:
        first = problems[0]
        raise InvalidParameter(
            f"{len(problems)} problem(s) in the changes, nothing was stored; the first: change "
            f"{first.change}, {first.field}: {first.message}",
            parameter="changes",
            errors=[p.as_dict() for p in problems[:200]],
        )
    return normal


def _check(
    index: int,
    change: Any,
    baseline_ids: set[int],
    district: Any,
    problems: list[Problem],
    touched: dict[int, int],
    max_vertices: int,
) -> dict[str, Any] | None:
    def fail(field: str, message: str) -> None:
        problems.append(Problem(index, field, message))

    if not isinstance(change, dict):
        fail("change", "a change must be a JSON object")
        return None
    kind = change.get("type")
    if kind not in CHANGE_FIELDS:
        fail("type", f"one of {', '.join(CHANGE_FIELDS)}, got {kind!r}")
        return None
    for name in sorted(set(change) - CHANGE_FIELDS[kind]):
        fail(name, f"unknown field for a {kind} change (fields: {', '.join(sorted(CHANGE_FIELDS[kind]))})")
    result: dict[str, Any] = {"type": kind}
    if kind in ("demolish", "height"):
        building = change.get("building")
        if isinstance(building, bool) or not isinstance(building, int) or building not in baseline_ids:
            fail("building", f"no building {building!r} in the baseline (see /collections/buildings)")
        elif building in touched:
            fail("building", f"building {building} is changed twice (change {touched[building]} too)")
        else:
            touched[building] = index
            result["building"] = building
    if kind in ("add", "height"):
        floors, height = change.get("floors"), change.get("height_m")
        for name, value, high in (("floors", floors, MAX_FLOORS), ("height_m", height, 700)):
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or not 0 < value <= high
            ):
                fail(name, f"must be a number more than 0 and at most {high}")
        if floors is None and height is None:
            fail("floors", "give floors or height_m")
        if floors is not None and isinstance(floors, float) and not floors.is_integer():
            fail("floors", "floors are whole")
        if not any(p.change == index for p in problems):
            count, metres, source = floors_and_height(
                None if floors is None else float(floors), None if height is None else float(height), None
            )
            if count > MAX_FLOORS:
                fail("height_m", f"{metres:g} m makes {count} floors; at most {MAX_FLOORS}")
            result.update(floors=count, height_m=round(metres, 2), height_from=source)
    if kind == "add":
        use = change.get("use", "residential")
        if use not in USES:
            fail("use", f"one of {', '.join(USES)}")
        result["use"] = use
        name = change.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 200):
            fail("name", "a text of at most 200 characters")
        result["name"] = name
        footprint = _footprint(change.get("footprint"), change.get("crs"), district, fail, max_vertices)
        if footprint is not None:
            result["footprint"] = shapely.geometry.mapping(footprint)
    return None if any(p.change == index for p in problems) else result


def _footprint(value: Any, crs: Any, district: Any, fail: Any, max_vertices: int) -> Any:
    if not isinstance(value, dict):
        fail("footprint", "a GeoJSON Polygon is required")
        return None
    try:
        geometry = shape(value)
    except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.GEOSException) as exc:
        fail("footprint", f"not a GeoJSON geometry: {exc}")
        return None
    if geometry.geom_type != "Polygon":
        fail("footprint", f"a footprint is a Polygon, got {geometry.geom_type}")
        return None
    if shapely.get_num_coordinates(geometry) > max_vertices:
        fail(
            "footprint",
            f"{shapely.get_num_coordinates(geometry):,} vertices; at most {max_vertices:,} "
            "(TWIN_GEOMETRY_MAX_VERTICES)",
        )
        return None
    if crs is not None:
        try:
            to_wgs84 = Transformer.from_crs(crs_of(crs, "footprint"), 4326, always_xy=True)
        except Exception as exc:  # any CRS problem is the field's
            fail("crs", f"not a CRS the twin knows: {getattr(exc, 'detail', exc)}")
            return None
        geometry = shapely.transform(
            geometry, lambda c: np.column_stack(to_wgs84.transform(c[:, 0], c[:, 1]))
        )
    lon, lat = shapely.get_coordinates(geometry).T
    if not (np.abs(lon) <= 180).all() or not (np.abs(lat) <= 90).all():
        fail("footprint", "coordinates are not longitude, latitude: give `crs` for projected coordinates")
        return None
    if not geometry.is_valid:
        fail("footprint", f"invalid footprint: {shapely.is_valid_reason(geometry)}")
        return None
    if not district.contains(geometry):
        fail("footprint", "the footprint is not wholly inside Lozenets")
        return None
    area = gpd.GeoSeries([geometry], crs=4326).to_crs(32634).area.iloc[0]
    if area < 4:
        fail("footprint", f"a footprint of {area:.1f} m² is not a building")
        return None
    return geometry


def apply_changes(baseline: gpd.GeoDataFrame, changes: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    """The scenario's stock (EPSG:32634): the baseline less demolitions, heights changed, buildings added
    (``id`` negative for new ones, ``changed`` says which)."""
    stock = baseline.copy()
    stock["changed"] = "unchanged"
    by_id = pd.Index(stock["id"])
    for change in changes:
        if change["type"] == "demolish":
            stock.loc[by_id.get_loc(change["building"]), "changed"] = "demolished"
        elif change["type"] == "height":
            row = by_id.get_loc(change["building"])
            stock.loc[row, ["floors", "height_m", "height_from", "changed"]] = [
                change["floors"],
                change["height_m"],
                change["height_from"],
                "height",
            ]
    stock = stock[stock["changed"] != "demolished"]
    added = [c for c in changes if c["type"] == "add"]
    if added:
        new = gpd.GeoDataFrame(
            {
                "id": -np.arange(1, len(added) + 1),
                "source_ref": [f"proposal:{n}" for n in range(1, len(added) + 1)],
                "name": [c.get("name") for c in added],
                "use": [c["use"] for c in added],
                "floors": [c["floors"] for c in added],
                "height_m": [c["height_m"] for c in added],
                "height_from": [c["height_from"] for c in added],
                "synthetic": False,
                "origin": "proposal",
                "changed": "added",
            },
            geometry=[shape(c["footprint"]) for c in added],
            crs=4326,
        ).to_crs(32634)
        new["footprint_m2"] = new.geometry.area.round(2)
        stock = pd.concat([stock, new], ignore_index=True)
    return gpd.GeoDataFrame(stock, geometry="geometry", crs=32634).reset_index(drop=True)


def changed_area(baseline: gpd.GeoDataFrame, changes: list[dict[str, Any]]) -> Any:
    """Every footprint a change touches (EPSG:32634): added, demolished, made taller or lower."""
    ids = {c["building"] for c in changes if "building" in c}
    shapes = list(baseline[baseline["id"].isin(ids)].geometry.values)
    added = [shape(c["footprint"]) for c in changes if c["type"] == "add"]
    if added:
        shapes += list(gpd.GeoSeries(added, crs=4326).to_crs(32634).values)
    return shapely.union_all(shapes)
