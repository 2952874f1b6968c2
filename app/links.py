"""Links of the API's documents (OGC API style: href, rel, type, title)."""

from __future__ import annotations

import functools
import re
from urllib.parse import parse_qsl, quote_plus

from fastapi import Request
from starlette.datastructures import URL

from app.negotiation import HTML, JSON


def base_url(request: Request) -> str:
    """Starlette's ``request.base_url`` without its trailing slash, made once per scheme, Host, server and
    root path (Starlette copies the scope and parses a URL on every request: 5 % of a cold feature)."""
    scope = request.scope
    host = next((value for name, value in scope["headers"] if name == b"host"), None)
    server = scope.get("server")
    return _base_url(
        scope.get("scheme", "http"),
        host,
        tuple(server) if server else None,
        scope.get("app_root_path", scope.get("root_path", "")),
    )


@functools.lru_cache(maxsize=256)  # bounded: Host is the client's to choose
def _base_url(scheme: str, host: bytes | None, server: tuple[str, int] | None, root_path: str) -> str:
    scope = {
        "type": "http",
        "scheme": scheme,
        "headers": [(b"host", host)] if host is not None else [],
        "server": server,
        "root_path": root_path,
        "path": root_path if root_path.endswith("/") else root_path + "/",
        "query_string": b"",
    }
    return str(URL(scope=scope)).rstrip("/")


def link(href: str, rel: str, type_: str, title: str | None = None) -> dict[str, str]:
    found = {"href": href, "rel": rel, "type": type_}
    if title:
        found["title"] = title
    return found


def self_links(request: Request, as_html: bool, json_type: str = JSON) -> list[dict[str, str]]:
    """``self`` and ``alternate`` of the requested document, in the format asked and the other one."""
    query: bytes = request.scope.get("query_string", b"")
    if b"f=" not in query:
        # The common case, on every page and feature: no format in the URL. Appending is enough, and
        # costs far less than parsing and re-encoding the query (a tenth of a cold request, profiled).
        here = str(request.url)
        separator = "&" if query else "?"
        json_href, html_href = f"{here}{separator}f=json", f"{here}{separator}f=html"
    else:
        here = str(request.url.remove_query_params("f"))
        json_href = str(request.url.include_query_params(f="json"))
        html_href = str(request.url.include_query_params(f="html"))
    if as_html:
        return [
            link(html_href, "self", HTML, "this document"),
            link(json_href, "alternate", json_type, "as JSON"),
        ]
    return [link(here, "self", json_type, "this document"), link(html_href, "alternate", HTML, "as HTML")]


def query_pairs(request: Request) -> list[tuple[str, str]]:
    """The query's (name, value) pairs as Starlette parses them (``parse_qsl``, blank values kept), split
    by hand when no piece needs unquoting: the common case, at a fraction of parse_qsl's cost (profiled
    at a tenth of a cold page's own Python, with the query string's re-encoding for its next link)."""
    text = request.scope.get("query_string", b"").decode("latin-1")
    if "%" in text or "+" in text:
        return parse_qsl(text, keep_blank_values=True)
    pairs = []
    for piece in text.split("&"):
        if piece:
            name, _, value = piece.partition("=")
            pairs.append((name, value))
    return pairs


_LEFT_AS_IS = re.compile(r"[A-Za-z0-9_.~-]*")
"""What ``quote_plus`` returns unchanged."""


def with_parameter(request: Request, pairs: list[tuple[str, str]], name: str, value: str) -> str:
    """``str(request.url.include_query_params(name=value))`` from the request's parsed `pairs`: the same
    URL (the parameter replaced, or added last; every pair quoted as urlencode quotes it)."""
    if not request.scope.get("query_string", b"").isascii():
        # Starlette's URL reads raw bytes beyond ASCII as UTF-8 (its query_params as Latin-1): its own way.
        return str(request.url.include_query_params(**{name: value}))
    kept = [(k, v) for k, v in pairs if k != name]
    kept.append((name, value))
    query = "&".join(f"{_quoted(k)}={_quoted(v)}" for k, v in kept)
    return str(request.url).split("?", 1)[0] + "?" + query


def _quoted(text: str) -> str:
    return text if _LEFT_AS_IS.fullmatch(text) else quote_plus(text)
