"""A fast lane for the reads a GIS client makes most often for the first time: a page of features (a
new bounding box when panning), one feature by id (identify, a click on the map) and a vector tile.
Pure ASGI: a request of one of these shapes is answered by the same route function, with the same
checks, the same errors and the same caching, but without routing and without FastAPI solving the
route's dependencies — which cost more than the answer itself (profiled on one feature: about a third
of the request). Anything else, or any shape the lane does not know, goes the normal way.
"""

from __future__ import annotations

import re
from typing import Any, cast
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.fastpath import serving_of

# The routes themselves: one behaviour, two ways in.
from app.routes.ogc import item, items
from app.routes.tiles import tile

# The path parameters' bounds are the routes' own (max_length of CollectionId, feature ids, tiles).
ITEMS = re.compile(r"^/collections/([^/]{1,200})/items$")
ITEM = re.compile(r"^/collections/([^/]{1,200})/items/([^/]{1,200})$")
TILE = re.compile(r"^/collections/([^/]{1,200})/tiles/([^/]{1,100})/([^/]{1,12})/([^/]{1,12})/([^/]{1,12})$")


class FastLane:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not scope["path"].startswith("/collections/")
        ):
            await self.app(scope, receive, send)
            return
        app = scope.get("app")
        serving = serving_of(scope)
        if serving is None or not serving.open_reads:
            await self.app(scope, receive, send)  # reads that need a key take the routed path
            return
        layers, responder = serving.layers, serving.responder
        path = scope["path"]
        request = Request(scope, receive)
        try:
            if match := ITEMS.match(path):
                response: Response = await items(unquote(match[1]), request, layers, responder)
            elif match := ITEM.match(path):
                query = request.query_params
                response = await item(
                    unquote(match[1]),
                    unquote(match[2]),
                    request,
                    layers,
                    responder,
                    crs=query.get("crs"),
                    f=cast(Any, query.get("f")),  # checked by the route itself, as on the routed path
                )
            elif match := TILE.match(path):
                collection, tms, z, row, col = (unquote(part) for part in match.groups())
                response = await tile(collection, tms, z, row, col, request, layers, responder)
            else:
                await self.app(scope, receive, send)
                return
        except Exception as exc:  # answered as the app answers it: its own exception handlers
            response = await _handled(app, request, exc)
        await response(scope, receive, send)


async def _handled(app: Any, request: Request, exc: Exception) -> Response:
    for kind in type(exc).__mro__:
        handler = app.exception_handlers.get(kind)
        if handler is not None:
            response: Response = await handler(request, exc)
            return response
    raise exc
