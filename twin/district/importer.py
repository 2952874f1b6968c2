"""Lozenets itself: the official district polygon (Sofiaplan, obns_num "09") and the neighbourhoods whose
representative point lies inside it, with their names and the district's population estimate."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import pyogrio
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection

from twin.core.catalog.specs import LayerSpec
from twin.core.errors import SourceError
from twin.core.imports.loader import Loader
from twin.district import store as boundaries

LOZENETS_CODE = "09"

DISTRICT_LAYER = LayerSpec(
    id="district",
    title="Lozenets district",
    description="The official boundary of Lozenets (район Лозенец), one of Sofia's 24 administrative "
    "districts, with the municipality's population estimate.",
    geometry_type="MultiPolygon",
    table_name="district",
    source_ids=("sofiaplan-regions", "sofiaplan-regions-population"),
)
NEIGHBOURHOOD_LAYER = LayerSpec(
    id="neighbourhoods",
    title="Neighbourhoods of Lozenets",
    description="Sofia's neighbourhood polygons (квартали, жилищни комплекси) whose representative "
    "point lies inside the Lozenets district, with their official names.",
    geometry_type="MultiPolygon",
    table_name="neighbourhood",
    source_ids=("sofiaplan-kvartali", "sofiaplan-kvartali-names"),
)


def read_polygons(path: Path, source_id: str) -> gpd.GeoDataFrame:
    """A polygon GeoJSON file as a GeoDataFrame in EPSG:4326; unreadable or other CRS -> SourceError."""
    try:
        frame = gpd.read_file(path, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError) as exc:
        raise SourceError(f"{source_id}: {path.name} is not readable GeoJSON: {exc}") from exc
    if frame.crs is None or frame.crs.to_epsg() != 4326:
        raise SourceError(f"{source_id}: {path.name} must be in EPSG:4326, found {frame.crs}")
    if frame.geometry.isna().any():
        rows = frame.index[frame.geometry.isna()].tolist()[:5]
        raise SourceError(f"{source_id}: {path.name} has features without geometry (rows {rows})")
    return frame


def as_valid_multipolygon(geom: BaseGeometry, what: str) -> BaseGeometry:
    """A valid MultiPolygon: invalid rings are repaired, non-polygonal debris dropped."""
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    polygons = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type in ("Polygon", "MultiPolygon")]
    if not polygons:
        raise SourceError(f"{what} has no polygonal area")
    merged = shapely.union_all(polygons)
    return merged if merged.geom_type == "MultiPolygon" else shapely.MultiPolygon([merged])


def pick_district(regions: gpd.GeoDataFrame, code: str) -> gpd.GeoSeries:
    if "obns_num" not in regions.columns:
        raise SourceError("sofiaplan-regions: the file has no obns_num property")
    match = regions[regions["obns_num"] == code]
    if len(match) != 1:
        raise SourceError(
            f"sofiaplan-regions: expected one district with obns_num {code!r}, found {len(match)}"
        )
    return match.iloc[0]


def neighbourhoods_within(
    district: BaseGeometry, kvartali: gpd.GeoDataFrame, names: Mapping[int, str]
) -> gpd.GeoDataFrame:
    """Neighbourhoods whose representative point lies inside the district, named; index kept."""
    if "id" not in kvartali.columns:
        raise SourceError("sofiaplan-kvartali: the file has no id property")
    inside = kvartali[kvartali.representative_point().within(district)].copy()
    missing = [int(i) for i in inside["id"] if int(i) not in names]
    if missing:
        raise SourceError(f"sofiaplan-kvartali-names: no name for neighbourhood ids {missing}")
    inside["name"] = [names[int(i)] for i in inside["id"]]
    return inside


def read_names(path: Path) -> dict[int, str]:
    names: dict[int, str] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"id", "name"} <= set(reader.fieldnames):
            raise SourceError("sofiaplan-kvartali-names: expected columns id,name")
        for line, row in enumerate(reader, start=2):
            try:
                names[int(row["id"])] = row["name"].strip()
            except (TypeError, ValueError) as exc:
                raise SourceError(
                    f"sofiaplan-kvartali-names: line {line}, column id: {row.get('id')!r} is not a number"
                ) from exc
    return names


def read_population(path: Path, code: str) -> int | None:
    with path.open(encoding="utf-8", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            if row.get("id", "").strip().zfill(2) == code:
                value = (row.get("population_estimate") or "").strip()
                if not value:
                    return None
                if not value.isdigit():
                    raise SourceError(
                        f"sofiaplan-regions-population: line {line}, column population_estimate: "
                        f"{value!r} is not a whole number"
                    )
                return int(value)
    return None


def load(conn: Connection, paths: Mapping[str, Path]) -> dict[str, int]:
    regions = read_polygons(paths["sofiaplan-regions"], "sofiaplan-regions")
    kvartali = read_polygons(paths["sofiaplan-kvartali"], "sofiaplan-kvartali")
    names = read_names(paths["sofiaplan-kvartali-names"])
    population = read_population(paths["sofiaplan-regions-population"], LOZENETS_CODE)

    row = pick_district(regions, LOZENETS_CODE)
    district_geom = as_valid_multipolygon(row.geometry, "the Lozenets polygon")
    inside = neighbourhoods_within(district_geom, kvartali, names)
    if inside.empty:
        raise SourceError("sofiaplan-kvartali: no neighbourhood lies inside the Lozenets polygon")

    boundaries.replace_district(
        conn,
        district_id=LOZENETS_CODE,
        name_bg=str(row["obns_cyr"]).title(),
        name_en=str(row["obns_lat"]).title(),
        population_estimate=population,
        geom_wkb=shapely.to_wkb(district_geom),
    )
    count = boundaries.replace_neighbourhoods(
        conn,
        district_id=LOZENETS_CODE,
        rows=[
            (
                int(r.id),
                r.name,
                shapely.to_wkb(as_valid_multipolygon(r.geometry, f"neighbourhood {r.id}")),
            )
            for r in inside.itertuples()
        ],
    )
    return {"district": 1, "neighbourhood": count}


LOADER = Loader(
    name="lozenets",
    title="Lozenets district and neighbourhoods (Sofiaplan)",
    role="admin",
    layers=(DISTRICT_LAYER, NEIGHBOURHOOD_LAYER),
    load=load,
)
