"""OGC API – Features (Parts 1, 2, 3) over the catalog: landing page, conformance, collections,
queryables, items and single features, in JSON and HTML."""

from __future__ import annotations

from html import escape
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from app import html
from app.deps import CollectionId, LayersDep, ResponderDep, read_access
from app.errors import PROBLEMS
from app.links import base_url, link, query_pairs, self_links, with_parameter
from app.negotiation import GEOJSON, HTML, JSON, Responder, etag_for, wants_html
from app.openapi import RESULT_QUERY, query_parameter
from twin.core.catalog.model import Collection
from twin.core.crs import CRS84, SUPPORTED, content_crs_header, parse_crs
from twin.core.features.query import reject_unknown
from twin.core.registry import pilots
from twin.core.serving import LayerService
from twin.platform.clock import utc_now_to_the_second

router = APIRouter(tags=["OGC API – Features"], dependencies=[Depends(read_access)])

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/sortables",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
]


def _render(
    request: Request,
    data: dict[str, Any],
    as_html: bool,
    html_body: bytes | None,
    etag: str,
    responder: Responder,
    media_type: str = JSON,
    extra: dict[str, str] | None = None,
) -> Response:
    if as_html:
        assert html_body is not None
        return responder.store(request, etag, html_body, HTML + "; charset=utf-8", extra)
    return responder.store(request, etag, orjson.dumps(data), media_type, extra)


# -- landing and conformance ------------------------------------------------------------------------
@router.get("/", summary="Landing page", responses=PROBLEMS)
async def landing(request: Request, layers: LayersDep, responder: ResponderDep) -> Response:
    """The API's entry point: what it offers, and links to everything."""
    as_html = wants_html(request)
    catalog = await layers.catalog()
    offers = [{"pilot": p.name, "title": p.title, "summary": p.summary} for p in pilots()]
    etag = etag_for("landing", catalog.fingerprint, str(request.url), as_html, repr(offers))
    if (early := responder.early(request, etag)) is not None:
        return early
    base = base_url(request)
    links = [
        *self_links(request, as_html),
        link(
            f"{base}/openapi.json",
            "service-desc",
            "application/vnd.oai.openapi+json;version=3.0",
            "OpenAPI definition",
        ),
        link(f"{base}/docs", "service-doc", HTML, "API documentation"),
        link(f"{base}/conformance", "conformance", JSON, "Conformance classes"),
        link(f"{base}/collections", "data", JSON, "Collections"),
        link(
            f"{base}/tileMatrixSets",
            "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes",
            JSON,
            "Tile matrix sets",
        ),
        link(f"{base}/map", "alternate", HTML, "Map of every collection"),
        link(f"{base}/readyz", "status", JSON, "Readiness"),
        link(f"{base}/layers", "describedby", JSON, "Layer registry with provenance"),
        link(f"{base}/imports", "related", JSON, "Import runs"),
        *(link(f"{base}{path}", "related", JSON, title) for p in pilots() for path, title in p.links),
    ]
    data = {
        "title": "Lozenets Twin",
        "description": "Geospatial backend of the digital twin of Sofia's Lozenets district: base layers "
        "loaded from open data and derived layers computed on request, each with its provenance.",
        "pilots": offers,
        "links": links,
    }
    body = None
    if as_html:
        listed = "".join(f"<li><b>{escape(o['title'])}</b>: {escape(o['summary'])}</li>" for o in offers)
        body = html.page(
            "Lozenets Twin", f"<p>{data['description']}</p><ul>{listed}</ul>" + html.link_list(links), links
        )
    return _render(request, data, as_html, body, etag, responder)


@router.get("/conformance", summary="Conformance classes", responses=PROBLEMS)
async def conformance(request: Request, responder: ResponderDep) -> Response:
    """The OGC conformance classes this API implements."""
    as_html = wants_html(request)
    etag = etag_for("conformance", as_html)
    if (early := responder.early(request, etag)) is not None:
        return early
    data = {"conformsTo": CONFORMANCE}
    body = (
        html.page(
            "Conformance", "<ul>" + "".join(f"<li><code>{c}</code></li>" for c in CONFORMANCE) + "</ul>"
        )
        if as_html
        else None
    )
    return _render(request, data, as_html, body, etag, responder)


# -- collections --------------------------------------------------------------------------------------
def collection_document(request: Request, c: Collection) -> dict[str, Any]:
    base = base_url(request)
    url = f"{base}/collections/{c.id}"
    links = [
        link(url, "self", JSON, "this collection"),
        link(f"{url}?f=html", "alternate", HTML, "as HTML"),
        link(f"{url}/items", "items", GEOJSON, "features as GeoJSON"),
        link(f"{url}/items?f=html", "items", HTML, "features as HTML"),
        link(
            f"{url}/queryables",
            "http://www.opengis.net/def/rel/ogc/1.0/queryables",
            "application/schema+json",
            "queryables",
        ),
        link(
            f"{url}/sortables",
            "http://www.opengis.net/def/rel/ogc/1.0/sortables",
            "application/schema+json",
            "sortables",
        ),
        link(
            f"{url}/tiles", "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", JSON, "vector tilesets"
        ),
        link(f"{base}/map#{c.id}", "alternate", HTML, "on the map"),
    ]
    if c.provenance.source_url:
        links.append(
            link(c.provenance.source_url.split("; ")[0], "license", "text/html", c.provenance.licence)
        )
    document: dict[str, Any] = {
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "itemType": "feature",
        "kind": c.kind,
        "crs": [crs.uri for crs in SUPPORTED],
        "storageCrs": CRS84 if c.srid == 4326 else f"http://www.opengis.net/def/crs/EPSG/0/{c.srid}",
        "attribution": c.provenance.attribution,
        "license": c.provenance.licence,
        "synthetic": c.provenance.synthetic,
        "provenance": c.provenance.as_dict(),
        "dataVersion": c.data_version,
        "updated": c.updated_at.isoformat(),
        "links": links,
    }
    if c.extent:
        document["extent"] = {"spatial": {"bbox": [list(c.extent)], "crs": CRS84}}
        if c.temporal_extent:
            start, end = c.temporal_extent
            document["extent"]["temporal"] = {
                "interval": [[start.isoformat() if start else None, end.isoformat() if end else None]],
                "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
            }
    if c.derived is not None:
        document["parameters"] = c.derived.parameters.model_json_schema()
    return document


@router.get("/collections", summary="Every collection (layer) of the twin", responses=PROBLEMS)
async def collections(request: Request, layers: LayersDep, responder: ResponderDep) -> Response:
    """Every layer as an OGC collection, with extent, provenance and links."""
    as_html = wants_html(request)
    catalog = await layers.catalog()
    etag = etag_for("collections", catalog.fingerprint, str(request.url), as_html)
    if (early := responder.early(request, etag)) is not None:
        return early
    documents = [collection_document(request, c) for c in catalog]
    links = self_links(request, as_html)
    data = {"collections": documents, "links": links}
    body = None
    if as_html:
        rows = [
            {
                "id": d["id"],
                "title": d["title"],
                "kind": d["kind"],
                "synthetic": d["synthetic"],
                "licence": d["license"],
            }
            for d in documents
        ]
        body = html.collections_page(rows, links)
    return _render(request, data, as_html, body, etag, responder)


@router.get("/collections/{collection_id}", summary="One collection", responses=PROBLEMS)
async def collection(
    collection_id: CollectionId, request: Request, layers: LayersDep, responder: ResponderDep
) -> Response:
    """A collection's description: extent, CRS, provenance, parameters (derived layers) and links."""
    as_html = wants_html(request)
    catalog = await layers.catalog()
    c = catalog.get(collection_id)
    etag = etag_for("collection", c.id, c.data_version, catalog.fingerprint, base_url(request), as_html)
    if (early := responder.early(request, etag)) is not None:
        return early
    data = collection_document(request, c)
    return _render(request, data, as_html, html.collection_page(data) if as_html else None, etag, responder)


def _property_schemas(c: Collection, with_geometry: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    if with_geometry:
        properties["geometry"] = {
            "title": "geometry",
            "format": f"geometry-{c.geometry_type.lower()}",
            "x-ogc-role": "primary-geometry",
        }
    for p in c.properties:
        schema: dict[str, Any] = {"title": p.name}
        if p.type in ("date", "datetime"):
            schema.update({"type": "string", "format": "date" if p.type == "date" else "date-time"})
        else:
            schema["type"] = p.type
        if p.description:
            schema["description"] = p.description
        properties[p.name] = schema
    return properties


async def _schema_document(
    kind: str, collection_id: str, request: Request, layers: LayerService, responder: Responder
) -> Response:
    as_html = wants_html(request, ("application/schema+json", JSON))
    c = (await layers.catalog()).get(collection_id)
    etag = etag_for(kind, c.id, c.data_version, base_url(request), as_html)
    if (early := responder.early(request, etag)) is not None:
        return early
    properties = _property_schemas(c, with_geometry=kind == "queryables")
    data = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{base_url(request)}/collections/{c.id}/{kind}",
        "type": "object",
        "title": c.title,
        "properties": properties,
        "additionalProperties": False,
    }
    rows = ((k, v.get("type") or v.get("format")) for k, v in properties.items())
    body = html.page(f"{kind.title()} of {c.title}", html.table(rows)) if as_html else None
    return _render(request, data, as_html, body, etag, responder, media_type="application/schema+json")


SCHEMA_DOCUMENT = {
    **PROBLEMS,
    200: {
        "content": {"application/schema+json": {"schema": {"type": "object"}}, HTML: {}},
        "description": "A JSON Schema (or HTML with f=html)",
    },
}


@router.get(
    "/collections/{collection_id}/queryables", summary="Queryable properties", responses=SCHEMA_DOCUMENT
)
async def queryables(
    collection_id: CollectionId, request: Request, layers: LayersDep, responder: ResponderDep
) -> Response:
    """The properties usable in `filter` and `name=value` filters, as JSON Schema."""
    return await _schema_document("queryables", collection_id, request, layers, responder)


@router.get(
    "/collections/{collection_id}/sortables", summary="Sortable properties", responses=SCHEMA_DOCUMENT
)
async def sortables(
    collection_id: CollectionId, request: Request, layers: LayersDep, responder: ResponderDep
) -> Response:
    """The properties usable in `sortby`, as JSON Schema."""
    return await _schema_document("sortables", collection_id, request, layers, responder)


# -- items --------------------------------------------------------------------------------------------
# Declared for the OpenAPI document only: the items route reads its parameters itself, since a
# collection adds its own (property filters, a derived layer's parameters).
ITEMS_PARAMETERS: list[dict[str, Any]] = [
    query_parameter(
        "limit", "Features per page (default and maximum: settings).", {"type": "integer", "minimum": 1}
    ),
    query_parameter("bbox", "minx,miny,maxx,maxy in bbox-crs (axis order of that CRS)."),
    query_parameter("bbox-crs", "CRS URI of bbox (default CRS84)."),
    query_parameter("crs", "CRS URI of the response geometries (default CRS84)."),
    query_parameter("datetime", "RFC 3339 instant or interval, on time-stamped collections."),
    query_parameter("filter", "CQL2-Text filter over the queryables."),
    query_parameter("filter-lang", "Only cql2-text.", {"type": "string", "enum": ["cql2-text"]}),
    query_parameter("sortby", "e.g. `-population,name`; see /sortables."),
    query_parameter("properties", "Comma-separated properties to return."),
    query_parameter("cursor", "Paging token from a next/prev link."),
    RESULT_QUERY,
    query_parameter("f", "Response format.", {"type": "string", "enum": ["json", "html"]}),
]


@router.get(
    "/collections/{collection_id}/items",
    summary="Features of a collection",
    responses={**PROBLEMS, 200: {"content": {GEOJSON: {}, HTML: {}}, "description": "A page of features"}},
    openapi_extra={"parameters": ITEMS_PARAMETERS},
)
async def items(
    collection_id: CollectionId, request: Request, layers: LayersDep, responder: ResponderDep
) -> Response:
    """A page of features as GeoJSON (or HTML): bbox, datetime, CQL2 filter, property filters (`name=value`),
    sortby, properties, crs; `next`/`prev` links page through without loss or repetition."""
    pairs = query_pairs(request)
    params = dict(pairs)  # as request.query_params: a repeated name keeps its last value
    as_html = wants_html(request, (GEOJSON, JSON), params)
    catalog = await layers.catalog()
    c = catalog.get(collection_id)
    query = layers.parse(c, params)
    choice = layers.choose(c, query.derived_params)
    # The links echo the request URL, so the URL itself (not only the normalised query) keys the body.
    etag = etag_for("items", c.id, c.data_version, query.canonical, choice.token, str(request.url), as_html)
    if (early := responder.early(request, etag)) is not None:
        return early
    c = await layers.bind(c, choice)
    page = await layers.page(c, query)
    url = f"{base_url(request)}/collections/{c.id}"
    links = self_links(request, as_html, GEOJSON)
    for rel, token in (("next", page.next_cursor), ("prev", page.prev_cursor)):
        if token:
            links.append(
                link(
                    with_parameter(request, pairs, "cursor", token),
                    rel,
                    HTML if as_html else GEOJSON,
                    f"{rel} page",
                )
            )
    links.append(link(url, "collection", JSON, c.title))
    stamp = utc_now_to_the_second()
    head = {"numberReturned": page.number_returned, "numberMatched": page.number_matched}
    extra = {"Content-Crs": content_crs_header(query.crs)}
    if as_html:
        features = orjson.loads(f"[{page.features}]")
        item_query = urlencode({**query.derived_params, "f": "html"})
        body = html.items_page(c.title, features, head, links, item_query)
        return responder.store(request, etag, body, HTML + "; charset=utf-8", extra)
    # PostGIS wrote every feature; only the envelope is assembled here, and nothing is re-encoded.
    tail: dict[str, Any] = {k: v for k, v in head.items() if v is not None}
    tail |= {"timeStamp": stamp, "links": links}
    if (computation := await layers.computation(c)) is not None:
        tail["computation"] = computation  # a foreign member (RFC 7946 §6.1): how this result was made
    body = (
        b'{"type":"FeatureCollection","features":[' + page.features.encode() + b"]," + orjson.dumps(tail)[1:]
    )
    return responder.store(request, etag, body, GEOJSON, extra)


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    summary="One feature",
    responses={**PROBLEMS, 200: {"content": {GEOJSON: {}, HTML: {}}, "description": "A feature"}},
    openapi_extra={"parameters": [RESULT_QUERY]},
)
async def item(
    collection_id: CollectionId,
    feature_id: Annotated[str, Path(max_length=200)],
    request: Request,
    layers: LayersDep,
    responder: ResponderDep,
    crs: Annotated[str | None, Query(description="CRS URI of the geometry (default CRS84).")] = None,
    f: Annotated[Literal["json", "html"] | None, Query(description="json or html")] = None,
) -> Response:
    """One feature by id, as GeoJSON (or HTML)."""
    as_html = wants_html(request, (GEOJSON, JSON))
    catalog = await layers.catalog()
    c = catalog.get(collection_id)
    derived_fields = layers.derived_fields(c)
    reject_unknown(request.query_params, {"crs", "f"} | derived_fields, "for a single feature")
    out = parse_crs(crs, "crs")
    choice = layers.choose(c, {k: v for k, v in request.query_params.items() if k in derived_fields})
    etag = etag_for(
        "item", c.id, c.data_version, feature_id, out.uri, choice.token, str(request.url), as_html
    )
    if (early := responder.early(request, etag)) is not None:
        return early
    c = await layers.bind(c, choice)
    text_ = await layers.feature(c, feature_id, out)
    url = f"{base_url(request)}/collections/{c.id}"
    links = [*self_links(request, as_html, GEOJSON), link(url, "collection", JSON, c.title)]
    extra = {"Content-Crs": content_crs_header(out)}
    if as_html:
        return responder.store(
            request,
            etag,
            html.feature_page(f"{c.title}: {feature_id}", orjson.loads(text_), links),
            HTML + "; charset=utf-8",
            extra,
        )
    body = text_.encode()[:-1] + b',"links":' + orjson.dumps(links) + b"}"
    return responder.store(request, etag, body, GEOJSON, extra)
