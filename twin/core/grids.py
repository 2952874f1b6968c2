"""Square analysis grids aligned to multiples of the cell size in a metric CRS: the common frame of
the accessibility and exposure layers of every pilot (PTAL, air quality, planning indicators)."""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely


def square_grid(boundary: gpd.GeoDataFrame, cell_size: float) -> gpd.GeoDataFrame:
    """Square cells covering a boundary, aligned to multiples of the cell size.

    Parameters
    ----------
    boundary : GeoDataFrame
        Polygons in a projected CRS with metre units (e.g. EPSG:32634); they are dissolved first.
    cell_size : float
        Side of a cell, metres.

    Returns
    -------
    GeoDataFrame
        One row per cell that overlaps the boundary, with ``row`` and ``col`` (cell indexes from
        the aligned origin), ``area_inside_m2`` (m²) and ``share_inside`` (0–1); geometry is the
        whole square, in the boundary's CRS.

    Examples
    --------
    >>> square = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 250, 100)], crs=32634)
    >>> grid = square_grid(square, 100)
    >>> len(grid), round(grid.area_inside_m2.sum())
    (3, 25000)
    """
    area, col_idx, row_idx = _aligned_cells(boundary, cell_size, "square_grid")
    cells = shapely.box(
        col_idx * cell_size, row_idx * cell_size, (col_idx + 1) * cell_size, (row_idx + 1) * cell_size
    )
    shapely.prepare(area)
    touching = shapely.intersects(area, cells)
    cells, col_idx, row_idx = cells[touching], col_idx[touching], row_idx[touching]
    inside = area_inside(area, cells, cell_size * cell_size)
    keep = inside > 0
    return gpd.GeoDataFrame(
        {
            "row": row_idx[keep].astype("int64"),
            "col": col_idx[keep].astype("int64"),
            "area_inside_m2": inside[keep],
            "share_inside": inside[keep] / (cell_size * cell_size),
        },
        geometry=cells[keep],
        crs=boundary.crs,
    )


def area_inside(
    area: shapely.Geometry, cells: np.ndarray[Any, Any], cell_area: float
) -> np.ndarray[Any, Any]:
    """The area of each cell inside `area`: whole for the cells it contains (a prepared predicate), an
    intersection only for the cells its boundary crosses (those are few: the cost of a fine grid over a
    detailed boundary is its boundary, not its interior)."""
    shapely.prepare(area)
    whole = shapely.contains(area, cells)
    inside = np.where(whole, cell_area, 0.0)
    edge = ~whole & shapely.intersects(area, cells)
    if edge.any():
        inside[edge] = shapely.area(shapely.intersection(cells[edge], area))
    return inside


def _aligned_cells(
    boundary: gpd.GeoDataFrame, cell_size: float, caller: str
) -> tuple[shapely.Geometry, np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The dissolved boundary and the (column, row) indexes of every cell of the grid aligned to
    multiples of `cell_size` that its bounds span, row by row."""
    if boundary.crs is None or not boundary.crs.is_projected:
        raise ValueError(f"{caller} needs a projected CRS in metres: use boundary.to_crs(32634) first")
    if not cell_size > 0:
        raise ValueError(f"cell_size must be positive, got {cell_size}")
    area = shapely.union_all(boundary.geometry.values)
    minx, miny, maxx, maxy = area.bounds
    cols = np.arange(math.floor(minx / cell_size), math.ceil(maxx / cell_size))
    rows = np.arange(math.floor(miny / cell_size), math.ceil(maxy / cell_size))
    col_idx, row_idx = (a.ravel() for a in np.meshgrid(cols, rows))
    return area, col_idx, row_idx


def centre_grid(boundary: gpd.GeoDataFrame, cell_size: float) -> gpd.GeoDataFrame:
    """Square cells whose centre lies inside (or on the edge of) a boundary, aligned as in
    :func:`square_grid`: the points of interest of point-based indices such as PTAL, where a cell is
    rated by its centre, so a centre outside the district would rate a place outside it.

    Parameters
    ----------
    boundary : GeoDataFrame
        Polygons in a projected CRS with metre units; they are dissolved first.
    cell_size : float
        Side of a cell, metres.

    Returns
    -------
    GeoDataFrame
        One row per cell, ordered by row then column: ``row``, ``col``, ``x`` and ``y`` (the centre, in
        the boundary's CRS); geometry the whole square.

    Examples
    --------
    >>> square = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 240, 100)], crs=32634)
    >>> centre_grid(square, 100)["x"].tolist()
    [50.0, 150.0]
    """
    area, col_idx, row_idx = _aligned_cells(boundary, cell_size, "centre_grid")
    x, y = (col_idx + 0.5) * cell_size, (row_idx + 0.5) * cell_size
    shapely.prepare(area)
    inside = shapely.intersects_xy(area, x, y)
    col_idx, row_idx, x, y = col_idx[inside], row_idx[inside], x[inside], y[inside]
    return gpd.GeoDataFrame(
        {"row": row_idx.astype("int64"), "col": col_idx.astype("int64"), "x": x, "y": y},
        geometry=shapely.box(x - cell_size / 2, y - cell_size / 2, x + cell_size / 2, y + cell_size / 2),
        crs=boundary.crs,
    )


REST_OF_DISTRICT = "rest of the district"
MIN_UNIT_M2 = 1.0


def parts_with_rest(
    boundary: Any, parts: gpd.GeoDataFrame, id_column: str = "id", name_column: str = "name"
) -> gpd.GeoDataFrame:
    """Units of analysis that tile a boundary: each part clipped to it (``unit_id``, ``name``), and what
    no part covers as one more unit, ``rest`` / "rest of the district" (the seven neighbourhoods overhang
    Lozenets and leave about a fifth of it uncovered). Slivers under 1 m² are dropped.

    Examples
    --------
    >>> square = shapely.box(0, 0, 100, 100)
    >>> west = shapely.box(-50, 0, 60, 100)
    >>> part = gpd.GeoDataFrame({"id": [7], "name": ["west"]}, geometry=[west], crs=32634)
    >>> units = parts_with_rest(square, part)
    >>> list(units["unit_id"]), [round(a) for a in units.area]
    (['7', 'rest'], [6000, 4000])
    """
    clipped = shapely.intersection(parts.geometry.values, boundary)
    frame = gpd.GeoDataFrame(
        {"unit_id": parts[id_column].astype(str).to_numpy(), "name": parts[name_column].to_numpy()},
        geometry=clipped,
        crs=parts.crs,
    )
    rest = shapely.difference(boundary, shapely.union_all(clipped))
    if shapely.area(rest) > MIN_UNIT_M2:
        frame = pd.concat(
            [
                frame,
                gpd.GeoDataFrame(
                    {"unit_id": ["rest"], "name": [REST_OF_DISTRICT]}, geometry=[rest], crs=parts.crs
                ),
            ],
            ignore_index=True,
        )
    return frame[shapely.area(frame.geometry.values) > MIN_UNIT_M2].reset_index(drop=True)
