"""Serving layers: the live catalog, derived layers computed on demand, and feature/tile queries.

The web layer asks this service; it answers in plain values (feature texts, cursors, tile bytes) and
never renders HTTP. It keeps the catalog current through :class:`twin.versions.LayerVersions`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from twin import features
from twin.catalog import Catalog, Collection
from twin.crs import Crs
from twin.db import connect, database_url, libpq_url
from twin.derived import materialize
from twin.errors import InvalidParameter, NotFound
from twin.repositories import catalog as catalog_repo
from twin.repositories import features as repo
from twin.scenarios import derived_layers
from twin.settings import Settings
from twin.tiles import tile_sql
from twin.versions import LayerVersions


@dataclass(frozen=True)
class Page:
    features: list[str]
    number_matched: int | None
    next_cursor: str | None
    prev_cursor: str | None


class LayerService:
    def __init__(self, settings: Settings, engine: AsyncEngine, sync_engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.sync_engine = sync_engine
        self.versions = LayerVersions(
            libpq_url(database_url(settings)),
            self._read_fingerprint,
            connect_timeout=settings.db_connect_timeout,
        )
        self._catalog: Catalog | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self.versions.start()

    async def stop(self) -> None:
        await self.versions.stop()

    async def _read_fingerprint(self) -> str:
        async with connect(self.engine) as conn:
            return await catalog_repo.fingerprint(conn)

    async def catalog(self) -> Catalog:
        """The catalog as of now: rebuilt only when a layer was added or got new data."""
        fingerprint = await self.versions.fingerprint()
        current = self._catalog
        if current is not None and current.fingerprint == fingerprint:
            return current
        async with self._lock:
            if self._catalog is None or self._catalog.fingerprint != fingerprint:
                async with connect(self.engine) as conn:
                    self._catalog = await catalog_repo.load_catalog(conn, derived_layers())
            return self._catalog

    async def after_write(self) -> None:
        """Called by this process after it changed data, before answering: no stale read follows."""
        await self.versions.refresh()

    # -- derived layers ----------------------------------------------------------------------------
    def derived_fields(self, collection: Collection) -> frozenset[str]:
        if collection.derived is None:
            return frozenset()
        return frozenset(collection.derived.parameters.model_fields)

    async def bind(self, collection: Collection, derived_params: Mapping[str, str]) -> Collection:
        """A derived collection computed for these parameters (once; later calls find it stored)."""
        layer = collection.derived
        if layer is None:
            return collection
        try:
            params = layer.parameters.model_validate(dict(derived_params))
        except ValidationError as exc:
            first = exc.errors()[0]
            name = ".".join(str(p) for p in first["loc"]) or "parameters"
            raise InvalidParameter(f"{name}: {first['msg']}", parameter=name) from exc
        key, _count = await anyio.to_thread.run_sync(lambda: materialize(self.sync_engine, layer, params))
        return collection.bound_to(key)

    # -- queries -------------------------------------------------------------------------------------
    def parse(self, collection: Collection, params: Mapping[str, str]) -> features.ItemsQuery:
        return features.parse_items_query(
            collection,
            params,
            default_limit=self.settings.items_default_limit,
            max_limit=self.settings.items_max_limit,
            derived_fields=self.derived_fields(collection),
        )

    async def page(self, collection: Collection, query: features.ItemsQuery) -> Page:
        sql, params = features.items_sql(collection, query)
        n_keys = len(query.sort)
        backwards = query.cursor is not None and not query.cursor.forward
        async with connect(self.engine) as conn:
            rows = list(await repo.page_rows(conn, sql, params))
            if query.cursor is not None:
                matched = query.cursor.matched
            elif 0 <= collection.row_estimate <= self.settings.exact_count_max or collection.row_estimate < 0:
                count_sql, count_params = features.count_sql(collection, query)
                matched = int(await repo.scalar(conn, count_sql, count_params))
            else:
                matched = None
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        if backwards:
            rows.reverse()
        next_cursor = prev_cursor = None
        if rows and (more if not backwards else True):
            next_cursor = features.cursor_after(rows[-1], n_keys, matched).encode()
        if rows and (more if backwards else query.cursor is not None):
            prev_cursor = features.cursor_before(rows[0], n_keys, matched).encode()
        return Page([r["feature"] for r in rows], matched, next_cursor, prev_cursor)

    async def feature(self, collection: Collection, feature_id: str, crs: Crs) -> str:
        built = features.item_sql(collection, feature_id, crs)
        text_ = None
        if built is not None:
            async with connect(self.engine) as conn:
                text_ = await repo.scalar(conn, *built)
        if text_ is None:
            raise NotFound(
                f"collection {collection.id!r} has no feature {feature_id!r}", featureId=feature_id
            )
        return str(text_)

    async def tile(self, collection: Collection, z: int, x: int, y: int) -> bytes:
        sql, params = tile_sql(collection, z, x, y, self.settings.tile_max_features)
        async with connect(self.engine) as conn:
            data: Any = await repo.scalar(conn, sql, params)
        return bytes(data or b"")
