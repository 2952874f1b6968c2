"""Links of the API's documents (OGC API style: href, rel, type, title)."""

from __future__ import annotations

from fastapi import Request

from app.negotiation import HTML, JSON


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


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
