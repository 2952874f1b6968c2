"""The SQL of buildings, their coverage and green areas: staged with COPY, replaced by origin or by area,
read back as frames in a metric CRS. Every read is bounded."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Connection, text

from twin.core.bulk import copy_frame

MAX_ROWS = 2_000_000
METRIC_SRID = 32634
BUILDING_COLUMNS = (
    "source_ref",
    "name",
    "use",
    "building_tag",
    "floors",
    "height_m",
    "height_from",
    "footprint_m2",
    "synthetic",
    "origin",
    "neighbourhood",
    "wkb",
)


def _hex(frame: gpd.GeoDataFrame) -> pd.Series:
    wgs84 = frame.to_crs(4326) if frame.crs is not None and frame.crs.to_epsg() != 4326 else frame
    return pd.Series(shapely.to_wkb(shapely.force_2d(wgs84.geometry.values), hex=True), index=frame.index)


def insert_buildings(conn: Connection, frame: gpd.GeoDataFrame) -> int:
    """COPY buildings (BUILDING_COLUMNS but wkb, and a geometry in any CRS) into the table."""
    if frame.empty:
        return 0
    staged = pd.DataFrame({c: frame.get(c) for c in BUILDING_COLUMNS if c != "wkb"})
    staged["wkb"] = _hex(frame)
    conn.execute(
        text(
            "CREATE TEMP TABLE building_stage (source_ref text, name text, use text, building_tag text,"
            " floors integer, height_m float8, height_from text, footprint_m2 float8, synthetic boolean,"
            " origin text, neighbourhood text, wkb text) ON COMMIT DROP"
        )
    )
    copy_frame(conn, "building_stage", staged, BUILDING_COLUMNS)
    inserted = conn.execute(
        text(
            "INSERT INTO building (source_ref, name, use, building_tag, floors, height_m, height_from,"
            " footprint_m2, synthetic, origin, neighbourhood, geom)"
            " SELECT source_ref, name, use, building_tag, floors, height_m, height_from, footprint_m2,"
            " synthetic, origin, neighbourhood, ST_Multi(ST_GeomFromWKB(decode(wkb, 'hex'), 4326))"
            " FROM building_stage"
        )
    ).rowcount
    conn.execute(text("DROP TABLE building_stage"))
    return int(inserted or 0)


def delete_origin(conn: Connection, origin: str) -> int:
    return int(conn.execute(text("DELETE FROM building WHERE origin = :o"), {"o": origin}).rowcount or 0)


def delete_synthetic(conn: Connection) -> int:
    return int(conn.execute(text("DELETE FROM building WHERE synthetic")).rowcount or 0)


def delete_within(conn: Connection, area_wkb: bytes) -> int:
    """Every building (real or synthetic) whose footprint's centre lies in the area: an import of real
    buildings for an area replaces what was there."""
    return int(
        conn.execute(
            text("DELETE FROM building WHERE ST_Within(ST_PointOnSurface(geom), ST_GeomFromWKB(:a, 4326))"),
            {"a": area_wkb},
        ).rowcount
        or 0
    )


def upsert_coverage(conn: Connection, origin: str, area_wkb: bytes, buildings: int) -> None:
    conn.execute(
        text(
            "INSERT INTO building_coverage (origin, buildings, geom)"
            " VALUES (:o, :n, ST_Multi(ST_GeomFromWKB(:a, 4326)))"
            " ON CONFLICT (origin) DO UPDATE SET buildings = excluded.buildings, geom = excluded.geom"
        ),
        {"o": origin, "n": buildings, "a": area_wkb},
    )


def frame(conn: Connection, where: str = "TRUE", params: dict[str, Any] | None = None) -> gpd.GeoDataFrame:
    """Buildings as a frame in EPSG:32634 (a trusted `where`)."""
    sql = (
        "SELECT id, source_ref, name, use, building_tag, floors, height_m, height_from, footprint_m2,"  # noqa: S608
        f" synthetic, origin, neighbourhood, ST_Transform(geom, {METRIC_SRID}) AS geometry FROM building"
        f" WHERE {where} ORDER BY id LIMIT {MAX_ROWS}"
    )
    return gpd.read_postgis(text(sql), conn, geom_col="geometry", params=params or {}, crs=METRIC_SRID)


def real_footprints(conn: Connection) -> Any:
    """The union of the real footprints and of the areas real imports cover, EPSG:32634."""
    rows = conn.execute(
        text(
            f"SELECT ST_AsBinary(ST_Transform(geom, {METRIC_SRID})) FROM building WHERE NOT synthetic"  # noqa: S608
            f" UNION ALL SELECT ST_AsBinary(ST_Transform(geom, {METRIC_SRID})) FROM building_coverage"
            f" LIMIT {MAX_ROWS}"
        )
    ).scalars()
    shapes = shapely.from_wkb([bytes(r) for r in rows])
    return shapely.union_all(shapes) if len(shapes) else shapely.Polygon()


def insert_green(conn: Connection, frame: gpd.GeoDataFrame, origin_prefix: str) -> int:
    """Replace the green areas whose refs start with `origin_prefix` (e.g. osm:) by these."""
    conn.execute(text("DELETE FROM green_area WHERE source_ref LIKE :p"), {"p": f"{origin_prefix}%"})
    if frame.empty:
        return 0
    rows = [
        {"ref": r, "name": n, "kind": k, "area": a, "wkb": w}
        for r, n, k, a, w in zip(
            frame["source_ref"],
            frame["name"],
            frame["kind"],
            frame["area_m2"],
            shapely.to_wkb(frame.to_crs(4326).geometry.values),
            strict=True,
        )
    ]
    conn.execute(
        text(
            "INSERT INTO green_area (source_ref, name, kind, area_m2, synthetic, geom)"
            " VALUES (:ref, :name, :kind, :area, false, ST_Multi(ST_GeomFromWKB(:wkb, 4326)))"
        ),
        rows,
    )
    return len(rows)
