"""The HTML view of the API's resources: plain server-rendered pages, every value escaped."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any
from urllib.parse import quote

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2a33}
header{background:#12395b;color:#fff;padding:.7em 1.2em}
header a{color:#fff;text-decoration:none;margin-right:1em}
main{padding:1em 1.2em;max-width:72em}table{border-collapse:collapse;margin:.6em 0}
td,th{border:1px solid #cfd8dc;padding:.25em .6em;text-align:left;vertical-align:top}th{background:#eef3f6}
.real{background:#2e7d32;color:#fff;padding:0 .4em;border-radius:3px}
.synthetic{background:#c62828;color:#fff;padding:0 .4em;border-radius:3px}
code{background:#f3f5f7;padding:0 .2em}nav.paging a{margin-right:1em}
"""


def page(title: str, body: str, links: Iterable[Mapping[str, Any]] = ()) -> bytes:
    json_link = next((ln for ln in links if ln.get("rel") == "alternate"), None)
    alt = f' · <a href="{escape(json_link["href"])}">JSON</a>' if json_link else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)} · Lozenets Twin</title>"
        f"<style>{_STYLE}</style></head><body><header><a href='/'><b>Lozenets Twin</b></a>"
        "<a href='/collections'>Collections</a><a href='/map'>Map</a><a href='/docs'>API</a></header>"
        f"<main><h1>{escape(title)}</h1>{body}<p><small>{alt.lstrip(' ·')}</small></p></main></body></html>"
    ).encode()


def badge(synthetic: bool) -> str:
    return "<span class=synthetic>synthetic</span>" if synthetic else "<span class=real>real data</span>"


def table(rows: Iterable[tuple[str, Any]]) -> str:
    return (
        "<table>" + "".join(f"<tr><th>{escape(k)}</th><td>{_cell(v)}</td></tr>" for k, v in rows) + "</table>"
    )


def _cell(value: Any) -> str:
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return f"<a href='{escape(value)}'>{escape(value)}</a>"
    return escape("" if value is None else str(value))


def link_list(links: Iterable[Mapping[str, Any]]) -> str:
    items = "".join(
        f"<li><a href='{escape(ln['href'])}'>{escape(ln.get('title') or ln['rel'])}</a>"
        f" <small>({escape(ln['rel'])})</small></li>"
        for ln in links
    )
    return f"<ul>{items}</ul>"


def collections_page(collections: list[dict[str, Any]], links: list[dict[str, Any]]) -> bytes:
    rows = "".join(
        f"<tr><td><a href='/collections/{escape(c['id'])}'>{escape(c['title'])}</a>"
        f"<br><code>{escape(c['id'])}</code></td>"
        f"<td>{escape(c['kind'])}</td><td>{badge(c['synthetic'])}</td><td>{escape(c['licence'])}</td>"
        f"<td><a href='/collections/{escape(c['id'])}/items?f=html'>items</a> · "
        f"<a href='/map#{escape(c['id'])}'>map</a></td></tr>"
        for c in collections
    )
    head = "<tr><th>collection</th><th>kind</th><th>data</th><th>licence</th><th></th></tr>"
    body = f"<table>{head}{rows}</table>"
    return page("Collections", body, links)


def collection_page(c: dict[str, Any]) -> bytes:
    prov = c["provenance"]
    meta = table(
        [
            ("id", c["id"]),
            ("description", c["description"]),
            ("kind", c["kind"]),
            ("data", "synthetic" if prov["synthetic"] else "real"),
            ("source", prov["source"]),
            ("source URL", prov["sourceUrl"]),
            ("licence", prov["licence"]),
            ("attribution", prov["attribution"]),
            ("source date", prov["sourceDate"]),
            ("data version", c["dataVersion"]),
            ("extent (CRS84)", c["extent"]["spatial"]["bbox"][0] if c.get("extent") else None),
        ]
    )
    params = ""
    if c.get("parameters"):
        params = "<h2>Parameters</h2>" + table(
            (name, f"{spec.get('description', '')} (default {spec.get('default')})")
            for name, spec in c["parameters"].get("properties", {}).items()
        )
    return page(
        c["title"],
        badge(prov["synthetic"]) + meta + params + "<h2>Links</h2>" + link_list(c["links"]),
        c["links"],
    )


def items_page(
    title: str,
    features: list[dict[str, Any]],
    body_info: dict[str, Any],
    links: list[dict[str, Any]],
    item_query: str,
) -> bytes:
    names: list[str] = []
    for f in features:
        for k in f.get("properties") or {}:
            if k not in names:
                names.append(k)
    head = "<tr><th>id</th>" + "".join(f"<th>{escape(n)}</th>" for n in names) + "</tr>"
    rows = "".join(
        f"<tr><td><a href='{escape(_item_href(links, f['id'], item_query))}'>{escape(str(f['id']))}</a></td>"
        + "".join(f"<td>{_cell((f.get('properties') or {}).get(n))}</td>" for n in names)
        + "</tr>"
        for f in features
    )
    paging = "".join(
        f"<a href='{escape(ln['href'])}'>{escape(ln['rel'])}</a>"
        for ln in links
        if ln["rel"] in ("prev", "next")
    )
    summary = (
        f"<p>{body_info['numberReturned']} features"
        + (f" of {body_info['numberMatched']}" if body_info.get("numberMatched") is not None else "")
        + "</p>"
    )
    return page(title, summary + f"<table>{head}{rows}</table><nav class=paging>{paging}</nav>", links)


def _item_href(links: list[dict[str, Any]], feature_id: Any, item_query: str) -> str:
    """A feature's own page, with the derived layer's parameters that selected it."""
    collection = next(ln["href"] for ln in links if ln["rel"] == "collection")
    return f"{collection}/items/{quote(str(feature_id), safe='')}?{item_query}"


def feature_page(title: str, feature: dict[str, Any], links: list[dict[str, Any]]) -> bytes:
    props = table((feature.get("properties") or {}).items())
    geometry = feature.get("geometry") or {}
    return page(
        title,
        props + f"<p>geometry: <code>{escape(str(geometry.get('type')))}</code></p>" + link_list(links),
        links,
    )
