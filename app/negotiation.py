"""Content negotiation, ETags and cached responses, shared by the layer routers."""

from __future__ import annotations

import functools
import gzip
import hashlib
from collections.abc import Hashable, Mapping

from fastapi import Request
from starlette.responses import Response

from twin.core.cache import CachedResponse, ResponseCache
from twin.core.errors import InvalidParameter, NotAcceptable

JSON = "application/json"
GEOJSON = "application/geo+json"
HTML = "text/html"
MVT = "application/vnd.mapbox-vector-tile"

FRONT_KEY = "twin_front_key"
"""Where app.fastpath leaves the front-cache key of a request it could not answer."""
GZIP_MIN_BYTES = 1024
GZIP_LEVEL = 5  # level 9 costs ~5x the time for a few percent fewer bytes


def wants_html(
    request: Request, offered: tuple[str, ...] = (JSON,), params: Mapping[str, str] | None = None
) -> bool:
    """HTML or the route's JSON representation (whose media types are `offered`, the first the one
    it answers with): `f=html|json` wins; otherwise the Accept header by RFC 9110 §12.5.1 — each type
    weighed by the most specific range that matches it, a q of 0 meaning "not this", ties to JSON (GIS
    clients send */*). Neither acceptable is a 406. `params`: the query, when the route has parsed it."""
    f = (request.query_params if params is None else params).get("f")
    if f is not None:
        if f == "html":
            return True
        if f in ("json", "geojson", "application/json", "application/geo+json"):
            return False
        raise InvalidParameter(f"f must be 'json' or 'html', got {f!r}", parameter="f")
    accept = request.headers.get("accept")
    if not accept or not accept.strip():
        return False
    html_preferred = _html_preferred(accept, offered)
    if html_preferred is None:
        raise NotAcceptable(
            f"Accept {accept[:200]!r} allows none of what this resource offers: "
            f"{', '.join((*offered, HTML))} (or ask with f=json or f=html)"
        )
    return html_preferred


@functools.lru_cache(maxsize=512)  # bounded: the header is the client's to choose
def _html_preferred(accept: str, offered: tuple[str, ...]) -> bool | None:
    """Whether an Accept header prefers HTML to the offered JSON types; None when it allows neither.
    Remembered per header: a client sends the same one every time (a browser's costs 5 µs to weigh)."""
    as_json = max(quality(accept, media_type) for media_type in offered)
    as_html = quality(accept, HTML)
    if as_json <= 0 and as_html <= 0:
        return None
    return as_html > as_json


def quality(accept: str, media_type: str) -> float:
    """The q an Accept header gives a media type: that of the most specific range matching it (the
    type itself, then type/*, then */*), 0 when none does. Parameters other than q are ignored."""
    major = media_type.split("/")[0]
    specificity_of = {media_type: 3, f"{major}/*": 2, "*/*": 1}
    found: dict[int, float] = {}
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        kind, q = fields[0].lower(), 1.0
        for f in fields[1:]:
            if f.lower().startswith("q="):
                try:
                    q = min(max(float(f[2:]), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        specificity = specificity_of.get(kind)
        if specificity is not None:
            found[specificity] = max(found.get(specificity, 0.0), q)
    return found[max(found)] if found else 0.0


def accepts_gzip(request: Request) -> bool:
    return accepts_gzip_header(request.headers.get("accept-encoding", ""))


@functools.lru_cache(maxsize=256)
def accepts_gzip_header(value: str) -> bool:
    """Whether an Accept-Encoding allows gzip: named with a q above 0, or not named and ``*`` allowed.
    Remembered per header value: clients send a handful of values, and every request asks."""
    gzip_q: float | None = None
    any_q: float | None = None
    for part in value.split(","):
        fields = [f.strip() for f in part.split(";")]
        coding, q = fields[0].lower(), 1.0
        for f in fields[1:]:
            if f.replace(" ", "").lower().startswith("q="):
                try:
                    q = float(f.replace(" ", "")[2:])
                except ValueError:
                    q = 0.0
        if coding in ("gzip", "x-gzip"):
            gzip_q = max(gzip_q or 0.0, q)
        elif coding == "*":
            any_q = q
    if gzip_q is not None:
        return gzip_q > 0
    return any_q is not None and any_q > 0


def etag_for(*parts: Hashable) -> str:
    return '"' + hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest() + '"'


def _gzip_tag(etag: str) -> str:
    return etag[:-1] + '-gz"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names this entity tag (weak comparison, as RFC 9110 asks), in
    either content coding."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":  # any current representation (RFC 9110 §13.1.2): this one exists
        return True
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return etag in tags or _gzip_tag(etag) in tags


def not_modified(request: Request, etag: str) -> bool:
    """The client already holds this representation (in either content coding)."""
    return etag_matches(request.headers.get("if-none-match"), etag)


class StoredResponse(Response):
    """A stored entry as the response that made it: the status, body and headers the cache keeps
    (encoded once, for this answer and every hit after it). Starlette's constructor would encode the
    same headers again (profiled: 3 % of a cold one-feature answer)."""

    def __init__(self, entry: CachedResponse, *extra: tuple[bytes, bytes]) -> None:
        self.status_code = entry.status
        self.body = entry.body
        self.media_type = entry.media_type
        self.background = None
        self.raw_headers = [*entry.raw_headers, *extra]


class Responder:
    """Builds layer responses with ETag and Cache-Control, keeps finished ones in memory, and gzips
    them once (a strong ETag per content coding, as RFC 9110 requires)."""

    def __init__(self, cache: ResponseCache, max_age: int) -> None:
        self.cache = cache
        self.cache_control = f"public, max-age={max_age}, must-revalidate"

    def headers(self, etag: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            "ETag": etag,
            "Cache-Control": self.cache_control,
            "Vary": "Accept, Accept-Encoding",
            **(extra or {}),
        }

    def not_modified(self, request: Request, etag: str) -> Response:
        tag = _gzip_tag(etag) if accepts_gzip(request) else etag
        return Response(status_code=304, headers=self.headers(tag))

    def early(self, request: Request, etag: str) -> Response | None:
        """The answer when it needs no work: 304 when the client holds it, the stored bytes when this
        worker made it before; None otherwise (build it, then :meth:`store` it)."""
        if not_modified(request, etag):
            return self.not_modified(request, etag)
        return self.cached(request, etag)

    def cached(self, request: Request, etag: str) -> Response | None:
        entry = self.cache.get((etag, accepts_gzip(request)))
        if entry is None:
            return None
        front = request.scope.get("state", {}).get(FRONT_KEY)
        if front is not None:
            # The same answer under a request shape not seen before (other Accept or Host, say): from
            # now on it is served before routing too.
            self.cache.put(front, entry)
        # "hit" is the front cache's (before routing); this one was found by the route, by its ETag.
        return StoredResponse(entry, (b"x-twin-cache", b"etag"))

    def store(
        self,
        request: Request,
        etag: str,
        body: bytes,
        media_type: str,
        extra: dict[str, str] | None = None,
        status: int = 200,
    ) -> Response:
        zipped = accepts_gzip(request) and len(body) >= GZIP_MIN_BYTES
        if zipped:
            body = gzip.compress(body, compresslevel=GZIP_LEVEL)
            headers = self.headers(_gzip_tag(etag), {**(extra or {}), "Content-Encoding": "gzip"})
        else:
            headers = self.headers(etag, extra)
        entry = CachedResponse(body, media_type, tuple(headers.items()), status)
        self.cache.put((etag, accepts_gzip(request)), entry)
        front = request.scope.get("state", {}).get(FRONT_KEY)
        if front is not None:  # the same bytes, reachable before routing next time (see app.fastpath)
            self.cache.put(front, entry)
        return StoredResponse(entry)
