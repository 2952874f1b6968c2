"""Serving layers: the live catalog, derived layers computed on demand, and feature/tile queries.

The web layer asks this service; it answers in plain values (feature texts, cursors, tile bytes) and
never renders HTTP. It keeps the catalog current through :class:`twin.versions.LayerVersions`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from twin import features
from twin.catalog import Catalog, Collection
from twin.crs import Crs
from twin.db import connect, database_url, libpq_url
from twin.derived import materialize
from twin.errors import InvalidParameter, NotFound
from twin.repositories import catalog as catalog_repo
from twin.repositories import derived as derived_repo
from twin.repositories import features as repo
from twin.repositories.layers import register_derived
from twin.scenarios import derived_layers
from twin.settings import Settings
from twin.tiles import tile_sql
from twin.versions import CHANNEL, LayerVersions

log = logging.getLogger("twin.serving")

BOUND_TTL_SECONDS = 60.0
"""How long a known derived result is trusted without asking the database (results used within
the last ten minutes are never pruned, see twin.repositories.derived.prune_runs)."""


@dataclass(frozen=True)
class Page:
    features: str
    """The features' GeoJSON texts, joined with commas (as PostGIS wrote them)."""
    number_returned: int
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
        # (layer, data version, parameters) -> (stored result, when checked): a derived request whose
        # result is known costs no write and no extra round trip.
        self._bound: dict[tuple[str, int, str], tuple[str, float]] = {}
        # Derived computations are CPU-bound: a burst of new parameters queues instead of piling up.
        self._computing = asyncio.Semaphore(2)

    async def start(self) -> None:
        self.versions.start()
        try:
            await anyio.to_thread.run_sync(self._register_derived)
        except (DBAPIError, OSError) as exc:  # the database may be down at start-up: imports do it later
            log.warning("derived layers not registered at start-up", extra={"error": str(exc)[:200]})

    def _register_derived(self) -> None:
        """A derived layer appears once its scenario is registered in code (and its inputs are loaded)."""
        with self.sync_engine.begin() as conn:
            register_derived(conn, derived_layers().values())
            conn.execute(text("SELECT pg_notify(:channel, 'derived')"), {"channel": CHANNEL})

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

    @staticmethod
    def parameters(collection: Collection, derived_params: Mapping[str, str]) -> BaseModel:
        """A derived layer's parameters, validated: a bad one is a 400 naming it."""
        assert collection.derived is not None
        try:
            return collection.derived.parameters.model_validate(dict(derived_params))
        except ValidationError as exc:
            first = exc.errors()[0]
            name = ".".join(str(p) for p in first["loc"]) or "parameters"
            raise InvalidParameter(f"{name}: {first['msg']}", parameter=name) from exc

    def resolved(self, collection: Collection, derived_params: Mapping[str, str]) -> str | None:
        """A derived layer's parameters with their defaults filled in (today's date, say), for ETags:
        the same URL on another day is another answer."""
        if collection.derived is None:
            return None
        return self.parameters(collection, derived_params).model_dump_json()

    async def derived_properties(
        self, collection: Collection, derived_params: Mapping[str, str], limit: int = 10
    ) -> list[dict[str, Any]]:
        """The properties of a derived result (computed once, as for /items), for endpoints that answer
        figures rather than features."""
        bound = await self.bind(collection, derived_params)
        async with connect(self.engine) as conn:
            return await derived_repo.result_properties(conn, bound.fixed_params["cache_key"], limit)

    async def bind(self, collection: Collection, derived_params: Mapping[str, str]) -> Collection:
        """A derived collection computed for these parameters (once; later calls find it stored)."""
        layer = collection.derived
        if layer is None:
            return collection
        params = self.parameters(collection, derived_params)
        token = (collection.id, collection.data_version, params.model_dump_json())
        known = self._bound.get(token)
        if known is not None and time.monotonic() - known[1] < BOUND_TTL_SECONDS:
            return collection.bound_to(known[0])
        async with self._computing:
            key, _count = await anyio.to_thread.run_sync(lambda: materialize(self.sync_engine, layer, params))
        if len(self._bound) > 10_000:
            self._bound.clear()
        self._bound[token] = (key, time.monotonic())
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
        backwards = query.cursor is not None and not query.cursor.forward
        sql, params = features.page_sql(collection, query)
        async with connect(self.engine) as conn:
            row = await repo.one_row(conn, sql, params)
            fetched = int(row["fetched"])
            more = fetched > query.limit
            returned = min(fetched, query.limit)
            # numberMatched: carried by the cursor on later pages; an unfilled first page is its own
            # count; otherwise counted once, on the first page, for layers small enough.
            if query.cursor is not None:
                matched = query.cursor.matched
            elif not more:
                matched = returned
            elif collection.row_estimate <= self.settings.exact_count_max:
                count_sql, count_params = features.count_sql(collection, query)
                matched = int(await repo.scalar(conn, count_sql, count_params))
            else:
                matched = None
        first, last = (
            (row["scan_last"], row["scan_first"]) if backwards else (row["scan_first"], row["scan_last"])
        )
        next_cursor = prev_cursor = None
        if returned and (more if not backwards else True):
            next_cursor = features.cursor_after(last, query, matched).encode()
        if returned and (more if backwards else query.cursor is not None):
            prev_cursor = features.cursor_before(first, query, matched).encode()
        return Page(row["features"] or "", returned, matched, next_cursor, prev_cursor)

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
