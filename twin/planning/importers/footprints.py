"""Building footprints from any reader, checked and normalised the same way.

Every reader yields :class:`RawBuilding` records in a CRS it names; :func:`normalise` projects them to
WGS 84, checks each one and either refuses the whole file, naming each feature and what is wrong with
it (an invalid or self-intersecting ring, with where; too many vertices; floors ≤ 0 or above 200; a
height ≤ 0 or above 700 m; coordinates that do not fall in Sofia for the CRS given, i.e. a wrong CRS),
or returns the buildings as rows for the ``building`` table. Footprints wholly outside Lozenets are left
out and counted (a file may cover more than the district); a file with none inside is refused.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from twin.core.errors import SourceError
from twin.planning.uses import MAX_FLOORS, floors_and_height, use_of

MAX_VERTICES = 5_000
"""The default of TWIN_GEOMETRY_MAX_VERTICES."""
"""Vertices of one footprint, at most (the largest real footprint in the window has 151)."""
MAX_BUILDINGS = 500_000
SOFIA_BOX = (22.9, 42.4, 23.8, 42.95)
"""Longitude and latitude bounds every imported footprint must fall in (Sofia and around it)."""
MAX_ERRORS = 200


@dataclass
class RawBuilding:
    ref: str
    """The source's own id (osm:way/123, citygml:<gml:id>, …): what a later import of the same source
    replaces."""
    geometry: Any
    """A shapely Polygon or MultiPolygon in the reader's CRS."""
    name: str | None = None
    tag: str | None = None
    """OSM building=*, CityGML function or a use attribute."""
    floors: float | None = None
    height_m: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Problem:
    feature: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"feature": self.feature, "message": self.message}


class FootprintError(SourceError):
    """A file whose footprints cannot be imported, every problem named."""

    def __init__(self, name: str, problems: list[Problem]) -> None:
        first = problems[0]
        super().__init__(
            f"{name}: {len(problems)} problem(s), nothing imported; the first: {first.feature}: "
            f"{first.message}",
            problems=[p.as_dict() for p in problems[:MAX_ERRORS]],
        )


def crs_of(text: str | int | None, name: str) -> CRS:
    """A CRS from what a file says (an EPSG code, a URN, an OGC URL); refused when missing or unknown."""
    if text is None or text == "":
        raise SourceError(f"{name}: the file names no coordinate reference system (CRS)")
    value = str(text).strip()
    for prefix in ("http://www.opengis.net/def/crs/EPSG/0/", "https://www.opengis.net/def/crs/EPSG/0/"):
        if value.startswith(prefix):
            value = "EPSG:" + value.removeprefix(prefix)
    if value.lower().startswith("urn:ogc:def:crs:epsg:"):
        value = "EPSG:" + value.split(":")[-1]
    if value.endswith("/OGC/1.3/CRS84") or value.upper() in ("CRS84", "OGC:CRS84"):
        value = "OGC:CRS84"
    try:
        return CRS.from_user_input(value)
    except CRSError as exc:
        raise SourceError(f"{name}: unknown coordinate reference system {text!r}") from exc


def normalise(
    raw: Iterable[RawBuilding],
    crs: CRS,
    name: str,
    district: Any,
    origin: str,
    max_vertices: int = MAX_VERTICES,
) -> tuple[gpd.GeoDataFrame, int]:
    """Check and normalise; (rows in WGS 84 ready for the building table, footprints left out as
    outside the district). `district` is the district polygon in EPSG:4326."""
    to_wgs84 = Transformer.from_crs(crs, 4326, always_xy=True)
    problems: list[Problem] = []
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for count, building in enumerate(raw, start=1):
        if count > MAX_BUILDINGS:
            raise SourceError(f"{name}: more than {MAX_BUILDINGS:,} buildings in one file")
        found = _check(building, to_wgs84, problems, seen, max_vertices)
        if found is not None:
            rows.append(found)
    if problems:
        raise FootprintError(name, problems)
    if not rows:
        raise SourceError(f"{name}: the file holds no building footprint")
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)
    shapely.prepare(district)
    inside = shapely.intersects(district, frame.geometry.values)
    outside = int((~inside).sum())
    frame = frame[inside].reset_index(drop=True)
    if frame.empty:
        raise SourceError(f"{name}: none of its {outside} footprints lies in Lozenets")
    metric = frame.to_crs(32634)
    frame["footprint_m2"] = metric.geometry.area.round(2).to_numpy()
    frame["origin"] = origin
    frame["synthetic"] = False
    return frame, outside


def _check(
    building: RawBuilding, to_wgs84: Transformer, problems: list[Problem], seen: set[str], max_vertices: int
) -> dict[str, Any] | None:
    where = building.ref

    def fail(message: str) -> None:
        problems.append(Problem(where, message))

    if building.ref in seen:
        fail("appears twice in the file")
        return None
    seen.add(building.ref)
    geometry = building.geometry
    if geometry is None or geometry.is_empty or geometry.geom_type not in ("Polygon", "MultiPolygon"):
        fail(f"a footprint must be a polygon, got {getattr(geometry, 'geom_type', 'nothing')}")
        return None
    vertices = shapely.get_num_coordinates(geometry)
    if vertices > max_vertices:
        fail(f"{vertices:,} vertices; at most {max_vertices:,} (TWIN_GEOMETRY_MAX_VERTICES)")
        return None
    coords = shapely.get_coordinates(geometry)
    lon, lat = to_wgs84.transform(coords[:, 0], coords[:, 1])
    lon, lat = np.asarray(lon), np.asarray(lat)
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        fail("coordinates that cannot be projected: is the file's CRS right?")
        return None
    if (
        lon.min() < SOFIA_BOX[0]
        or lon.max() > SOFIA_BOX[2]
        or lat.min() < SOFIA_BOX[1]
        or lat.max() > SOFIA_BOX[3]
    ):
        fail(f"lies at lon {lon.mean():.4f}, lat {lat.mean():.4f}, not in Sofia: is the file's CRS right?")
        return None
    wgs84 = shapely.set_coordinates(shapely.force_2d(geometry), np.column_stack([lon, lat]))
    if not wgs84.is_valid:
        fail(f"invalid footprint: {shapely.is_valid_reason(wgs84)}")
        return None
    if wgs84.area <= 0:
        fail("the footprint has no area")
        return None
    for what, value in (("floors", building.floors), ("height", building.height_m)):
        if value is not None and not math.isfinite(value):
            fail(f"{what} is given but is not a number")
            return None
    if building.floors is not None and not 0 < building.floors <= MAX_FLOORS:
        fail(f"floors {building.floors:g}: must be 1 to {MAX_FLOORS}")
        return None
    if building.height_m is not None and not 0 < building.height_m <= 700:
        fail(f"height {building.height_m:g} m: must be more than 0 and at most 700 m")
        return None
    floors, height, height_from = floors_and_height(building.floors, building.height_m, building.tag)
    if floors > MAX_FLOORS:
        fail(f"a height of {height:g} m makes {floors} floors; at most {MAX_FLOORS}")
        return None
    return {
        "source_ref": building.ref,
        "name": building.name,
        "use": use_of(building.tag),
        "building_tag": building.tag,
        "floors": floors,
        "height_m": round(height, 2),
        "height_from": height_from,
        "geometry": shapely.MultiPolygon([wgs84]) if wgs84.geom_type == "Polygon" else wgs84,
    }
