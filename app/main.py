"""The application factory. Nothing here runs at import time: settings are read and the database is
opened by `create_app` and its lifespan."""

from __future__ import annotations

import gc
import importlib
import importlib.util
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

import twin
from app.cors import Cors
from app.errors import install_error_handlers
from app.fastlane import FastLane
from app.fastpath import FrontCache, Serving
from app.middleware import Gzip, RequestLog
from app.negotiation import Responder
from app.openapi import install_openapi_30
from app.routes import derived, health, imports, meta, ogc, tiles
from app.routes import map as map_page
from twin.core import registry
from twin.core.cache import ResponseCache
from twin.core.imports.manifest import load_manifest
from twin.core.registry import pilots
from twin.core.serving import LayerService
from twin.platform.db import make_async_engine, make_sync_engine
from twin.platform.logs import AccessLog, configure_logging
from twin.platform.migrate import head_revision
from twin.platform.ratelimit import WriteLimiter
from twin.platform.reads import ReadRoute
from twin.platform.settings import Settings

CORE_ROUTERS = frozenset({"ogc", "derived", "tiles", "meta", "health", "imports", "map"})


def pilot_routers() -> Iterator[APIRouter]:
    """The router of each pilot that has one: module ``app.routes.<pilot name>``, attribute ``router``."""
    for pilot in pilots():
        if pilot.name in CORE_ROUTERS:
            raise ValueError(f"pilot {pilot.name!r} has the name of a core router: rename the pilot")
        name = f"app.routes.{pilot.name}"
        if importlib.util.find_spec(name) is not None:
            yield importlib.import_module(name).router


class TwinApp(FastAPI):
    """FastAPI with the front of the request path in front of FastAPI's own layers: the request log,
    CORS, the response cache, gzip and the fast lane see a request before FastAPI's error, telemetry
    and body-limit middleware, so that a cached answer or a fast-lane read leaves without them (they
    were a fifth of a cached answer's time, profiled). An error elsewhere still reaches FastAPI's error
    layer first (a 500 problem); the front then logs it, and gives the answer its CORS headers too."""

    front: ASGIApp | None = None
    serving: Serving | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.front is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self  # what Starlette sets; the front reads `serving` from it
        await self.front(scope, receive, send)

    async def behind_front(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the twin's HTTP application from settings (read from the environment when omitted)."""
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    manifest = load_manifest(settings.manifest)
    registry.check()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.manifest = manifest
        # The request log, when twin.http logs at INFO: each request queues its fields, a thread writes.
        requests_logged = logging.getLogger("twin.http").isEnabledFor(logging.INFO)
        app.state.access_log = AccessLog(sys.stderr, settings.log_format) if requests_logged else None
        app.state.head_revision = head_revision()
        app.state.engine = make_async_engine(settings)
        # Imports run in a worker thread with psycopg (COPY, one transaction); a small pool suffices.
        app.state.sync_engine = make_sync_engine(settings, pool_size=2)
        # Base-layer reads may go to streaming replicas (TWIN_READ_REPLICAS); the rest stays on the primary.
        reads = ReadRoute(settings, app.state.engine)
        app.state.layers = LayerService(settings, app.state.engine, app.state.sync_engine, reads)
        app.state.write_limiter = WriteLimiter(settings.write_rate_per_minute, settings.write_burst)
        app.state.responder = Responder(
            ResponseCache(settings.response_cache_mb * 2**20), settings.http_max_age
        )
        await app.state.layers.start()
        if isinstance(app, TwinApp):
            app.serving = Serving(
                app.state.layers, app.state.responder, app.state.access_log, not settings.require_read_key
            )
        # Everything made so far lives as long as the process: keep it out of every future collection,
        # or full collections of ~200k start-up objects stall requests for ~100 ms every few seconds.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            if isinstance(app, TwinApp):
                app.serving = None
            await app.state.layers.stop()
            await app.state.engine.dispose()
            app.state.sync_engine.dispose()
            if app.state.access_log is not None:
                app.state.access_log.close()

    app = TwinApp(
        title="Lozenets Twin",
        version=twin.__version__,
        description="Geospatial backend of the digital twin of Sofia's Lozenets district: layers, "
        "imports and derived results over PostGIS. Errors are RFC 9457 problem+json.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        # FastAPI asks OpenTelemetry on every request whether a provider is configured (7 % of a cached
        # answer, profiled): off unless TWIN_TELEMETRY asks for it.
        telemetry=None
        if settings.telemetry
        else {"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    install_error_handlers(app)
    install_openapi_30(app)
    # The front, outermost: the log sees every request; CORS comes next, so preflights leave before
    # the cache and every answer (cached ones too) gets its CORS headers; then the cache, gzip, and the
    # fast lane, which answers its reads with the app's own exception handlers; the rest is FastAPI's.
    app.front = RequestLog(
        Cors(
            FrontCache(Gzip(FastLane(app.behind_front), minimum_size=1024)),
            read_origins=settings.cors_read_origins,
            write_origins=settings.cors_write_origins,
        )
    )
    for router in (ogc.router, derived.router, tiles.router):
        app.include_router(router)
    for router in pilot_routers():
        app.include_router(router)
    for router in (meta.router, health.router, imports.router, map_page.router):
        app.include_router(router)
    map_page.mount_static(app)
    return app
