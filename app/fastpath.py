"""A pure-ASGI front for finished layer responses: a repeated GET is answered from memory before
routing, validation and dependency injection run (they cost more than the answer itself).

An entry is keyed by the layer catalog's fingerprint and everything of the request that can change
the body (path, query string, host, scheme, Accept, gzip). The fingerprint comes from the LISTEN
connection, so a change of data makes old entries unreachable at once; while that connection is
down, or when reads need an API key, every request takes the normal path.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from app.negotiation import FRONT_KEY, Responder, accepts_gzip_header, etag_matches
from twin.core.cache import CachedResponse
from twin.core.serving import LayerService
from twin.platform import clock
from twin.platform.logs import AccessLog


@dataclass(frozen=True, slots=True)
class Serving:
    """What the front reads on every request, as plain attributes of the app (`TwinApp.serving`, set by
    the lifespan): Starlette's `app.state` answers each attribute through a Python ``__getattr__``."""

    layers: LayerService
    responder: Responder
    access_log: AccessLog | None
    open_reads: bool
    """Reads need no API key: the front may answer them from the cache, the fast lane route them."""


def serving_of(scope: Scope) -> Serving | None:
    return getattr(scope.get("app"), "serving", None)


def front_key(scope: Scope, fingerprint: str) -> Hashable:
    headers = dict(scope["headers"])
    return (
        fingerprint,
        # Requests without `date` mean today in Sofia: yesterday's answers must not outlive midnight.
        clock.today_in_sofia(),
        scope["path"],
        scope["query_string"],
        headers.get(b"host", b""),
        scope.get("scheme", "http"),
        scope.get("root_path", ""),
        headers.get(b"accept", b""),
        accepts_gzip_header(headers.get(b"accept-encoding", b"").decode("latin-1")),
    )


class FrontCache:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        serving = serving_of(scope)
        fingerprint = (
            serving.layers.versions.current() if serving is not None and serving.open_reads else None
        )
        if serving is None or fingerprint is None:
            await self.app(scope, receive, send)
            return
        key = front_key(scope, fingerprint)
        entry = serving.responder.cache.get(key)
        if entry is None:
            scope.setdefault("state", {})[FRONT_KEY] = key
            await self.app(scope, receive, send)
            return
        await _send(entry, scope, send)


NOT_IN_304 = frozenset({b"content-encoding", b"content-length", b"content-type"})
"""A 304 carries the cache's headers, not the representation's (RFC 9110 §15.4.5)."""


async def _send(entry: CachedResponse, scope: Scope, send: Send) -> None:
    etag = entry.etag
    # Several If-None-Match fields are one comma-separated list (RFC 9110 §5.3).
    if_none_match = b", ".join(v for k, v in scope["headers"] if k == b"if-none-match") or None
    if etag is not None and if_none_match is not None and etag_matches(if_none_match.decode("latin-1"), etag):
        kept = [(k, v) for k, v in entry.raw_headers if k not in NOT_IN_304]
        await send({"type": "http.response.start", "status": 304, "headers": kept})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": entry.status, "headers": entry.hit_headers})
    await send({"type": "http.response.body", "body": entry.body})
