"""The analysis grids: a cell's area inside a boundary is its intersection's, whether whole or cut."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from twin.core.grids import area_inside


def test_area_inside_is_the_intersection_area() -> None:
    rng = np.random.default_rng(4)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 40))
    radius = rng.uniform(600, 1000, 40)
    boundary = shapely.Polygon(np.column_stack([radius * np.cos(angles), radius * np.sin(angles)])).buffer(0)
    xs, ys = np.meshgrid(np.arange(-1100, 1100, 50), np.arange(-1100, 1100, 50))
    cells = shapely.box(xs.ravel(), ys.ravel(), xs.ravel() + 50, ys.ravel() + 50)
    expected = shapely.area(shapely.intersection(cells, boundary))
    got = area_inside(boundary, cells, 2500.0)
    assert got == pytest.approx(expected, abs=1e-6)
    assert (got == 2500.0).sum() > 500  # most cells are whole, taken without an intersection
    assert ((got > 0) & (got < 2500.0)).sum() > 50  # the cut ones along the boundary
