"""Derived results from a request body: the parameters of a derived layer sent as JSON (any of them,
geometries included), computed once and stored; the result is then served like any other collection,
with `?result=<id>` on items, single features and tiles."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request

from app.deps import CollectionId, LayersDep, SettingsDep, json_object, read_access
from app.errors import PROBLEMS
from app.links import base_url, link
from app.negotiation import GEOJSON, JSON, MVT
from app.responses import OrjsonResponse
from twin.core.catalog.model import Collection
from twin.core.derived.contract import RESULT_PARAMETER
from twin.core.errors import InvalidParameter, NotFound
from twin.core.serving import DerivedChoice

router = APIRouter(tags=["Derived results"], dependencies=[Depends(read_access)])

ResultId = Annotated[str, Path(description="A result id, as a POST answered it.", max_length=64)]


def _result_document(request: Request, c: Collection, result: str, features: int | None) -> dict[str, Any]:
    url = f"{base_url(request)}/collections/{c.id}"
    query = f"?{RESULT_PARAMETER}={quote(result)}"
    document: dict[str, Any] = {
        "id": result,
        "collection": c.id,
        "links": [
            link(f"{url}/results/{quote(result)}", "self", JSON, "this result"),
            link(f"{url}/items{query}", "items", GEOJSON, "its features"),
            link(
                f"{url}/tiles/WebMercatorQuad/{{tileMatrix}}/{{tileRow}}/{{tileCol}}{query}",
                "item",
                MVT,
                "its vector tiles",
            ),
            link(url, "collection", JSON, c.title),
        ],
    }
    if features is not None:
        document["numberMatched"] = features
    return document


@router.post(
    "/collections/{collection_id}/results",
    status_code=201,
    summary="Compute a derived layer for parameters sent as a JSON body",
    responses={
        **PROBLEMS,
        413: {"content": {"application/problem+json": {}}, "description": "Body too large"},
        503: {"content": {"application/problem+json": {}}, "description": "Not ready"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
            "description": "The layer's parameters (its `parameters` schema in /collections/{collectionId}).",
        }
    },
)
async def create_result(
    collection_id: CollectionId, request: Request, layers: LayersDep, settings: SettingsDep
) -> OrjsonResponse:
    """Compute (or find) the result for these parameters; its features are then at `items?result=<id>`.
    Sending the same parameters again answers the same result."""
    c = (await layers.catalog()).get(collection_id)
    if c.derived is None:
        raise InvalidParameter(
            f"collection {c.id!r} is not a derived layer: it takes no parameters", parameter="body"
        )
    parameters = await json_object(request, settings.body_max_kb * 1024)
    if RESULT_PARAMETER in parameters:
        raise InvalidParameter(
            f"{RESULT_PARAMETER!r} is not a parameter of {c.id!r}", parameter=RESULT_PARAMETER
        )
    choice = layers.choose(c, parameters)
    assert choice.params is not None
    result, features = await layers.compute(c, choice.params)
    document = _result_document(request, c, result, features)
    document["parameters"] = choice.params.model_dump(mode="json")
    return OrjsonResponse(document, status_code=201, headers={"Location": document["links"][0]["href"]})


@router.get("/collections/{collection_id}/results/{result_id}", summary="A stored result", responses=PROBLEMS)
async def read_result(
    collection_id: CollectionId, result_id: ResultId, request: Request, layers: LayersDep
) -> OrjsonResponse:
    """Whether a result is still stored and current, with links to its features and tiles."""
    c = (await layers.catalog()).get(collection_id)
    if c.derived is None:
        raise NotFound(f"collection {c.id!r} is not a derived layer: it has no stored results")
    await layers.bind(c, DerivedChoice(result=result_id))
    return OrjsonResponse(_result_document(request, c, result_id, None))
