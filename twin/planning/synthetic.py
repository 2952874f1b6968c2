"""The default building stock and zones where no real ones are loaded: seeded, deterministic, synthetic,
and said to be so in every row and every layer.

Buildings: each of the seven neighbourhoods (clipped to the district) is cut into street blocks by a grid
of streets (STREET_M wide) at an angle of its own; every block is filled with the typology of the
neighbourhood — tall residential slabs in жк. Лозенец and жк. Градина, villas and small blocks in кв.
Витоша and кв. Хладилника, small blocks in жилищна група Зоопарк, industrial halls in Промишлена зона
Хладилника, a few pavilions in Зоопарк. A building is kept only when it lies wholly inside its
neighbourhood, outside every street (the grid's, and the real streets where they are loaded, with a
margin) and clear of every real footprint and of the areas real imports cover. The same inputs and seed
give the same stock, to the centimetre.

Zones: one synthetic zone per neighbourhood, by its character (ZONE_OF), and Смф for the rest of the
district, until real zoning polygons are imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

STREET_M = 14.0
"""Width of the synthetic grid's streets; real streets are kept clear by STREET_CLEARANCE_M."""
STREET_CLEARANCE_M = 8.0
FOOTPRINT_CLEARANCE_M = 4.0
DEFAULT_SEED = 20261205


@dataclass(frozen=True)
class Typology:
    name: str
    block_m: float
    """Side of a street block (before the street is taken off)."""
    size_m: tuple[float, float, float, float]
    """Width min, max; depth min, max of a building."""
    spacing_m: tuple[float, float]
    """Distance between building centres across and along a block."""
    floors: tuple[int, int]
    use: tuple[tuple[str, float], ...]
    """(use, probability)."""
    keep: float = 1.0
    """Share of the candidate plots built on."""


TYPOLOGIES = {
    "blocks": Typology(
        "tall residential blocks",
        160.0,
        (12, 14, 36, 60),
        (46, 78),
        (8, 16),
        (("residential", 0.9), ("mixed", 0.1)),
    ),
    "villas": Typology(
        "villas and small blocks",
        90.0,
        (9, 16, 10, 20),
        (26, 28),
        (2, 5),
        (("residential", 0.92), ("mixed", 0.08)),
        0.8,
    ),
    "small_blocks": Typology(
        "small residential blocks",
        110.0,
        (12, 18, 16, 30),
        (34, 40),
        (4, 8),
        (("residential", 0.85), ("mixed", 0.15)),
    ),
    "halls": Typology(
        "industrial halls", 150.0, (24, 40, 40, 80), (55, 95), (1, 2), (("non-residential", 1.0),), 0.85
    ),
    "pavilions": Typology(
        "park pavilions", 200.0, (8, 14, 8, 14), (120, 120), (1, 2), (("non-residential", 1.0),), 0.25
    ),
}
TYPOLOGY_OF = {
    "жк. Лозенец": "blocks",
    "жк. Градина": "blocks",
    "кв. Витоша": "villas",
    "кв. Хладилника": "villas",
    "жилищна група Зоопарк": "small_blocks",
    "Промишлена Зона Хладилника": "halls",
    "Зоопарк": "pavilions",
}
ZONE_OF = {
    "жк. Лозенец": "Жг",
    "жк. Градина": "Жг",
    "кв. Витоша": "Жм",
    "кв. Хладилника": "Жс",
    "жилищна група Зоопарк": "Жс",
    "Промишлена Зона Хладилника": "Тп",
    "Зоопарк": "Тгс",
}
REST_ZONE = "Смф"


def generate_stock(
    neighbourhoods: gpd.GeoDataFrame,
    keep_clear: Any,
    streets: gpd.GeoDataFrame | None = None,
    seed: int = DEFAULT_SEED,
) -> gpd.GeoDataFrame:
    """The synthetic stock of every neighbourhood (``name``, polygons in EPSG:32634, clipped to the
    district), clear of `keep_clear` (a geometry: real footprints and covered areas) and of `streets`.

    Returns ``source_ref``, ``neighbourhood``, ``typology``, ``use``, ``floors``, ``height_m``,
    ``footprint_m2`` and the footprint, in EPSG:32634."""
    if neighbourhoods.crs is None or neighbourhoods.crs.to_epsg() != 32634:
        raise ValueError("neighbourhoods must be in EPSG:32634")
    blocked = (
        [keep_clear.buffer(FOOTPRINT_CLEARANCE_M)]
        if keep_clear is not None and not keep_clear.is_empty
        else []
    )
    if streets is not None and len(streets):
        blocked.append(shapely.union_all(streets.geometry.buffer(STREET_CLEARANCE_M).values))
    obstacle = shapely.union_all(blocked) if blocked else shapely.Polygon()
    frames = []
    for index, (name, area) in enumerate(zip(neighbourhoods["name"], neighbourhoods.geometry, strict=True)):
        typology = TYPOLOGIES[TYPOLOGY_OF.get(str(name), "small_blocks")]
        rng = np.random.default_rng([seed, index])
        frames.append(_fill(area.difference(obstacle), typology, rng, str(name)))
    stock = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if stock.empty:
        return gpd.GeoDataFrame(columns=["source_ref", "neighbourhood"], geometry=[], crs=32634)
    stock["source_ref"] = [f"synthetic:{seed}:{n}" for n in range(len(stock))]
    return gpd.GeoDataFrame(stock, geometry="geometry", crs=32634)


def _fill(area: Any, typology: Typology, rng: np.random.Generator, neighbourhood: str) -> pd.DataFrame:
    """Buildings of one typology over an area: street blocks on a rotated grid, plots on a grid in each
    block, a rectangle of random size on each plot; kept when wholly inside the area and its block."""
    if area.is_empty:
        return pd.DataFrame()
    angle = float(rng.uniform(0, 90))
    centre = area.centroid
    rotated = shapely.affinity.rotate(area, -angle, origin=centre)
    minx, miny, maxx, maxy = rotated.bounds
    across, along = typology.spacing_m
    xs = np.arange(minx + across / 2, maxx, across)
    ys = np.arange(miny + along / 2, maxy, along)
    px, py = (a.ravel() for a in np.meshgrid(xs, ys))
    n = len(px)
    if n == 0:
        return pd.DataFrame()
    w = rng.uniform(typology.size_m[0], typology.size_m[1], n)
    d = rng.uniform(typology.size_m[2], typology.size_m[3], n)
    # The street grid: a plot whose building would reach into a street is dropped.
    block = typology.block_m
    local_x = np.mod(px - minx, block)
    local_y = np.mod(py - miny, block)
    half = STREET_M / 2
    clear = (
        (local_x - w / 2 > half)
        & (local_x + w / 2 < block - half)
        & (local_y - d / 2 > half)
        & (local_y + d / 2 < block - half)
    )
    chosen = clear & (rng.uniform(size=n) < typology.keep)
    boxes = shapely.box(px - w / 2, py - d / 2, px + w / 2, py + d / 2)[chosen]
    if len(boxes) == 0:
        return pd.DataFrame()
    shapely.prepare(rotated)
    inside = shapely.contains(rotated, boxes)
    boxes = boxes[inside]
    count = len(boxes)
    if count == 0:
        return pd.DataFrame()
    placed = _rotate(boxes, angle, (centre.x, centre.y))
    uses, weights = zip(*typology.use, strict=True)
    floors = rng.integers(typology.floors[0], typology.floors[1] + 1, count)
    return pd.DataFrame(
        {
            "neighbourhood": neighbourhood,
            "typology": typology.name,
            "use": rng.choice(np.array(uses), size=count, p=np.array(weights) / sum(weights)),
            "floors": floors,
            "height_m": floors * 3.0,
            "footprint_m2": np.round(shapely.area(placed).astype(np.float64), 2),
            "geometry": placed,
        }
    )


def _rotate(
    geometries: np.ndarray[Any, Any], degrees: float, origin: tuple[float, float]
) -> np.ndarray[Any, Any]:
    """Every geometry rotated counter-clockwise about `origin`, in one pass over their coordinates."""
    theta = np.radians(degrees)
    cos, sin = np.cos(theta), np.sin(theta)
    ox, oy = origin

    def turn(coords: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        x, y = coords[:, 0] - ox, coords[:, 1] - oy
        return np.column_stack([ox + cos * x - sin * y, oy + sin * x + cos * y])

    return np.asarray(shapely.transform(geometries, turn))


def generate_zones(neighbourhoods: gpd.GeoDataFrame, district: Any) -> gpd.GeoDataFrame:
    """One synthetic zone per neighbourhood (clipped to the district), by ZONE_OF, and Смф for the part
    of the district no neighbourhood covers."""
    clipped = shapely.intersection(neighbourhoods.geometry.values, district)
    frame = gpd.GeoDataFrame(
        {
            "code": [ZONE_OF.get(str(n), "Смф") for n in neighbourhoods["name"]],
            "name": [
                f"{n} (synthetic zone by the neighbourhood's character)" for n in neighbourhoods["name"]
            ],
        },
        geometry=clipped,
        crs=neighbourhoods.crs,
    )
    rest = shapely.difference(district, shapely.union_all(clipped))
    if rest.area > 1:
        frame = pd.concat(
            [
                frame,
                gpd.GeoDataFrame(
                    {"code": [REST_ZONE], "name": ["the rest of the district (synthetic zone)"]},
                    geometry=[rest],
                    crs=neighbourhoods.crs,
                ),
            ],
            ignore_index=True,
        )
    return frame[shapely.area(frame.geometry.values) > 1].reset_index(drop=True)
