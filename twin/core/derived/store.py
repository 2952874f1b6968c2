"""Derived-layer results: one run per (layer, parameters, input versions), its features as rows."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any, cast

import geopandas as gpd
import orjson
import pandas as pd
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection

MAX_INPUT_ROWS = 200_000


def lock_result(conn: Connection, cache_key: str) -> None:
    """Serialise the computations of one result (held until the transaction ends)."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(cache_key.encode())})


def run_exists(conn: Connection, cache_key: str) -> int | None:
    """The feature count of a stored result (and mark it used), or None."""
    count = conn.execute(
        text("UPDATE derived_run SET last_used_at = now() WHERE cache_key = :key RETURNING feature_count"),
        {"key": cache_key},
    ).scalar()
    return None if count is None else int(count)


def insert_run(
    conn: Connection,
    *,
    cache_key: str,
    layer_id: str,
    params: dict[str, Any],
    input_versions: dict[str, int],
    rows: Sequence[dict[str, Any]],
    computation: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        text(
            "INSERT INTO derived_run (cache_key, layer_id, params, input_versions, feature_count,"
            " computation) VALUES (:key, :layer, CAST(:params AS jsonb), CAST(:versions AS jsonb), :n,"
            " CAST(:computation AS jsonb))"
        ),
        {
            "key": cache_key,
            "layer": layer_id,
            "params": _json(params),
            "versions": _json(input_versions),
            "n": len(rows),
            "computation": None if computation is None else _json(computation),
        },
    )
    if rows:
        conn.execute(
            text(
                "INSERT INTO derived_feature (cache_key, fid, props, geom) "
                "VALUES (:key, :fid, CAST(:props AS jsonb), ST_GeomFromWKB(:wkb, 4326))"
            ),
            [{"key": cache_key, **row} for row in rows],
        )


def prune_runs(conn: Connection, layer_id: str, keep: int) -> int:
    """Forget all but the `keep` most recently used results of a layer; a result used in the last ten
    minutes is kept whatever `keep` says, so no client paging through it loses it mid-way."""
    return (
        conn.execute(
            text(
                "DELETE FROM derived_run WHERE layer_id = :layer"
                " AND last_used_at < now() - interval '10 minutes' AND cache_key NOT IN ("
                " SELECT cache_key FROM derived_run WHERE layer_id = :layer"
                " ORDER BY last_used_at DESC LIMIT :keep)"
            ),
            {"layer": layer_id, "keep": keep},
        ).rowcount
        or 0
    )


def _layer_table(conn: Connection, layer_id: str) -> str:
    """The table of a loaded base layer; LookupError when it is not loaded."""
    row = conn.execute(
        text("SELECT table_name FROM layer WHERE id = :id AND kind = 'base'"), {"id": layer_id}
    ).first()
    if row is None or row.table_name is None:
        raise LookupError(f"input layer {layer_id!r} is not loaded")
    table = str(row.table_name)
    if not table.replace("_", "").isalnum():
        raise LookupError(f"layer {layer_id!r} names an unexpected table {table!r}")
    return table


def read_layer_frame(conn: Connection, layer_id: str, crs: int) -> gpd.GeoDataFrame:
    """A base layer's rows as a GeoDataFrame in `crs`, bounded, index = the table's primary key."""
    table = _layer_table(conn, layer_id)
    sql = f'SELECT *, ST_Transform(geom, {int(crs)}) AS geometry FROM "{table}" LIMIT {MAX_INPUT_ROWS}'  # noqa: S608
    frame = gpd.read_postgis(text(sql), conn, geom_col="geometry", crs=int(crs))
    return frame.drop(columns=["geom"])


def read_layer_table(conn: Connection, layer_id: str) -> pd.DataFrame:
    """A non-spatial base layer's rows (a table of figures), bounded."""
    table = _layer_table(conn, layer_id)
    result = conn.execute(text(f'SELECT * FROM "{table}" LIMIT {MAX_INPUT_ROWS}'))  # noqa: S608
    return pd.DataFrame(result.mappings().all(), columns=list(result.keys()))


_VERSIONS = text("SELECT id, data_version FROM layer WHERE id = ANY(:ids)")


def input_versions(conn: Connection, layer_ids: Sequence[str]) -> dict[str, int]:
    """{layer id: data version} of those of the layers that are registered."""
    rows = conn.execute(_VERSIONS, {"ids": list(layer_ids)}).all()
    return {row.id: int(row.data_version) for row in rows}


async def computation(conn: AsyncConnection, cache_key: str) -> dict[str, Any] | None:
    """A stored result's account of its computation, if it gave one."""
    found = (
        await conn.execute(
            text("SELECT computation::text FROM derived_run WHERE cache_key = :key"), {"key": cache_key}
        )
    ).scalar()
    return None if found is None else cast(dict[str, Any], orjson.loads(found))


async def result_properties(conn: AsyncConnection, cache_key: str, limit: int) -> list[dict[str, Any]]:
    """The properties of a stored result's first `limit` features, in feature order."""
    rows = await conn.execute(
        text("SELECT props::text FROM derived_feature WHERE cache_key = :key ORDER BY fid LIMIT :n"),
        {"key": cache_key, "n": limit},
    )
    return [orjson.loads(value) for value in rows.scalars()]


def _json(value: object) -> str:
    return orjson.dumps(value, default=str).decode()


async def read_run(conn: AsyncConnection, cache_key: str) -> dict[str, Any] | None:
    """A stored result's layer, parameters and input versions (marking it used), or None."""
    row = (
        await conn.execute(
            text(
                "UPDATE derived_run SET last_used_at = now() WHERE cache_key = :key"
                " RETURNING layer_id, params::text AS params, input_versions::text AS input_versions"
            ),
            {"key": cache_key[:64]},
        )
    ).first()
    if row is None:
        return None
    return {
        "layer_id": row.layer_id,
        "params": orjson.loads(row.params),
        "input_versions": orjson.loads(row.input_versions),
    }


async def current_versions(conn: AsyncConnection, layer_ids: Sequence[str]) -> dict[str, int]:
    """As :func:`input_versions`, on the app's connection."""
    rows = await conn.execute(_VERSIONS, {"ids": list(layer_ids)})
    return {row.id: int(row.data_version) for row in rows}
