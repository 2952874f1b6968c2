"""OGC API – Tiles: vector tiles (MVT, built by PostGIS's ST_AsMVT) of every collection, tilesets,
TileJSON for web maps, and the WebMercatorQuad tile matrix set."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from app.deps import CollectionId, LayersDep, ResponderDep, read_access
from app.errors import PROBLEMS
from app.links import base_url, link
from app.negotiation import JSON, MVT, etag_for
from app.openapi import RESULT_QUERY
from twin.core.catalog.model import Collection
from twin.core.features.query import reject_unknown
from twin.core.tiles import (
    MAX_ZOOM,
    TMS_ID,
    TMS_URI,
    check_tile,
    matrix_limits,
    parse_tile_numbers,
    parse_tms,
    tile_matrix_set,
)

router = APIRouter(tags=["OGC API – Tiles"], dependencies=[Depends(read_access)])


def _tiles_url(request: Request, c: Collection) -> str:
    return f"{base_url(request)}/collections/{c.id}/tiles/{TMS_ID}"


@router.get("/tileMatrixSets", summary="Tile matrix sets")
async def tile_matrix_sets(request: Request) -> dict[str, Any]:
    """The tile matrix sets offered (WebMercatorQuad)."""
    href = f"{base_url(request)}/tileMatrixSets/{TMS_ID}"
    return {
        "tileMatrixSets": [
            {
                "id": TMS_ID,
                "title": "Google Maps Compatible for the World",
                "uri": TMS_URI,
                "links": [link(href, "self", JSON, TMS_ID)],
            }
        ]
    }


@router.get("/tileMatrixSets/{tms}", summary="A tile matrix set definition", responses=PROBLEMS)
async def tile_matrix_set_definition(tms: Annotated[str, Path(max_length=100)]) -> dict[str, Any]:
    """The OGC TMS 2.0 definition of a tile matrix set."""
    parse_tms(tms)
    return tile_matrix_set()


@router.get(
    "/collections/{collection_id}/tiles", summary="Vector tilesets of a collection", responses=PROBLEMS
)
async def tilesets(collection_id: CollectionId, request: Request, layers: LayersDep) -> dict[str, Any]:
    """The vector tilesets of a collection (one, in WebMercatorQuad)."""
    c = (await layers.catalog()).get(collection_id)
    url = _tiles_url(request, c)
    return {
        "tilesets": [
            {
                "title": c.title,
                "dataType": "vector",
                "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
                "tileMatrixSetURI": TMS_URI,
                "links": [
                    link(url, "self", JSON, "tileset"),
                    link(f"{url}/tilejson", "alternate", JSON, "TileJSON"),
                    link(f"{url}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}", "item", MVT, "tiles"),
                ],
            }
        ]
    }


@router.get("/collections/{collection_id}/tiles/{tms}", summary="A vector tileset", responses=PROBLEMS)
async def tileset(
    collection_id: CollectionId,
    tms: Annotated[str, Path(max_length=100)],
    request: Request,
    layers: LayersDep,
) -> dict[str, Any]:
    """A tileset's metadata: its tile matrix set, limits per zoom, layer and fields."""
    parse_tms(tms)
    c = (await layers.catalog()).get(collection_id)
    url = _tiles_url(request, c)
    return {
        "title": c.title,
        "dataType": "vector",
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "tileMatrixSetURI": TMS_URI,
        "tileMatrixSetLimits": matrix_limits(c.extent, 0, MAX_ZOOM),
        "layers": [
            {
                "id": c.id,
                "dataType": "vector",
                "geometryDimension": 2
                if "Polygon" in c.geometry_type
                else 1
                if "Line" in c.geometry_type
                else 0,
                "propertiesSchema": {
                    "type": "object",
                    "properties": {p.name: {"type": p.type} for p in c.properties},
                },
            }
        ],
        "links": [
            link(url, "self", JSON, "this tileset"),
            link(f"{url}/tilejson", "alternate", JSON, "TileJSON"),
            link(
                f"{base_url(request)}/tileMatrixSets/{TMS_ID}",
                "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
                JSON,
                TMS_ID,
            ),
            link(f"{url}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}", "item", MVT, "tiles"),
        ],
    }


@router.get(
    "/collections/{collection_id}/tiles/{tms}/tilejson",
    summary="TileJSON 3.0 for web maps",
    responses=PROBLEMS,
)
async def tilejson(
    collection_id: CollectionId,
    tms: Annotated[str, Path(max_length=100)],
    request: Request,
    layers: LayersDep,
) -> dict[str, Any]:
    """TileJSON 3.0.0 of a collection's vector tiles (what MapLibre and Leaflet plugins read)."""
    parse_tms(tms)
    c = (await layers.catalog()).get(collection_id)
    query = str(request.url.query)
    suffix = f"?{query}" if query else ""
    bounds = list(c.extent) if c.extent else [-180.0, -85.0511, 180.0, 85.0511]
    return {
        "tilejson": "3.0.0",
        "name": c.title,
        "description": c.description,
        "attribution": c.provenance.attribution + (" (synthetic data)" if c.provenance.synthetic else ""),
        "scheme": "xyz",
        "tiles": [f"{_tiles_url(request, c)}/{{z}}/{{y}}/{{x}}{suffix}"],
        "minzoom": 0,
        "maxzoom": MAX_ZOOM,
        "bounds": bounds,
        "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, 14],
        "vector_layers": [
            {
                "id": c.id,
                "description": c.title,
                "fields": {p.name: p.type for p in c.properties},
                "minzoom": 0,
                "maxzoom": MAX_ZOOM,
            }
        ],
    }


@router.get(
    "/collections/{collection_id}/tiles/{tms}/{tile_matrix}/{tile_row}/{tile_col}",
    summary="A vector tile (MVT)",
    responses={
        **PROBLEMS,
        200: {"content": {MVT: {}}, "description": "A tile"},
        204: {"description": "No feature in this tile"},
    },
    openapi_extra={"parameters": [RESULT_QUERY]},
)
async def tile(
    collection_id: CollectionId,
    tms: Annotated[str, Path(max_length=100)],
    tile_matrix: Annotated[str, Path(max_length=12)],
    tile_row: Annotated[str, Path(max_length=12)],
    tile_col: Annotated[str, Path(max_length=12)],
    request: Request,
    layers: LayersDep,
    responder: ResponderDep,
) -> Response:
    """One Mapbox Vector Tile; 204 when no feature meets it. Derived layers take their parameters."""
    parse_tms(tms)
    z, y, x = parse_tile_numbers(tile_matrix, tile_row, tile_col)
    check_tile(z, y, x)
    c = (await layers.catalog()).get(collection_id)
    params = dict(request.query_params)
    reject_unknown(params, layers.derived_fields(c), f"for a tile of {c.id!r}")
    choice = layers.choose(c, params)
    etag = etag_for("tile", c.id, c.data_version, z, x, y, tuple(sorted(params.items())), choice.token)
    if (early := responder.early(request, etag)) is not None:
        return early
    bound = await layers.bind(c, choice)
    data = await layers.tile(bound, z, x, y)
    if not data:
        return responder.store(request, etag, b"", MVT, status=204)
    return responder.store(request, etag, data, MVT)
