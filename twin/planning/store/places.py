"""The SQL of streets, kindergartens and schools, zones and the versioned zoning rules."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import orjson
import pandas as pd
import shapely
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection

MAX_ROWS = 1_000_000
METRIC_SRID = 32634


def replace_streets(conn: Connection, streets: gpd.GeoDataFrame) -> int:
    conn.execute(text("DELETE FROM street"))
    if streets.empty:
        return 0
    rows = [
        {"osm": int(o), "name": n, "highway": h, "length": float(length), "wkb": w}
        for o, n, h, length, w in zip(
            streets["osm_id"],
            streets["name"],
            streets["highway"],
            streets.to_crs(METRIC_SRID).geometry.length,
            shapely.to_wkb(streets.to_crs(4326).geometry.values),
            strict=True,
        )
    ]
    conn.execute(
        text(
            "INSERT INTO street (osm_id, name, highway, length_m, geom)"
            " VALUES (:osm, :name, :highway, :length, ST_GeomFromWKB(:wkb, 4326))"
        ),
        rows,
    )
    return len(rows)


def streets(conn: Connection) -> gpd.GeoDataFrame:
    """The streets in EPSG:32634 (empty when none is loaded)."""
    sql = (
        f"SELECT id, osm_id, name, highway, ST_Transform(geom, {METRIC_SRID}) AS geometry"  # noqa: S608
        f" FROM street LIMIT {MAX_ROWS}"
    )
    return gpd.read_postgis(text(sql), conn, geom_col="geometry", crs=METRIC_SRID)


def replace_education(conn: Connection, places: gpd.GeoDataFrame) -> int:
    conn.execute(text("DELETE FROM education_place"))
    rows = [
        {
            "id": i,
            "name": n,
            "kind": k,
            "facility": f,
            "capacity": None if pd.isna(c) else int(c),
            "inside": bool(b),
            "wkb": w,
        }
        for i, n, k, f, c, b, w in zip(
            places["id"],
            places["name"],
            places["kind"],
            places["facility_type"],
            places["capacity"],
            places["in_lozenets"],
            shapely.to_wkb(places.geometry.values),
            strict=True,
        )
    ]
    if rows:
        conn.execute(
            text(
                "INSERT INTO education_place (id, name, kind, facility_type, capacity, in_lozenets, geom)"
                " VALUES (:id, :name, :kind, :facility, :capacity, :inside, ST_GeomFromWKB(:wkb, 4326))"
            ),
            rows,
        )
    return len(rows)


def education(conn: Connection) -> gpd.GeoDataFrame:
    sql = (
        "SELECT id, name, kind, facility_type, capacity, in_lozenets,"  # noqa: S608
        f" ST_Transform(geom, {METRIC_SRID}) AS geometry FROM education_place ORDER BY id LIMIT {MAX_ROWS}"
    )
    return gpd.read_postgis(text(sql), conn, geom_col="geometry", crs=METRIC_SRID)


def replace_zones(conn: Connection, zones: gpd.GeoDataFrame, *, synthetic: bool, origin: str) -> int:
    conn.execute(text("DELETE FROM zone"))
    rows = [
        {"code": c, "name": n, "synthetic": synthetic, "origin": origin, "wkb": w}
        for c, n, w in zip(
            zones["code"], zones["name"], shapely.to_wkb(zones.to_crs(4326).geometry.values), strict=True
        )
    ]
    if rows:
        conn.execute(
            text(
                "INSERT INTO zone (code, name, synthetic, origin, geom)"
                " VALUES (:code, :name, :synthetic, :origin, ST_Multi(ST_GeomFromWKB(:wkb, 4326)))"
            ),
            rows,
        )
    return len(rows)


def has_real_zones(conn: Connection) -> bool:
    return bool(conn.execute(text("SELECT EXISTS (SELECT 1 FROM zone WHERE NOT synthetic)")).scalar())


def zones(conn: Connection) -> gpd.GeoDataFrame:
    sql = (
        "SELECT id, code, name, synthetic, origin,"  # noqa: S608
        f" ST_Transform(geom, {METRIC_SRID}) AS geometry FROM zone ORDER BY id LIMIT {MAX_ROWS}"
    )
    return gpd.read_postgis(text(sql), conn, geom_col="geometry", crs=METRIC_SRID)


# -- rules -----------------------------------------------------------------------------------------------
_LATEST = text(
    "SELECT version, rules::text AS rules, note, created_by, created_at FROM zoning_rule_set"
    " ORDER BY version DESC LIMIT 1"
)


def latest_rules(conn: Connection) -> dict[str, Any] | None:
    row = conn.execute(_LATEST).mappings().first()
    return None if row is None else {**row, "rules": orjson.loads(row["rules"])}


async def latest_rules_async(conn: AsyncConnection) -> dict[str, Any] | None:
    row = (await conn.execute(_LATEST)).mappings().first()
    return None if row is None else {**row, "rules": orjson.loads(row["rules"])}


async def rule_versions(conn: AsyncConnection, limit: int = 100) -> list[dict[str, Any]]:
    rows = await conn.execute(
        text(
            "SELECT version, note, created_by, created_at FROM zoning_rule_set ORDER BY version DESC LIMIT :n"
        ),
        {"n": limit},
    )
    return [dict(r) for r in rows.mappings()]


def add_rules(conn: Connection, rules: dict[str, Any], note: str, created_by: str) -> int:
    """A new version (serialised: a concurrent writer waits, then numbers after it)."""
    conn.execute(text("LOCK TABLE zoning_rule_set IN SHARE ROW EXCLUSIVE MODE"))
    return int(
        conn.execute(
            text(
                "INSERT INTO zoning_rule_set (version, rules, note, created_by)"
                " SELECT coalesce(max(version), 0) + 1, CAST(:rules AS jsonb), :note, :by"
                " FROM zoning_rule_set"
                " RETURNING version"
            ),
            {"rules": orjson.dumps(rules).decode(), "note": note, "by": created_by},
        ).scalar_one()
    )
