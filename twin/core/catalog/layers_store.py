"""The layer registry."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from twin.core.catalog.specs import LayerSpec, join_provenance
from twin.core.derived.contract import DerivedLayer
from twin.core.imports.manifest import Manifest
from twin.core.tables import layer

MAX_LAYERS = 1000


def upsert_layer(
    conn: Connection,
    spec: LayerSpec,
    manifest: Manifest,
    content_hash: str,
    provenance: dict[str, object] | None = None,
) -> int:
    """Register or refresh a base layer; bump its data version only when its content changed.

    `provenance` replaces the manifest's when the data came from elsewhere (an upload).
    Returns the layer's data version after the call.
    """
    values: dict[str, Any] = {
        "title": spec.title,
        "description": spec.description,
        "kind": spec.kind,
        "geometry_type": spec.geometry_type,
        "table_name": spec.table_name,
        "source_ids": list(spec.source_ids),
        "temporal_column": spec.temporal_column,
        "options": spec.options(),
        **(provenance if provenance is not None else spec.provenance(manifest)),
    }
    return _upsert(conn, spec.id, values, content_hash)


def register_derived(
    conn: Connection, layers: Iterable[tuple[DerivedLayer, tuple[str, ...], tuple[str, ...]]]
) -> dict[str, int]:
    """Register every derived layer whose inputs are loaded, with provenance joined from its inputs.

    Each layer comes with the layer ids it needs (its inputs and the layers behind the questions it
    asks) and those it uses when loaded (behind its optional questions). Its data version moves
    whenever one of theirs does (or the computation's version), so caches keyed on it never serve
    results computed from old data. Returns {layer id: data version}.
    """
    registered = {
        row["id"]: row
        for row in conn.execute(select(layer).order_by(layer.c.id).limit(MAX_LAYERS)).mappings()
    }
    versions: dict[str, int] = {}
    for derived, depends_on, optional in layers:
        if not all(i in registered for i in depends_on):
            continue
        inputs = [registered[i] for i in (*depends_on, *optional) if i in registered]
        content_hash = hashlib.sha256(
            "|".join(
                [derived.id, derived.version, *(f"{r['id']}:{r['data_version']}" for r in inputs)]
            ).encode()
        ).hexdigest()
        provenance = join_provenance(
            [dict(r) for r in inputs],
            source="computed by the twin from: " + "; ".join(r["title"] for r in inputs),
        )
        values: dict[str, Any] = {
            "title": derived.title,
            "description": derived.description,
            "kind": "derived",
            "geometry_type": derived.geometry_type,
            "table_name": "derived_feature",
            "source_ids": sorted({s for r in inputs for s in r["source_ids"]}),
            **provenance,
            "source_url": None,
            "parameters": derived.parameters.model_json_schema(),
            "input_layers": [r["id"] for r in inputs],
        }
        versions[derived.id] = _upsert(conn, derived.id, values, content_hash)
    return versions


def touch(conn: Connection, layer_ids: Iterable[str]) -> dict[str, int]:
    """A new data version for layers written outside an import run (a batch of measurements posted to
    an API): caches keyed on the old one become unreachable. Returns {layer id: data version}."""
    rows = conn.execute(
        update(layer)
        .where(layer.c.id.in_(list(layer_ids)))
        .values(data_version=layer.c.data_version + 1, updated_at=func.now())
        .returning(layer.c.id, layer.c.data_version)
    )
    return {row.id: int(row.data_version) for row in rows}


def _upsert(conn: Connection, layer_id: str, values: dict[str, Any], content_hash: str) -> int:
    values = {**values, "content_hash": content_hash}
    current = conn.execute(select(layer).where(layer.c.id == layer_id).with_for_update()).mappings().first()
    if current is None:
        conn.execute(insert(layer).values(id=layer_id, data_version=1, **values))
        return 1
    version = int(current["data_version"])
    if current["content_hash"] != content_hash:
        version += 1
    elif all(current[key] == value for key, value in values.items()):
        return version
    conn.execute(
        update(layer)
        .where(layer.c.id == layer_id)
        .values(data_version=version, updated_at=func.now(), **values)
    )
    return version


async def list_layers(conn: AsyncConnection) -> list[dict[str, Any]]:
    result = await conn.execute(select(layer).order_by(layer.c.id).limit(MAX_LAYERS))
    return [dict(row) for row in result.mappings()]
