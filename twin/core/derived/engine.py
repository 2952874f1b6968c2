"""Computing derived layers on request, once per (layer, parameters, input data versions)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any, TypeVar, cast

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import shapely
from pydantic import BaseModel
from sqlalchemy import Connection, Engine

from twin.core import registry
from twin.core.catalog import layers_store
from twin.core.derived import store
from twin.core.derived.contract import COMPUTATION_ATTR, DerivedLayer
from twin.core.derived.inputs import METRIC_CRS, InputKey, InputUnavailable, Provider
from twin.core.errors import NotReady, TwinError

T = TypeVar("T")


def cache_key(layer: DerivedLayer, params: BaseModel, input_versions: Mapping[str, int]) -> str:
    payload = {
        "layer": layer.id,
        "version": layer.version,
        "params": params.model_dump(mode="json"),
        "inputs": dict(input_versions),
    }
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def dependencies(
    layer: DerivedLayer, providers: Mapping[str, Provider[Any]] | None = None, *, optional: bool = False
) -> tuple[str, ...]:
    """The layer ids a derived layer's results depend on: its inputs and the layers behind the answers
    to the questions it needs; with `optional`, the layers behind the optional questions some pilot
    answers instead (their data keys the results when loaded; the layer works without them)."""
    known = registry.providers() if providers is None else providers
    if optional:
        ids = [i for k in layer.optional if k.name in known for i in known[k.name].layers]
    else:
        ids = list(layer.inputs) + [i for k in layer.uses if k.name in known for i in known[k.name].layers]
    return tuple(dict.fromkeys(ids))


def answerable(layer: DerivedLayer, providers: Mapping[str, Provider[Any]]) -> bool:
    return all(k.name in providers for k in layer.uses)


def register_all(conn: Connection) -> dict[str, int]:
    """Register (or refresh) every derived layer whose inputs are loaded and whose questions some pilot
    answers; returns {layer id: data version}."""
    providers = registry.providers()
    layers = [
        (layer, dependencies(layer, providers), dependencies(layer, providers, optional=True))
        for layer in registry.derived_layers().values()
        if answerable(layer, providers)
    ]
    return layers_store.register_derived(conn, layers)


class DatabaseInputs:
    """The inputs of one computation, read inside its transaction."""

    def __init__(self, conn: Connection, providers: Mapping[str, Provider[Any]]) -> None:
        self._conn = conn
        self._providers = providers
        self._opened: dict[str, Any] = {}

    def frame(self, layer_id: str, crs: int = METRIC_CRS) -> gpd.GeoDataFrame:
        return store.read_layer_frame(self._conn, layer_id, crs)

    def table(self, layer_id: str) -> pd.DataFrame:
        return store.read_layer_table(self._conn, layer_id)

    def has(self, key: InputKey[Any]) -> bool:
        return key.name in self._providers

    def get(self, key: InputKey[T]) -> T:
        provider = self._providers.get(key.name)
        if provider is None:
            raise InputUnavailable(f"no pilot answers {key.name!r} ({key.description})")
        if key.name not in self._opened:
            self._opened[key.name] = provider.open(self._conn)
        return cast(T, self._opened[key.name])


def materialize(
    engine: Engine, layer: DerivedLayer, params: BaseModel, *, keep_runs: int = 32
) -> tuple[str, int]:
    """Compute (or find) the result for these parameters on the current inputs.

    Returns (cache key, feature count). Concurrent requests for the same result compute it once.
    """
    providers = registry.providers()
    depends_on = dependencies(layer, providers)
    with engine.begin() as conn:
        # The optional questions' layers key the result when they are loaded; their absence is no error.
        versions = store.input_versions(conn, depends_on + dependencies(layer, providers, optional=True))
        missing = sorted(set(depends_on) - set(versions))
        if missing:
            raise NotReady(f"derived layer {layer.id!r} needs layers that are not loaded: {missing}")
        key = cache_key(layer, params, versions)
        count = store.run_exists(conn, key)
        if count is not None:
            return key, count
        store.lock_result(conn, key)
        count = store.run_exists(conn, key)
        if count is not None:  # computed by a concurrent request while we waited
            return key, count
        try:
            frame = layer.compute(DatabaseInputs(conn, providers), params)
        except LookupError as exc:  # InputUnavailable included
            raise NotReady(f"derived layer {layer.id!r}: {exc}") from exc
        rows = feature_rows(layer, frame)
        store.insert_run(
            conn,
            cache_key=key,
            layer_id=layer.id,
            params=params.model_dump(mode="json"),
            input_versions=versions,
            rows=rows,
            computation=computation_of(layer, frame),
        )
        store.prune_runs(conn, layer.id, keep_runs)
    return key, len(rows)


def feature_rows(layer: DerivedLayer, frame: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """The computation's output as rows for storage: WGS84 WKB, declared properties as JSON."""
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


def computation_of(layer: DerivedLayer, frame: gpd.GeoDataFrame) -> dict[str, Any] | None:
    """The computation's account of itself (``frame.attrs``), checked to be a JSON object."""
    found = frame.attrs.get(COMPUTATION_ATTR)
    if found is None:
        return None
    if not isinstance(found, dict):
        raise TwinError(f"derived layer {layer.id!r}: attrs[{COMPUTATION_ATTR!r}] must be a dict")
    return cast(dict[str, Any], orjson.loads(orjson.dumps(found, default=_plain_default)))


def _plain_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _props_json(record: dict[str, Any]) -> str:
    clean = {k: _plain(v) for k, v in record.items()}
    return orjson.dumps(clean).decode()


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


__all__ = ["DatabaseInputs", "InputUnavailable", "cache_key", "dependencies", "materialize", "register_all"]
