"""The planning pilot's loaders: streets, kindergartens and schools, the zoning rules, and the buildings
(the real OpenStreetMap window, the synthetic stock everywhere else in the seven neighbourhoods, the
green areas and the synthetic zones). Buildings need Lozenets loaded (the district pilot's layers, read
through the core); the streets, where loaded, keep the synthetic stock off them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Connection

from twin.core.catalog.specs import LayerSpec
from twin.core.derived.store import read_layer_frame
from twin.core.errors import SourceError
from twin.core.imports.loader import Loader
from twin.planning import store, synthetic
from twin.planning.importers import osm
from twin.planning.importers.footprints import normalise
from twin.planning.rules import committed_rules

BUILDINGS_SOURCE = "osm-buildings-green-fmi-block"
STREETS_SOURCE = "osm-roads-fmi-block"
EDUCATION_SOURCE = "gisco-education-lozenets"
ZONING_SOURCE = "zoning-act-77813"
SYNTHETIC_ORIGIN = f"synthetic stock (seed {synthetic.DEFAULT_SEED})"
REST = "the rest of the district"

BUILDINGS_LAYER = LayerSpec(
    id="buildings",
    title="Buildings of Lozenets (real where imported, synthetic elsewhere)",
    description="Every building of the baseline: real OpenStreetMap footprints in the window they cover "
    "(and any real buildings imported since: CityGML, CityJSON, OSM, GeoPackage), and a seeded "
    "synthetic stock filling the rest of the seven neighbourhoods. Each feature says `synthetic` and "
    "its `origin`; floors, height (and where it came from), use (residential, mixed, non-residential) "
    "and footprint area. The layer is marked synthetic because most of it is.",
    geometry_type="MultiPolygon",
    table_name="building",
    source_ids=(BUILDINGS_SOURCE,),
    synthetic=True,
)
COVERAGE_LAYER = LayerSpec(
    id="building_coverage",
    title="Where real buildings are loaded",
    description="The area each import of real buildings covers (the OpenStreetMap window around FMI, "
    "~1.2 km²): inside it the buildings are real, outside it synthetic.",
    geometry_type="MultiPolygon",
    table_name="building_coverage",
    source_ids=(BUILDINGS_SOURCE,),
)
GREEN_LAYER = LayerSpec(
    id="green_areas",
    title="Green areas (OpenStreetMap, in the window it covers)",
    description="Parks, gardens, grass, woods and playgrounds mapped in OpenStreetMap, in the window "
    "the real buildings cover.",
    geometry_type="MultiPolygon",
    table_name="green_area",
    source_ids=(BUILDINGS_SOURCE,),
)
ZONES_LAYER = LayerSpec(
    id="zones",
    title="Zones of the master plan (synthetic until real zoning is imported)",
    description="Zone polygons with their master-plan code (Жм, Жс, Жг, Смф, Тп, Тгс …). By default a "
    "synthetic zone per neighbourhood, by its character, and Смф for the rest of the district: no "
    "zoning polygons of Sofia's master plan are published openly. Importing real zoning replaces them.",
    geometry_type="MultiPolygon",
    table_name="zone",
    source_ids=("sofiaplan-kvartali",),
    synthetic=True,
)
SCENARIOS_LAYER = LayerSpec(
    id="scenarios",
    title="What-if proposals (hypothetical)",
    description="Proposals planners have made (POST /scenarios): their name, version, the residents and "
    "floor area they add, at the footprints their changes touch. Hypothetical, never the baseline: each "
    "scenario's buildings and indicators are the scenario_buildings and planning_indicators layers with "
    "`scenario=<id>`.",
    geometry_type="MultiPolygon",
    table_name="scenario_feature",
    source_ids=(),
    synthetic=True,
    key_column="id",
)
STREETS_LAYER = LayerSpec(
    id="streets",
    title="Streets (OpenStreetMap, one window)",
    description="Drivable streets mapped in OpenStreetMap in the window around FMI: the pedestrian graph "
    "where they are loaded (walking elsewhere is a straight line × a detour factor).",
    geometry_type="LineString",
    table_name="street",
    source_ids=(STREETS_SOURCE,),
)
EDUCATION_LAYER = LayerSpec(
    id="education_places",
    title="Kindergartens and schools (Eurostat GISCO, 2019 register)",
    description="Kindergartens (детски градини) and schools in and around Lozenets, with their facility "
    "type and, where the register gives it, capacity (max_students).",
    geometry_type="Point",
    table_name="education_place",
    source_ids=(EDUCATION_SOURCE,),
)


def district_context(conn: Connection) -> tuple[Any, gpd.GeoDataFrame]:
    """(the district polygon, the neighbourhoods clipped to it with ``id`` and ``name``), EPSG:32634."""
    try:
        district = read_layer_frame(conn, "district", 32634)
        neighbourhoods = read_layer_frame(conn, "neighbourhoods", 32634)
    except LookupError as exc:
        raise SourceError("Lozenets is not loaded: run `twin load lozenets` first") from exc
    area = shapely.union_all(district.geometry.values)
    clipped = neighbourhoods.assign(geometry=shapely.intersection(neighbourhoods.geometry.values, area))
    clipped = clipped[shapely.area(clipped.geometry.values) > 1][["id", "name", "geometry"]]
    return area, gpd.GeoDataFrame(clipped, geometry="geometry", crs=32634).reset_index(drop=True)


def neighbourhood_of(buildings: gpd.GeoDataFrame, neighbourhoods: gpd.GeoDataFrame) -> pd.Series:
    """The neighbourhood each building's point-on-surface lies in, or the rest of the district."""
    points = gpd.GeoDataFrame(geometry=buildings.to_crs(32634).representative_point(), crs=32634)
    joined = gpd.sjoin(points, neighbourhoods[["name", "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    return joined["name"].fillna(REST).reindex(buildings.index)


def rebuild_synthetic(conn: Connection) -> dict[str, int]:
    """The synthetic stock regenerated around every real footprint and covered area, and the synthetic
    zones when no real zoning is loaded."""
    area, neighbourhoods = district_context(conn)
    removed = store.buildings.delete_synthetic(conn)
    stock = synthetic.generate_stock(
        neighbourhoods, store.buildings.real_footprints(conn), store.places.streets(conn)
    )
    stock = stock.assign(
        name=None,
        building_tag=stock["typology"],
        height_from="synthetic: floors of its typology × 3 m",
        synthetic=True,
        origin=SYNTHETIC_ORIGIN,
    )
    inserted = store.buildings.insert_buildings(conn, stock)
    zones = 0
    if not store.places.has_real_zones(conn):
        zones = store.places.replace_zones(
            conn, synthetic.generate_zones(neighbourhoods, area), synthetic=True, origin="synthetic zones"
        )
    return {"synthetic_removed": removed, "synthetic_buildings": inserted, "synthetic_zones": zones}


def load_buildings(conn: Connection, paths: Mapping[str, Path]) -> dict[str, int]:
    path = paths[BUILDINGS_SOURCE]
    document = osm.load_json(path.read_bytes(), path.name)
    if not osm.is_osm_geojson(document):
        raise SourceError(
            f"{path.name}: not an OpenStreetMap GeoJSON extract (features with osm_id, building)"
        )
    raw, green = osm.read_geojson(document, path.name)
    area, neighbourhoods = district_context(conn)
    district_wgs84 = gpd.GeoSeries([area], crs=32634).to_crs(4326).iloc[0]
    buildings, outside = normalise(raw, _wgs84(), path.name, district_wgs84, BUILDINGS_SOURCE)
    buildings["neighbourhood"] = neighbourhood_of(buildings, neighbourhoods).to_numpy()
    window = osm.window_of(document)
    coverage = (
        _window_polygon(window)
        if window
        else shapely.convex_hull(shapely.union_all(buildings.geometry.values))
    )
    coverage = shapely.intersection(coverage, district_wgs84)
    store.buildings.delete_origin(conn, BUILDINGS_SOURCE)
    inserted = store.buildings.insert_buildings(conn, buildings)
    store.buildings.upsert_coverage(conn, BUILDINGS_SOURCE, shapely.to_wkb(coverage), inserted)
    green_frame = gpd.GeoDataFrame(
        {
            "source_ref": [g["ref"] for g in green],
            "name": [g["name"] for g in green],
            "kind": [g["kind"] for g in green],
        },
        geometry=[g["geometry"] for g in green],
        crs=4326,
    )
    green_frame = green_frame[green_frame.geometry.is_valid & green_frame.intersects(district_wgs84)]
    green_frame = green_frame.assign(area_m2=green_frame.to_crs(32634).area.round(2))
    greens = store.buildings.insert_green(conn, green_frame, "osm:")
    counts = {"buildings": inserted, "outside_lozenets": outside, "green_areas": greens}
    counts.update(rebuild_synthetic(conn))
    return counts


def _wgs84() -> Any:
    from pyproj import CRS

    return CRS.from_epsg(4326)


def _window_polygon(window: tuple[float, float, float]) -> Any:
    """The extract's square window (centre lat, lon and half side in metres), in WGS 84."""
    lat, lon, half = window
    centre = gpd.GeoSeries([shapely.Point(lon, lat)], crs=4326).to_crs(32634).iloc[0]
    square = shapely.box(centre.x - half, centre.y - half, centre.x + half, centre.y + half)
    return gpd.GeoSeries([square], crs=32634).to_crs(4326).iloc[0]


def load_streets(conn: Connection, paths: Mapping[str, Path]) -> dict[str, int]:
    path = paths[STREETS_SOURCE]
    document = osm.load_json(path.read_bytes(), path.name)
    rows = []
    for position, feature in enumerate(document.get("features", [])):
        props = feature.get("properties") or {}
        geometry = feature.get("geometry") or {}
        if geometry.get("type") != "LineString" or not props.get("highway"):
            continue
        try:
            line = shapely.LineString(geometry["coordinates"])
        except (KeyError, TypeError, ValueError, shapely.errors.GEOSException) as exc:
            raise SourceError(f"{path.name}: feature {position} is not a line: {exc}") from exc
        rows.append(
            {
                "osm_id": int(props.get("osm_id", position)),
                "name": props.get("name"),
                "highway": props["highway"],
                "geometry": line,
            }
        )
    if not rows:
        raise SourceError(f"{path.name}: no street (a LineString with highway=*)")
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)
    return {"streets": store.places.replace_streets(conn, frame)}


def load_education(conn: Connection, paths: Mapping[str, Path]) -> dict[str, int]:
    path = paths[EDUCATION_SOURCE]
    document = osm.load_json(path.read_bytes(), path.name)
    area, _ = district_context(conn)
    district_wgs84 = gpd.GeoSeries([area], crs=32634).to_crs(4326).iloc[0]
    rows = []
    for position, feature in enumerate(document.get("features", [])):
        props = feature.get("properties") or {}
        try:
            point = shapely.Point(feature["geometry"]["coordinates"][:2])
            facility = str(props["facility_type"]).strip()
        except (KeyError, TypeError, ValueError) as exc:
            raise SourceError(
                f"{path.name}: feature {position} has no point or facility_type: {exc}"
            ) from exc
        capacity = props.get("max_students")
        rows.append(
            {
                "id": str(props.get("id") or position),
                "name": str(props.get("name") or facility),
                "kind": "kindergarten" if facility.upper().startswith("ДЕТСКА ГРАДИНА") else "school",
                "facility_type": facility,
                "capacity": int(str(capacity)) if str(capacity or "").isdigit() else None,
                "in_lozenets": bool(district_wgs84.intersects(point)),
                "geometry": point,
            }
        )
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)
    return {"education_places": store.places.replace_education(conn, frame)}


def load_zoning(conn: Connection, paths: Mapping[str, Path]) -> dict[str, int]:
    """The committed rule table recorded as a new version when it differs from the latest (the act's
    text, this loader's source, is where its Sofia-law numbers are quoted from)."""
    del paths
    rules = committed_rules().model_dump(mode="json")
    latest = store.places.latest_rules(conn)
    if latest is not None and latest["rules"] == rules:
        return {"rule_versions_added": 0}
    store.places.add_rules(
        conn, rules, "the committed table (data/zoning_rules.toml)", "data/zoning_rules.toml"
    )
    return {"rule_versions_added": 1}


BUILDINGS = Loader(
    name="buildings",
    title="Buildings: OpenStreetMap window, synthetic stock, green areas, synthetic zones",
    role="planner",
    layers=(BUILDINGS_LAYER, COVERAGE_LAYER, GREEN_LAYER, ZONES_LAYER, SCENARIOS_LAYER),
    load=load_buildings,
)
STREETS = Loader(
    name="streets",
    title="Streets (OpenStreetMap window)",
    role="planner",
    layers=(STREETS_LAYER,),
    load=load_streets,
)
EDUCATION = Loader(
    name="education",
    title="Kindergartens and schools (GISCO)",
    role="planner",
    layers=(EDUCATION_LAYER,),
    load=load_education,
)
ZONING = Loader(
    name="zoning", title="Zoning rules (the committed table)", role="admin", layers=(), load=load_zoning
)
