"""Units of analysis the planning layers answer per: zones, neighbourhoods (clipped to the district, and
the rest of it), H3 hexagons at a chosen resolution, or square grid cells; all clipped to the district,
in EPSG:32634."""

from __future__ import annotations

from typing import Any, Literal

import geopandas as gpd
import h3
import shapely

from twin.core.derived.inputs import Inputs
from twin.core.errors import InvalidParameter
from twin.core.grids import parts_with_rest, square_grid

UnitKind = Literal["neighbourhood", "zone", "h3", "grid"]
MAX_UNITS = 50_000


def district_area(inputs: Inputs) -> shapely.Geometry:
    return shapely.union_all(inputs.frame("district").geometry.values)


def units_of(inputs: Inputs, kind: str, h3_resolution: int, cell_m: int) -> gpd.GeoDataFrame:
    """``unit_id``, ``name`` (and ``code`` for zones), polygons clipped to the district."""
    area = district_area(inputs)
    if kind == "neighbourhood":
        return parts_with_rest(area, inputs.frame("neighbourhoods"))
    if kind == "zone":
        zones = inputs.frame("zones")
        # Polygons that went to WGS 84 and back may touch themselves by a millimetre: repaired (buffer 0),
        # cut on a centimetre grid, so the overlay cannot fail on noding.
        shapes = shapely.buffer(zones.geometry.values, 0)
        clipped = zones.assign(geometry=shapely.intersection(shapes, area, grid_size=0.01))
        clipped = clipped[shapely.area(clipped.geometry.values) > 1]
        return gpd.GeoDataFrame(
            {
                "unit_id": clipped["id"].astype(str).to_numpy(),
                "name": clipped["name"].to_numpy(),
                "code": clipped["code"].to_numpy(),
            },
            geometry=clipped.geometry.values,
            crs=32634,
        )
    if kind == "h3":
        return _hexagons(area, h3_resolution)
    if area.area / (cell_m * cell_m) > MAX_UNITS:
        raise InvalidParameter(f"cell_m {cell_m} makes more than {MAX_UNITS:,} cells", parameter="cell_m")
    grid = square_grid(gpd.GeoDataFrame(geometry=[area], crs=32634), cell_m)
    cells = shapely.intersection(grid.geometry.values, area)
    return gpd.GeoDataFrame(
        {"unit_id": (grid["col"].astype(str) + "_" + grid["row"].astype(str)).to_numpy(), "name": None},
        geometry=cells,
        crs=32634,
    )


def _hexagons(area: shapely.Geometry, resolution: int) -> gpd.GeoDataFrame:
    """The H3 cells whose centre lies in the district (H3's own rule), clipped to it."""
    wgs84 = gpd.GeoSeries([area], crs=32634).to_crs(4326).iloc[0]
    polygons = list(wgs84.geoms) if wgs84.geom_type == "MultiPolygon" else [wgs84]
    cells: set[str] = set()
    for polygon in polygons:
        shape = h3.LatLngPoly(
            [(y, x) for x, y in polygon.exterior.coords],
            *[[(y, x) for x, y in r.coords] for r in polygon.interiors],
        )
        cells.update(h3.polygon_to_cells(shape, resolution))
    if len(cells) > MAX_UNITS:
        raise InvalidParameter(
            f"h3_resolution {resolution} makes {len(cells):,} hexagons; at most {MAX_UNITS:,}",
            parameter="h3_resolution",
        )
    ordered = sorted(cells)
    hexagons = [shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in ordered]
    frame = gpd.GeoDataFrame({"unit_id": ordered, "name": None}, geometry=hexagons, crs=4326).to_crs(32634)
    frame["geometry"] = shapely.intersection(frame.geometry.values, area)
    return frame[shapely.area(frame.geometry.values) > 1].reset_index(drop=True)


def as_multipolygons(geometries: Any) -> Any:
    """Every polygonal geometry as a MultiPolygon (the declared type of the layers), in one pass."""
    parts, index = shapely.get_parts(geometries, return_index=True)
    polygons = parts[shapely.get_type_id(parts) == 3]
    index = index[shapely.get_type_id(parts) == 3]
    return shapely.multipolygons(polygons, indices=index)
