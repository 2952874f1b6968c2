"""A pure-ASGI front for finished layer responses: a repeated GET is answered from memory before
routing, validation and dependency injection run (they cost more than the answer itself).

An entry is keyed by the layer catalog's fingerprint and everything of the request that can change
the body (path, query string, host, scheme, Accept, gzip). The fingerprint comes from the LISTEN
connection, so a change of data makes old entries unreachable at once; while that connection is
down, or when reads need an API key, every request takes the normal path.
"""

from __future__ import annotations

from collections.abc import Hashable

from starlette.types import ASGIApp, Receive, Scope, Send

from app.negotiation import FRONT_KEY, accepts_gzip_header, etag_matches
from twin.core.cache import CachedResponse
from twin.platform import clock


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
        state = getattr(scope.get("app"), "state", None)
        layers = getattr(state, "layers", None)
        responder = getattr(state, "responder", None)
        fingerprint = None
        if layers is not None and responder is not None and not layers.settings.require_read_key:
            fingerprint = layers.versions.current()
        if fingerprint is None or responder is None:
            await self.app(scope, receive, send)
            return
        key = front_key(scope, fingerprint)
        entry = responder.cache.get(key)
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
    headers = [*entry.raw_headers, (b"x-twin-cache", b"hit")]
    await send({"type": "http.response.start", "status": entry.status, "headers": headers})
    await send({"type": "http.response.body", "body": entry.body})
