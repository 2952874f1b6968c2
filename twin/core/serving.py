"""Serving layers: the live catalog, derived layers computed on demand, and feature/tile queries.

The web layer asks this service; it answers in plain values (feature texts, cursors, tile bytes) and
never renders HTTP. It keeps the catalog current through :class:`twin.core.versions.LayerVersions`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from twin.core.catalog import store as catalog_store
from twin.core.catalog.model import Catalog, Collection
from twin.core.crs import Crs
from twin.core.derived import store as derived_store
from twin.core.derived.contract import RESULT_PARAMETER
from twin.core.derived.engine import cache_key, materialize, register_all
from twin.core.errors import InvalidParameter, NotFound
from twin.core.features import store as features_store
from twin.core.features.cursor import from_keys
from twin.core.features.query import ItemsQuery, parse_items_query
from twin.core.imports import store as import_runs
from twin.core.registry import derived_layers
from twin.core.versions import LayerVersions, announce
from twin.platform.db import ReadConnection, connect, database_url, libpq_url
from twin.platform.reads import ReadRoute
from twin.platform.settings import Settings

log = logging.getLogger("twin.serving")

T = TypeVar("T")

BOUND_TTL_SECONDS = 60.0
"""How long a known derived result is trusted without asking the database (results used within
the last ten minutes are never pruned, see twin.core.derived.store.prune_runs)."""


@dataclass(frozen=True)
class Page:
    features: str
    """The features' GeoJSON texts, joined with commas (as PostGIS wrote them)."""
    number_returned: int
    number_matched: int | None
    next_cursor: str | None
    prev_cursor: str | None


@dataclass(frozen=True)
class DerivedChoice:
    """Which result of a derived layer a request asks for: the one for these parameters (validated,
    defaults filled in), or a stored result named by ``result``. Empty for a base layer."""

    params: BaseModel | None = None
    result: str | None = None

    @property
    def token(self) -> str | None:
        """What distinguishes the answer in ETags and caches (today's default date included)."""
        if self.result is not None:
            return f"result:{self.result}"
        return None if self.params is None else self.params.model_dump_json()


class LayerService:
    def __init__(
        self, settings: Settings, engine: AsyncEngine, sync_engine: Engine, reads: ReadRoute | None = None
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sync_engine = sync_engine
        # Base-layer reads may go to a streaming replica; everything else stays on `engine`, the primary.
        self.reads = reads or ReadRoute(settings, engine)
        self._known_fingerprint: str | None = None
        self.versions = LayerVersions(
            libpq_url(database_url(settings)),
            self._read_fingerprint,
            connect_timeout=settings.db_connect_timeout,
        )
        self._catalog: Catalog | None = None
        self._lock = asyncio.Lock()
        self._layer_sizes: dict[tuple[object, ...], int] = {}
        """Features of a whole layer (no filter) per data version: counted once, not on each first page."""
        # (layer, data version, parameters) -> (stored result, when checked): a derived request whose
        # result is known costs no write and no extra round trip.
        self._bound: dict[tuple[str, int, str], tuple[str, float]] = {}
        # Derived computations are CPU-bound: a burst of new parameters queues instead of piling up.
        self._computing = asyncio.Semaphore(2)
        self._computations: dict[str, dict[str, Any] | None] = {}

    async def start(self) -> None:
        self.reads.start()
        self.versions.start()
        try:
            await anyio.to_thread.run_sync(self._register_derived)
        except (DBAPIError, OSError) as exc:  # the database may be down at start-up: imports do it later
            log.warning("derived layers not registered at start-up", extra={"error": str(exc)[:200]})

    def _register_derived(self) -> None:
        """A derived layer appears once its pilot is installed (and its inputs are loaded); imports whose
        process died (killed midway) are recorded as failed."""
        with self.sync_engine.begin() as conn:
            closed = import_runs.fail_interrupted(conn)
            register_all(conn)
            announce(conn, "derived")
        if closed:
            log.warning("imports interrupted by a stopped process marked failed", extra={"runs": closed})

    async def stop(self) -> None:
        await self.versions.stop()
        await self.reads.stop()

    async def _read_fingerprint(self) -> str:
        """The fingerprint on the primary. Every way this process learns of a change passes here (the
        change feed's notices, a request while it is not listening, its own writes): a new one moves the
        replicas' barrier before anyone can serve under it."""
        async with connect(self.engine) as conn:
            fingerprint = await catalog_store.fingerprint(conn)
        if fingerprint != self._known_fingerprint:
            await self.reads.changed()
            self._known_fingerprint = fingerprint
        return fingerprint

    async def catalog(self) -> Catalog:
        """The catalog as of now: rebuilt only when a layer was added or got new data."""
        fingerprint = await self.versions.fingerprint()
        current = self._catalog
        if current is not None and current.fingerprint == fingerprint:
            return current
        async with self._lock:
            if self._catalog is None or self._catalog.fingerprint != fingerprint:
                async with connect(self.engine) as conn:
                    self._catalog = await catalog_store.load_catalog(conn, derived_layers())
            return self._catalog

    async def after_write(self) -> None:
        """Called by this process after it changed data, before answering: no stale read follows (not
        from a replica either, even for a write that leaves the fingerprint as it was)."""
        await self.reads.changed()
        await self.versions.refresh()

    # -- derived layers ----------------------------------------------------------------------------
    @staticmethod
    def derived_fields(collection: Collection) -> frozenset[str]:
        """The request parameters a collection takes besides the standard ones: a derived layer's own,
        and ``result``."""
        if collection.derived is None:
            return frozenset()
        return frozenset(collection.derived.parameters.model_fields) | {RESULT_PARAMETER}

    @staticmethod
    def choose(collection: Collection, raw: Mapping[str, Any]) -> DerivedChoice:
        """The derived result a request asks for, its parameters validated once: a bad one is a 400
        naming it."""
        layer = collection.derived
        if layer is None:
            return DerivedChoice()
        if RESULT_PARAMETER in raw:
            others = sorted(set(raw) - {RESULT_PARAMETER})
            if others:
                raise InvalidParameter(
                    f"{RESULT_PARAMETER} names a stored result with its parameters: drop {others[0]!r}",
                    parameter=others[0],
                )
            return DerivedChoice(result=str(raw[RESULT_PARAMETER]))
        try:
            return DerivedChoice(params=layer.parameters.model_validate(dict(raw)))
        except ValidationError as exc:
            first = exc.errors()[0]
            name = ".".join(str(p) for p in first["loc"]) or "parameters"
            raise InvalidParameter(f"{name}: {first['msg']}", parameter=name) from exc

    async def bind(self, collection: Collection, choice: DerivedChoice) -> Collection:
        """A derived collection restricted to the chosen result, computed if needed (once; later calls
        find it stored)."""
        if collection.derived is None:
            return collection
        if choice.result is not None:
            return collection.bound_to(await self._stored(collection, choice.result))
        assert choice.params is not None
        token = (collection.id, collection.data_version, choice.params.model_dump_json())
        known = self._bound.get(token)
        if known is not None and time.monotonic() - known[1] < BOUND_TTL_SECONDS:
            return collection.bound_to(known[0])
        key, _count = await self.compute(collection, choice.params)
        self._remember(token, key)
        return collection.bound_to(key)

    async def compute(self, collection: Collection, params: BaseModel) -> tuple[str, int]:
        """The stored result for these parameters (computed now when there is none): (key, features)."""
        layer = collection.derived
        assert layer is not None
        async with self._computing:
            return await anyio.to_thread.run_sync(lambda: materialize(self.sync_engine, layer, params))

    async def _stored(self, collection: Collection, result: str) -> str:
        """A stored result named by a request, checked to be current: of this layer, computed by its
        present version from the data it depends on now (known ones are trusted for a minute)."""
        layer = collection.derived
        assert layer is not None
        token = (collection.id, collection.data_version, f"{RESULT_PARAMETER}:{result}")
        known = self._bound.get(token)
        if known is not None and time.monotonic() - known[1] < BOUND_TTL_SECONDS:
            return result
        async with connect(self.engine) as conn:
            run = await derived_store.read_run(conn, result)
            current = await derived_store.current_versions(conn, list(run["input_versions"]) if run else [])
        if run is None or run["layer_id"] != collection.id:
            raise NotFound(
                f"collection {collection.id!r} has no stored result {result!r} (results unused for a while "
                "are forgotten: POST the parameters again)",
                parameter=RESULT_PARAMETER,
            )
        try:
            params = layer.parameters.model_validate(run["params"])
        except ValidationError:
            params = None
        if current != run["input_versions"] or params is None or cache_key(layer, params, current) != result:
            raise NotFound(
                f"result {result!r} was computed from data (or by a computation) that has since been "
                "replaced; POST the parameters again",
                parameter=RESULT_PARAMETER,
            )
        self._remember(token, result)
        return result

    def _remember(self, token: tuple[str, int, str], key: str) -> None:
        if len(self._bound) > 10_000:
            self._bound.clear()
        self._bound[token] = (key, time.monotonic())

    async def computation(self, collection: Collection) -> dict[str, Any] | None:
        """The account a bound derived result gives of its computation (None for a base layer, or a
        computation that gave none). A result never changes, so its account is remembered."""
        key = collection.fixed_params.get("cache_key")
        if collection.derived is None or key is None:
            return None
        if key not in self._computations:
            async with connect(self.engine) as conn:
                found = await derived_store.computation(conn, key)
            if len(self._computations) > 1000:
                self._computations.clear()
            self._computations[key] = found
        return self._computations[key]

    async def derived_properties(
        self, collection: Collection, choice: DerivedChoice, limit: int = 10
    ) -> list[dict[str, Any]]:
        """The properties of a derived result (computed once, as for /items), for endpoints that answer
        figures rather than features."""
        bound = await self.bind(collection, choice)
        async with connect(self.engine) as conn:
            return await derived_store.result_properties(conn, bound.fixed_params["cache_key"], limit)

    # -- queries -------------------------------------------------------------------------------------
    def parse(self, collection: Collection, params: Mapping[str, str]) -> ItemsQuery:
        return parse_items_query(
            collection,
            params,
            default_limit=self.settings.items_default_limit,
            max_limit=self.settings.items_max_limit,
            derived_fields=self.derived_fields(collection),
        )

    async def _read(self, collection: Collection, work: Callable[[ReadConnection], Awaitable[T]]) -> T:
        """A base layer's rows may come from a replica; a derived result is read on the primary, where it
        was computed and written just before."""
        return await self.reads.read(work, prefer_replica=collection.derived is None)

    async def page(self, collection: Collection, query: ItemsQuery) -> Page:
        backwards = query.cursor is not None and not query.cursor.forward
        row, returned, more, matched = await self._read(
            collection, lambda conn: self._page_rows(conn, collection, query)
        )
        first, last = (
            (row["scan_last"], row["scan_first"]) if backwards else (row["scan_first"], row["scan_last"])
        )
        next_cursor = prev_cursor = None
        if returned and (more if not backwards else True):
            next_cursor = from_keys(last, True, matched, query.digest).encode()
        if returned and (more if backwards else query.cursor is not None):
            prev_cursor = from_keys(first, False, matched, query.digest).encode()
        return Page(row["features"] or "", returned, matched, next_cursor, prev_cursor)

    async def _page_rows(
        self, conn: ReadConnection, collection: Collection, query: ItemsQuery
    ) -> tuple[Mapping[str, Any], int, bool, int | None]:
        """The page's row, features returned, whether more follow, and numberMatched."""
        # numberMatched: carried by the cursor on later pages; an unfilled first page is its own
        # count; otherwise counted once, on the first page, for layers small enough (in the page's own
        # statement: one round trip). A whole layer's size is a fact of its data version: counted once
        # (a fifth of PostgreSQL's time on a 1,000-feature first page of 5,000, measured).
        size_key = None
        if not query.filters:
            fixed = repr(sorted(collection.fixed_params.items()))
            size_key = (collection.table, collection.fixed_sql, fixed, collection.data_version)
        known = self._layer_sizes.get(size_key) if size_key is not None else None
        count_matched = (
            query.cursor is None
            and known is None
            and collection.row_estimate <= self.settings.exact_count_max
        )
        row = await features_store.read_page(conn, collection, query, count_matched=count_matched)
        fetched = int(row["fetched"])
        more = fetched > query.limit
        returned = min(fetched, query.limit)
        matched: int | None
        if query.cursor is not None:
            matched = query.cursor.matched
        elif not more:
            matched = returned
        elif count_matched:
            matched = int(row["matched"])
        else:
            matched = known
        if size_key is not None and matched is not None and known is None and query.cursor is None:
            if len(self._layer_sizes) >= 4096:  # old data versions' sizes: drop them all, recount
                self._layer_sizes.clear()
            self._layer_sizes[size_key] = matched
        return row, returned, more, matched

    async def feature(self, collection: Collection, feature_id: str, crs: Crs) -> str:
        found = await self._read(
            collection, lambda conn: features_store.read_feature(conn, collection, feature_id, crs)
        )
        if found is None:
            raise NotFound(
                f"collection {collection.id!r} has no feature {feature_id!r}", featureId=feature_id
            )
        return found

    async def tile(self, collection: Collection, z: int, x: int, y: int) -> bytes:
        return await self._read(
            collection,
            lambda conn: features_store.read_tile(conn, collection, z, x, y, self.settings.tile_max_features),
        )
