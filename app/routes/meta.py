"""The root document, the layer registry and the problem-type pages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from app.deps import ConnDep, read_access
from twin.core.catalog.layers_store import list_layers
from twin.core.errors import PROBLEM_TYPES, NotFound

router = APIRouter(tags=["meta"])


@router.get(
    "/layers",
    summary="Every registered layer with its provenance",
    dependencies=[Depends(read_access)],
)
async def layers(conn: ConnDep) -> dict[str, Any]:
    """Registered layers: title, kind, geometry type, source, licence, attribution, date, synthetic flag."""
    return {"layers": await list_layers(conn)}


@router.get("/problems/{slug}", summary="What a problem type means")
async def problem_type(slug: str) -> dict[str, Any]:
    """The meaning of a problem `type` used in this API's error responses."""
    for kind in PROBLEM_TYPES:
        if kind.slug == slug:
            return {
                "type": kind.problem_type(),
                "title": kind.title,
                "status": kind.status,
                "description": kind.__doc__,
            }
    raise NotFound(f"no problem type {slug!r}")
