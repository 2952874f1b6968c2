"""3D city models at LoD1: CityJSON (1.1 and 2.0, https://www.cityjson.org/specs/) and CityGML 2.0 (OGC
12-019, the format of the GATE Institute's Lozenets model). A building's footprint is its ground surface
(the LoD1 surfaces whose every vertex lies at the lowest height), or the union of all its surfaces seen
from above when there is none; its height is ``measuredHeight`` or the solid's extent in z; its floors
``storeysAboveGround``; its use ``function`` (or ``usage``). Both formats must name their CRS.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import shapely

from twin.core.errors import SourceError
from twin.planning.importers.footprints import RawBuilding
from twin.planning.uses import number

BUILDING_TYPES = ("Building", "BuildingPart")


def footprint(surfaces: Sequence[np.ndarray[Any, Any]]) -> tuple[Any, float]:
    """(the 2D footprint, the extent in z) of LoD1 surfaces, each an (n, 3) ring."""
    if not surfaces:
        raise ValueError("no surface")
    heights = np.concatenate([s[:, 2] for s in surfaces])
    low, high = float(heights.min()), float(heights.max())
    ground = [s for s in surfaces if np.allclose(s[:, 2], low, atol=1e-3)]
    chosen = ground or surfaces
    polygons = [shapely.Polygon(s[:, :2]) for s in chosen if len(s) >= 3]
    polygons = [p if p.is_valid else shapely.make_valid(p) for p in polygons]
    area = shapely.union_all([p for p in polygons if p.area > 0])
    if area.is_empty:
        raise ValueError("the surfaces have no area seen from above")
    return area, high - low


# -- CityJSON -------------------------------------------------------------------------------------------
def is_cityjson(document: Mapping[str, Any]) -> bool:
    return document.get("type") == "CityJSON"


def cityjson_crs(document: Mapping[str, Any]) -> str | None:
    metadata = document.get("metadata") or {}
    return metadata.get("referenceSystem") or metadata.get("crs")


def read_cityjson(document: Mapping[str, Any], name: str) -> list[RawBuilding]:
    try:
        vertices = np.asarray(document["vertices"], dtype=np.float64)
        transform = document.get("transform")
        if transform is not None:
            vertices = vertices * np.asarray(transform["scale"]) + np.asarray(transform["translate"])
        objects = document["CityObjects"]
        if vertices.ndim != 2 or vertices.shape[1] != 3 or not isinstance(objects, dict):
            raise ValueError("vertices must be [x, y, z] triples and CityObjects an object")
    except (KeyError, TypeError, ValueError) as exc:
        raise SourceError(f"{name}: not a CityJSON document: {exc}") from exc
    found = []
    for object_id, city_object in objects.items():
        if not isinstance(city_object, dict) or city_object.get("type") != "Building":
            continue
        attributes = city_object.get("attributes") or {}
        try:
            surfaces = list(_cityjson_surfaces(city_object, objects, vertices))
            area, extent = footprint(surfaces)
        except (IndexError, KeyError, TypeError, ValueError) as exc:
            raise SourceError(
                f"{name}: building {object_id}: no LoD1 geometry to take a footprint from: {exc}"
            ) from exc
        height = number(attributes.get("measuredHeight"))
        found.append(
            RawBuilding(
                ref=f"cityjson:{object_id}",
                geometry=area,
                name=attributes.get("name"),
                tag=str(attributes.get("function") or attributes.get("usage") or "") or None,
                floors=number(attributes.get("storeysAboveGround")),
                height_m=height if height is not None else (extent if extent > 0 else None),
            )
        )
    return found


def _cityjson_surfaces(
    city_object: Mapping[str, Any], objects: Mapping[str, Any], vertices: np.ndarray[Any, Any]
) -> Iterator[np.ndarray[Any, Any]]:
    """The outer rings of the object's lowest-LoD (≥ 1, else any) geometry, and of its parts'."""
    geometries = city_object.get("geometry") or []
    lod1 = [g for g in geometries if str(g.get("lod", "")).startswith("1")] or geometries
    for geometry in lod1[:1]:
        boundaries = geometry["boundaries"]
        kind = geometry["type"]
        shells = [boundaries] if kind in ("MultiSurface", "CompositeSurface") else boundaries
        if kind == "MultiSolid" or kind == "CompositeSolid":
            shells = [shell for solid in boundaries for shell in solid]
        for shell in shells:
            for surface in shell:
                yield vertices[np.asarray(surface[0], dtype=np.int64)]
    for child in city_object.get("children", []):
        part = objects.get(child)
        if isinstance(part, dict) and part.get("type") == "BuildingPart":
            yield from _cityjson_surfaces(part, objects, vertices)


# -- CityGML 2.0 -----------------------------------------------------------------------------------------
GML = "http://www.opengis.net/gml"
BLDG = "http://www.opengis.net/citygml/building/2.0"
CORE = "http://www.opengis.net/citygml/2.0"


def read_citygml(data: bytes, name: str) -> tuple[list[RawBuilding], str | None]:
    """(buildings, the CRS the file names) of a CityGML 2.0 document."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise SourceError(f"{name}: not well-formed XML: {exc}") from exc
    if etree.QName(root).namespace != CORE or etree.QName(root).localname != "CityModel":
        raise SourceError(f"{name}: not a CityGML 2.0 CityModel (root {etree.QName(root).text})")
    crs = _srs_name(root)
    found = []
    for position, element in enumerate(root.iter(f"{{{BLDG}}}Building")):
        gml_id = element.get(f"{{{GML}}}id") or f"building-{position}"
        try:
            rings = [
                _ring(ring)
                for lod in ("lod1Solid", "lod1MultiSurface", "lod0FootPrint")
                for geometry in element.iterfind(f".//{{{BLDG}}}{lod}")
                for ring in geometry.iterfind(f".//{{{GML}}}exterior/{{{GML}}}LinearRing")
            ]
            rings = [r for r in rings if len(r) >= 4]
            area, extent = footprint(rings)
        except (TypeError, ValueError) as exc:
            raise SourceError(
                f"{name}: building {gml_id}: no LoD1 geometry to take a footprint from: {exc}"
            ) from exc
        crs = crs or _srs_name(element)
        height = number(_text(element, "measuredHeight"))
        found.append(
            RawBuilding(
                ref=f"citygml:{gml_id}",
                geometry=area,
                name=_text(element, "name", GML),
                tag=_text(element, "function") or _text(element, "usage"),
                floors=number(_text(element, "storeysAboveGround")),
                height_m=height if height is not None else (extent if extent > 0 else None),
            )
        )
    return found, crs


def _text(element: Any, tag: str, namespace: str = BLDG) -> str | None:
    child = element.find(f"{{{namespace}}}{tag}")
    return None if child is None or child.text is None else child.text.strip()


def _srs_name(element: Any) -> str | None:
    for node in element.iter():
        srs = node.get("srsName")
        if srs:
            return str(srs)
    return None


def _ring(ring: Any) -> np.ndarray[Any, Any]:
    """A gml:LinearRing's coordinates: a gml:posList (srsDimension 3, or 2 with z 0) or gml:pos
    children."""
    pos_list = ring.find(f"{{{GML}}}posList")
    if pos_list is not None:
        dimension = int(pos_list.get("srsDimension") or 3)
        numbers = np.asarray((pos_list.text or "").split(), dtype=np.float64)
        if dimension not in (2, 3) or len(numbers) % dimension:
            raise ValueError(f"a posList of {len(numbers)} numbers is not a list of {dimension}D points")
        values = numbers.reshape(-1, dimension)
    else:
        positions = [p.text.split() for p in ring.iterfind(f"{{{GML}}}pos") if p.text]
        if not positions:
            raise ValueError("a ring without coordinates")
        values = np.asarray(positions, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] not in (2, 3):
        raise ValueError("ring coordinates must be 2D or 3D points")
    if values.shape[1] == 2:
        values = np.column_stack([values, np.zeros(len(values))])
    return values
