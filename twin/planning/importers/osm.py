"""OpenStreetMap buildings and green areas, in the three forms they come in.

- **GeoJSON as exported by Overpass-based tools** (the mirror's ``block_areas.geojson``): features with
  ``osm_id``, ``kind`` (building or green), ``building``, ``levels`` (building:levels), ``height``,
  ``name``, ``landuse``/``leisure``/``natural``; WGS 84.
- **Overpass JSON** (``[out:json]``, https://wiki.openstreetmap.org/wiki/Overpass_API/Overpass_QL):
  ``{"elements": [...]}`` with ways carrying ``geometry`` (``out geom``) or ``nodes`` resolved against
  the node elements (``out body; >; out skel;``), and multipolygon relations with member geometries.
- **PBF** (``.osm.pbf``), read with pyosmium's area assembler (closed ways and multipolygon relations).

A building is a closed way or multipolygon with ``building=*``; its floors are ``building:levels``, its
height ``height`` (metres). Green is ``leisure=park|garden``, ``landuse=grass|forest|recreation_ground|
meadow|village_green`` or ``natural=wood|scrub|grassland``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import shapely
from shapely.geometry import shape

from twin.core.errors import SourceError
from twin.planning.importers.footprints import RawBuilding
from twin.planning.uses import number

GREEN_TAGS = {
    "leisure": {"park", "garden", "playground"},
    "landuse": {"grass", "forest", "recreation_ground", "meadow", "village_green"},
    "natural": {"wood", "scrub", "grassland"},
}


def green_kind(tags: Mapping[str, Any]) -> str | None:
    for key, values in GREEN_TAGS.items():
        value = tags.get(key)
        if value in values:
            return f"{key}={value}"
    return None


def _building(ref: str, geometry: Any, tags: Mapping[str, Any]) -> RawBuilding:
    return RawBuilding(
        ref=ref,
        geometry=geometry,
        name=tags.get("name"),
        tag=str(tags.get("building")),
        floors=number(tags.get("building:levels", tags.get("levels"))),
        height_m=number(tags.get("height")),
    )


# -- GeoJSON of OSM features --------------------------------------------------------------------------------
def is_osm_geojson(document: Mapping[str, Any]) -> bool:
    features = document.get("features")
    if not isinstance(features, list) or not features:
        return False
    first = features[0].get("properties") or {}
    return "osm_id" in first and ("building" in first or "kind" in first)


def read_geojson(document: Mapping[str, Any], name: str) -> tuple[list[RawBuilding], list[dict[str, Any]]]:
    """(buildings, green areas {ref, name, kind, geometry}) of an OSM-flavoured GeoJSON document."""
    buildings, green = [], []
    for position, feature in enumerate(document.get("features", [])):
        try:
            props = feature.get("properties") or {}
            geometry = shape(feature["geometry"]) if feature.get("geometry") else None
        except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.GEOSException) as exc:
            raise SourceError(f"{name}: feature {position} is not a GeoJSON feature: {exc}") from exc
        ref = f"osm:{props.get('osm_type', 'way')}/{props.get('osm_id', position)}"
        if props.get("building"):
            buildings.append(_building(ref, geometry, props))
        elif (kind := green_kind(props)) is not None and geometry is not None:
            green.append({"ref": ref, "name": props.get("name"), "kind": kind, "geometry": geometry})
    return buildings, green


def window_of(document: Mapping[str, Any]) -> tuple[float, float, float] | None:
    """(lat, lon, half side m) of the extract's window, when the file says it (``_center``, ``_half_m``)."""
    centre, half = document.get("_center"), document.get("_half_m")
    if isinstance(centre, list) and len(centre) == 2 and isinstance(half, int | float):
        return float(centre[0]), float(centre[1]), float(half)
    return None


# -- Overpass JSON ----------------------------------------------------------------------------------------
def is_overpass(document: Mapping[str, Any]) -> bool:
    return isinstance(document.get("elements"), list)


def read_overpass(document: Mapping[str, Any], name: str) -> tuple[list[RawBuilding], list[dict[str, Any]]]:
    elements = document["elements"]
    nodes = {e["id"]: (e["lon"], e["lat"]) for e in elements if e.get("type") == "node" and "lon" in e}
    buildings, green = [], []
    for element in elements:
        kind = element.get("type")
        tags = element.get("tags") or {}
        if kind not in ("way", "relation") or not (tags.get("building") or green_kind(tags)):
            continue
        ref = f"osm:{kind}/{element.get('id')}"
        try:
            geometry = _way_polygon(element, nodes) if kind == "way" else _relation_polygon(element)
        except (KeyError, TypeError, ValueError) as exc:
            raise SourceError(f"{name}: {ref} has no usable geometry: {exc}") from exc
        if geometry is None:
            continue  # an unclosed way: not an area
        if tags.get("building"):
            buildings.append(_building(ref, geometry, tags))
        else:
            green.append(
                {"ref": ref, "name": tags.get("name"), "kind": green_kind(tags), "geometry": geometry}
            )
    return buildings, green


def _ring(points: list[tuple[float, float]]) -> list[tuple[float, float]] | None:
    return points if len(points) >= 4 and points[0] == points[-1] else None


def _way_polygon(way: Mapping[str, Any], nodes: Mapping[int, tuple[float, float]]) -> Any:
    if "geometry" in way:
        points = [(p["lon"], p["lat"]) for p in way["geometry"]]
    else:
        points = [nodes[n] for n in way["nodes"]]
    ring = _ring(points)
    return None if ring is None else shapely.Polygon(ring)


def _relation_polygon(relation: Mapping[str, Any]) -> Any:
    """A multipolygon relation with member geometries (``out geom``): outer and inner rings."""
    outers: list[Any] = []
    inners: list[Any] = []
    for member in relation.get("members", []):
        if member.get("type") != "way" or "geometry" not in member:
            continue
        ring = _ring([(p["lon"], p["lat"]) for p in member["geometry"]])
        if ring is not None:
            (inners if member.get("role") == "inner" else outers).append(shapely.Polygon(ring))
    if not outers:
        return None
    area = shapely.union_all(outers)
    return area.difference(shapely.union_all(inners)) if inners else area


# -- PBF ----------------------------------------------------------------------------------------------
def read_pbf(path: Path, name: str) -> tuple[list[RawBuilding], list[dict[str, Any]]]:
    """Closed ways and multipolygon relations with building=* (or green tags), assembled by pyosmium."""
    import osmium

    buildings: list[RawBuilding] = []
    green: list[dict[str, Any]] = []
    factory = osmium.geom.WKBFactory()

    class Areas(osmium.SimpleHandler):  # type: ignore[misc]
        def area(self, area: Any) -> None:
            tags = {tag.k: tag.v for tag in area.tags}
            if not (tags.get("building") or green_kind(tags)):
                return
            kind = "way" if area.from_way() else "relation"
            ref = f"osm:{kind}/{area.orig_id()}"
            try:
                geometry = shapely.from_wkb(bytes.fromhex(factory.create_multipolygon(area)))
            except RuntimeError:
                return  # an area pyosmium cannot assemble (broken rings): skipped, like osm2pgsql does
            if tags.get("building"):
                buildings.append(_building(ref, geometry, tags))
            else:
                green.append(
                    {"ref": ref, "name": tags.get("name"), "kind": green_kind(tags), "geometry": geometry}
                )

    try:
        Areas().apply_file(str(path), locations=True)
    except RuntimeError as exc:
        raise SourceError(f"{name}: not a readable OSM PBF file: {exc}") from exc
    return buildings, green


def load_json(data: bytes, name: str) -> dict[str, Any]:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SourceError(f"{name}: not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise SourceError(f"{name}: the JSON document must be an object")
    return document
