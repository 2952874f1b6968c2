"""Cross-origin access (the Fetch standard's CORS protocol), as pure ASGI: a browser app on another
origin may read every layer (by default from any origin) and may write only from the origins the
settings name; preflights are answered here, before routing.

- A read (GET, HEAD) from an allowed origin gets ``Access-Control-Allow-Origin`` (``*`` when every
  origin may read, else the origin itself with ``Vary: Origin``) and the headers a GIS client needs
  exposed (ETag, Link, Content-Crs, …).
- A write from an origin in the write list gets the origin back; from any other origin, nothing: the
  browser withholds the answer (the request itself still needs its API key).
- A preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered 204 with what that
  origin may do, or 403 problem+json naming the origin and method it may not use.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

READ_METHODS = frozenset({"GET", "HEAD"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ALLOWED_HEADERS = (
    "Accept",
    "Accept-Language",
    "Content-Language",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "If-Modified-Since",
    "Authorization",
    "X-API-Key",
)
EXPOSED_HEADERS = (
    b"ETag, Link, Location, Content-Crs, Content-Encoding, Retry-After, X-Request-Id, "
    b"OGC-NumberMatched, OGC-NumberReturned"
)
MAX_AGE_S = "600"


def origins(setting: str) -> frozenset[str]:
    return frozenset(o.strip().rstrip("/") for o in setting.split(",") if o.strip())


class Cors:
    def __init__(self, app: ASGIApp, read_origins: str = "*", write_origins: str = "") -> None:
        self.app = app
        self.read = origins(read_origins)
        self.write = origins(write_origins)
        self.read_any = "*" in self.read

    def may(self, origin: str, method: str) -> bool:
        if method in READ_METHODS or method == "OPTIONS":
            return self.read_any or origin in self.read or origin in self.write
        return origin in self.write

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_origin = headers.get(b"origin")
        if raw_origin is None:
            await self.app(scope, receive, send)
            return
        origin = raw_origin.decode("latin-1")
        method = scope["method"]
        requested = headers.get(b"access-control-request-method")
        if method == "OPTIONS" and requested is not None:
            await self.preflight(origin, requested.decode("latin-1").upper(), headers, send)
            return
        allowed = self.may(origin, method)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    *self.response_headers(origin, method, allowed),
                ]
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def response_headers(self, origin: str, method: str, allowed: bool) -> list[tuple[bytes, bytes]]:
        if not allowed:
            return [] if self.read_any and method in READ_METHODS else [(b"vary", b"Origin")]
        if self.read_any and method in READ_METHODS:
            value = b"*"
            extra: list[tuple[bytes, bytes]] = []
        else:
            value = origin.encode("latin-1")
            extra = [(b"vary", b"Origin")]
        return [
            (b"access-control-allow-origin", value),
            (b"access-control-expose-headers", EXPOSED_HEADERS),
            *extra,
        ]

    async def preflight(self, origin: str, requested: str, headers: dict[bytes, bytes], send: Send) -> None:
        methods = sorted(READ_METHODS | {"OPTIONS"} | (WRITE_METHODS if origin in self.write else set()))
        known = requested in READ_METHODS | WRITE_METHODS | {"OPTIONS"}
        if not known or not self.may(origin, requested):
            reason = (
                f"method {requested!r} is not one this API answers"
                if not known
                else f"origin {origin!r} may not use {requested} here: writes from a browser need an origin "
                "listed in TWIN_CORS_WRITE_ORIGINS"
                if requested in WRITE_METHODS
                else f"origin {origin!r} may not read here (TWIN_CORS_READ_ORIGINS)"
            )
            body = orjson.dumps(
                {"type": "/problems/forbidden", "title": "Forbidden", "status": 403, "detail": reason}
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 403,
                    "headers": [
                        (b"content-type", b"application/problem+json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        asked = headers.get(b"access-control-request-headers", b"").decode("latin-1")
        allowed_lower = {h.lower() for h in ALLOWED_HEADERS}
        extra = [h.strip() for h in asked.split(",") if h.strip() and h.strip().lower() not in allowed_lower]
        allow_origin = b"*" if self.read_any and requested in READ_METHODS else origin.encode("latin-1")
        response = [
            (b"access-control-allow-origin", allow_origin),
            (b"access-control-allow-methods", ", ".join(methods).encode()),
            (b"access-control-allow-headers", ", ".join(ALLOWED_HEADERS).encode()),
            (b"access-control-max-age", MAX_AGE_S.encode()),
            (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
            (b"content-length", b"0"),
        ]
        if extra:
            # Headers outside the list are not granted: the browser then refuses the request and says which.
            response.append((b"x-twin-cors-refused-headers", ", ".join(extra).encode("latin-1")))
        await send({"type": "http.response.start", "status": 204, "headers": response})
        await send({"type": "http.response.body", "body": b""})
