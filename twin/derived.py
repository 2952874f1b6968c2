"""Computing derived layers on request, once per (layer, parameters, input data versions)."""

from __future__ import annotations

import hashlib
import math
import zlib
from datetime import date
from typing import Any

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import shapely
from pydantic import BaseModel
from sqlalchemy import Connection, Engine, text

from twin.errors import NotReady, TwinError
from twin.repositories import derived as repo
from twin.repositories import transit as transit_repo
from twin.scenarios import DerivedLayer


def cache_key(layer: DerivedLayer, params: BaseModel, input_versions: dict[str, int]) -> str:
    payload = {
        "layer": layer.id,
        "version": layer.version,
        "params": params.model_dump(mode="json"),
        "inputs": input_versions,
    }
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


class _DatabaseInputs:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def frame(self, layer_id: str, crs: int = 32634) -> gpd.GeoDataFrame:
        return repo.read_layer_frame(self._conn, layer_id, crs)

    def table(self, layer_id: str) -> pd.DataFrame:
        return repo.read_layer_table(self._conn, layer_id)

    def schedule(self, day: date, window: tuple[int, int] | None = None) -> pd.DataFrame:
        _feed, services = transit_repo.service_day(self._conn, day)
        rows = transit_repo.departures(self._conn, services, window)
        frame = pd.DataFrame(rows, columns=["stop_id", "departure_s", "route_id", "direction_id", "trip_id"])
        return frame.drop(columns=["trip_id"])

    def routes(self) -> pd.DataFrame:
        frame = pd.DataFrame(
            transit_repo.routes(self._conn), columns=["route_id", "route_short_name", "route_type"]
        )
        return frame.astype({"route_type": "int64"})


def materialize(
    engine: Engine, layer: DerivedLayer, params: BaseModel, *, keep_runs: int = 32
) -> tuple[str, int]:
    """Compute (or find) the result for these parameters on the current inputs.

    Returns (cache key, feature count). Concurrent requests for the same result compute it once.
    """
    with engine.begin() as conn:
        versions = repo.input_versions(conn, layer.inputs)
        missing = sorted(set(layer.inputs) - set(versions))
        if missing:
            raise NotReady(f"derived layer {layer.id!r} needs layers that are not loaded: {missing}")
        key = cache_key(layer, params, versions)
        count = repo.run_exists(conn, key)
        if count is not None:
            return key, count
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(key.encode())})
        count = repo.run_exists(conn, key)
        if count is not None:  # computed by a concurrent request while we waited
            return key, count
        try:
            frame = layer.compute(_DatabaseInputs(conn), params)
        except LookupError as exc:
            raise NotReady(f"derived layer {layer.id!r}: {exc}") from exc
        rows = feature_rows(layer, frame)
        repo.insert_run(
            conn,
            cache_key=key,
            layer_id=layer.id,
            params=params.model_dump(mode="json"),
            input_versions=versions,
            rows=rows,
        )
        repo.prune_runs(conn, layer.id, keep_runs)
    return key, len(rows)


def feature_rows(layer: DerivedLayer, frame: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """The scenario's output as rows for storage: WGS84 WKB, declared properties as JSON."""
    if frame.crs is None:
        raise TwinError(f"derived layer {layer.id!r} returned a frame without a CRS")
    names = [p.name for p in layer.properties]
    absent = [n for n in names if n not in frame.columns]
    if absent:
        raise TwinError(f"derived layer {layer.id!r} did not compute its properties {absent}")
    wgs84 = frame.to_crs(4326)
    geometries = shapely.to_wkb(wgs84.geometry.values, output_dimension=2)
    records = wgs84[names].to_dict("records")
    return [
        {"fid": i, "props": _props_json(record), "wkb": wkb}
        for i, (record, wkb) in enumerate(zip(records, geometries, strict=True), start=1)
    ]


def _props_json(record: dict[str, Any]) -> str:
    clean = {k: _plain(v) for k, v in record.items()}
    return orjson.dumps(clean).decode()


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
