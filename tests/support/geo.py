"""Geometry helpers of the tests: WGS 84 -> UTM 34N, as the twin computes in metres."""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import Transformer

_TO_UTM = Transformer.from_crs(4326, 32634, always_xy=True)


def to_utm(geometry: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geometry, lambda xy: np.column_stack(_TO_UTM.transform(xy[:, 0], xy[:, 1])))


_TO_WGS84 = Transformer.from_crs(32634, 4326, always_xy=True)


def to_wgs84(geometry: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geometry, lambda xy: np.column_stack(_TO_WGS84.transform(xy[:, 0], xy[:, 1])))
