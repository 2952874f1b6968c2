"""The layer registry."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from twin.layers import LayerSpec
from twin.manifest import Manifest
from twin.models import layer

MAX_LAYERS = 1000


def upsert_layer(conn: Connection, spec: LayerSpec, manifest: Manifest, content_hash: str) -> int:
    """Register or refresh a layer; bump its data version only when its content changed.

    Returns the layer's data version after the call.
    """
    values: dict[str, Any] = {
        "title": spec.title,
        "description": spec.description,
        "kind": spec.kind,
        "geometry_type": spec.geometry_type,
        "table_name": spec.table_name,
        "source_ids": list(spec.source_ids),
        "content_hash": content_hash,
        **spec.provenance(manifest),
    }
    current = conn.execute(select(layer).where(layer.c.id == spec.id).with_for_update()).mappings().first()
    if current is None:
        conn.execute(insert(layer).values(id=spec.id, data_version=1, **values))
        return 1
    version = int(current["data_version"])
    if current["content_hash"] != content_hash:
        version += 1
    elif all(current[key] == value for key, value in values.items()):
        return version
    conn.execute(
        update(layer)
        .where(layer.c.id == spec.id)
        .values(data_version=version, updated_at=func.now(), **values)
    )
    return version


async def list_layers(conn: AsyncConnection) -> list[dict[str, Any]]:
    result = await conn.execute(select(layer).order_by(layer.c.id).limit(MAX_LAYERS))
    return [dict(row) for row in result.mappings()]
