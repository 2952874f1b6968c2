"""Importing a user's real buildings or zoning, in one transaction: the file read by the reader its format
needs, every footprint checked (the whole file refused, every problem named, when any is wrong), the
buildings of the area it covers replaced, the synthetic stock rebuilt around it, the layers' data
versions bumped and the import recorded. Sending the same file again changes nothing.

Formats, by name and content: ``.osm.pbf`` (pyosmium); ``.gml``/``.xml`` (CityGML 2.0);
``.gpkg`` (GeoPackage); ``.json``/``.geojson`` holding CityJSON, Overpass JSON, an OSM GeoJSON extract
or any GeoJSON with height or floor attributes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
import shapely
from pyproj import CRS
from sqlalchemy import Engine

from twin.core.catalog.layers_store import touch
from twin.core.derived.engine import register_all
from twin.core.errors import InvalidParameter, SourceError
from twin.core.imports import store as runs
from twin.core.versions import announce
from twin.planning import store
from twin.planning.importers import city3d, osm, tabular
from twin.planning.importers.footprints import MAX_VERTICES, RawBuilding, crs_of, normalise
from twin.planning.importers.loaders import (
    BUILDINGS_LAYER,
    COVERAGE_LAYER,
    GREEN_LAYER,
    ZONES_LAYER,
    district_context,
    neighbourhood_of,
    rebuild_synthetic,
)
from twin.planning.rules import RuleSet

IMPORT_LOADER = "planning-import"
COVERAGE_MARGIN_M = 10.0
MAX_FILE_MB = 200


@dataclass(frozen=True)
class Read:
    buildings: list[RawBuilding]
    crs: CRS
    format: str


def read_file(path: Path, name: str) -> Read:
    """The buildings of a file, by its format (told by name, then content)."""
    lower = name.lower()
    head = path.read_bytes()[:512].lstrip()
    if lower.endswith(".pbf"):
        buildings, _ = osm.read_pbf(path, name)
        return Read(buildings, CRS.from_epsg(4326), "OpenStreetMap PBF")
    if lower.endswith((".gml", ".xml", ".citygml")) or head.startswith(b"<"):
        found, srs = city3d.read_citygml(path.read_bytes(), name)
        return Read(found, crs_of(srs, name), "CityGML 2.0")
    if lower.endswith(".gpkg"):
        found, crs = tabular.read_tabular(path, name)
        if crs is None:
            raise SourceError(f"{name}: the GeoPackage layer names no coordinate reference system (CRS)")
        return Read(found, CRS.from_user_input(crs), "GeoPackage")
    if lower.endswith((".json", ".geojson")) or head.startswith(b"{"):
        document = osm.load_json(path.read_bytes(), name)
        if city3d.is_cityjson(document):
            return Read(
                city3d.read_cityjson(document, name), crs_of(city3d.cityjson_crs(document), name), "CityJSON"
            )
        if osm.is_overpass(document):
            buildings, _ = osm.read_overpass(document, name)
            return Read(buildings, CRS.from_epsg(4326), "Overpass JSON")
        declared = ((document.get("crs") or {}).get("properties") or {}).get("name")
        crs = crs_of(declared, name) if declared else CRS.from_user_input("OGC:CRS84")
        if osm.is_osm_geojson(document):
            buildings, _ = osm.read_geojson(document, name)
            return Read(buildings, crs, "OpenStreetMap GeoJSON")
        found, _ = tabular.read_tabular(path, name)
        return Read(found, crs, "GeoJSON")
    raise SourceError(
        f"{name}: not a format the twin reads (.osm.pbf, CityGML .gml, CityJSON/GeoJSON/Overpass .json, "
        ".gpkg)"
    )


def import_buildings(
    engine: Engine, path: Path, name: str, triggered_by: str, max_vertices: int = MAX_VERTICES
) -> dict[str, Any]:
    """Import a user's real buildings; every problem is a 4xx and nothing is stored."""
    if path.stat().st_size > MAX_FILE_MB * 1024 * 1024:
        raise InvalidParameter(f"{name} is larger than {MAX_FILE_MB} MB", parameter="file")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    origin = f"import:{digest[:16]}"
    read = read_file(path, name)
    with engine.begin() as conn:
        if runs.succeeded_with(conn, IMPORT_LOADER, digest):
            return {"status": "unchanged", "format": read.format, "origin": origin}
        run_id = runs.start_run(conn, IMPORT_LOADER, triggered_by)
        area, neighbourhoods = district_context(conn)
        district_wgs84 = gpd.GeoSeries([area], crs=32634).to_crs(4326).iloc[0]
        buildings, outside = normalise(read.buildings, read.crs, name, district_wgs84, origin, max_vertices)
        buildings["neighbourhood"] = neighbourhood_of(buildings, neighbourhoods).to_numpy()
        metric = buildings.to_crs(32634)
        cover = shapely.intersection(
            shapely.convex_hull(shapely.union_all(metric.geometry.values)).buffer(COVERAGE_MARGIN_M), area
        )
        cover_wgs84 = gpd.GeoSeries([cover], crs=32634).to_crs(4326).iloc[0]
        replaced = store.buildings.delete_within(conn, shapely.to_wkb(cover_wgs84))
        inserted = store.buildings.insert_buildings(conn, buildings)
        store.buildings.upsert_coverage(conn, origin, shapely.to_wkb(cover_wgs84), inserted)
        counts = {"buildings": inserted, "replaced": replaced, "outside_lozenets": outside}
        counts.update(rebuild_synthetic(conn))
        versions = touch(conn, [BUILDINGS_LAYER.id, COVERAGE_LAYER.id, GREEN_LAYER.id, ZONES_LAYER.id])
        versions.update(register_all(conn))
        announce(conn, IMPORT_LOADER)
        runs.finish_run(
            conn,
            run_id,
            status="succeeded",
            sources=[{"id": name, "sha256": digest, "uploaded": name}],
            checksum=digest,
            row_counts=counts,
        )
    return {
        "status": "succeeded",
        "format": read.format,
        "origin": origin,
        "run_id": run_id,
        **counts,
        "layer_versions": versions,
    }


def import_zones(engine: Engine, path: Path, name: str, triggered_by: str, rules: RuleSet) -> dict[str, Any]:
    """Real zoning polygons (GeoJSON or GeoPackage with a ``code`` per zone, and optionally ``name``) in
    place of the synthetic ones; a code the rules do not know is refused, naming the zone."""
    try:
        frame = pyogrio.read_dataframe(path)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError, OSError) as exc:
        raise SourceError(f"{name}: not a readable GeoJSON or GeoPackage file: {exc}") from exc
    if frame.crs is None:
        raise SourceError(f"{name}: the file names no coordinate reference system (CRS)")
    if "code" not in frame.columns:
        raise SourceError(f"{name}: every zone needs a `code` attribute (Жм, Жс, Жг, Смф, Оо, Тп, Тгс …)")
    problems = []
    for position, (code, geometry) in enumerate(zip(frame["code"], frame.geometry, strict=True)):
        if str(code) not in rules.codes:
            problems.append(
                {
                    "feature": str(position),
                    "message": f"unknown zone code {code!r}; known: {', '.join(rules.codes)}",
                }
            )
        elif (
            geometry is None or geometry.geom_type not in ("Polygon", "MultiPolygon") or not geometry.is_valid
        ):
            reason = shapely.is_valid_reason(geometry) if geometry is not None else "no geometry"
            problems.append({"feature": str(position), "message": f"not a valid polygon: {reason}"})
    if problems:
        raise SourceError(
            f"{name}: {len(problems)} problem(s), nothing imported; the first: zone "
            f"{problems[0]['feature']}: {problems[0]['message']}",
            problems=problems[:200],
        )
    frame = frame.assign(name=frame["name"] if "name" in frame.columns else frame["code"]).to_crs(4326)
    with engine.begin() as conn:
        run_id = runs.start_run(conn, IMPORT_LOADER, triggered_by)
        count = store.places.replace_zones(conn, frame, synthetic=False, origin=name)
        versions = touch(conn, [ZONES_LAYER.id])
        versions.update(register_all(conn))
        announce(conn, IMPORT_LOADER)
        runs.finish_run(conn, run_id, status="succeeded", row_counts={"zones": count})
    return {"status": "succeeded", "zones": count, "run_id": run_id, "layer_versions": versions}
