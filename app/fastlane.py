"""A fast lane for the read a GIS client makes most often for the first time: one feature by id
(identify, a click on the map). Pure ASGI: a request of that shape is answered by the same route
function, with the same checks, the same errors and the same caching, but without routing and without
FastAPI solving the route's dependencies — which cost more than the answer itself (profiled: about a
third of the request). Anything else, or any shape the lane does not know, goes the normal way.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

ITEM = re.compile(r"^/collections/([^/]{1,200})/items/([^/]{1,200})$")


class FastLane:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        match = ITEM.match(scope["path"])
        app = scope.get("app")
        state = getattr(app, "state", None)
        layers = getattr(state, "layers", None)
        responder = getattr(state, "responder", None)
        if match is None or layers is None or responder is None or layers.settings.require_read_key:
            await self.app(scope, receive, send)
            return
        from app.routes.ogc import item  # the route itself: one behaviour, two ways in

        request = Request(scope, receive)
        query = request.query_params
        try:
            response: Response = await item(
                unquote(match[1]),
                unquote(match[2]),
                request,
                layers,
                responder,
                crs=query.get("crs"),
                f=query.get("f"),
            )
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
