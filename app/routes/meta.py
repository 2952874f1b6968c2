"""The root document, the layer registry and the problem-type pages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from app.deps import ConnDep, read_access
from twin.errors import PROBLEM_TYPES, NotFound
from twin.repositories.layers import list_layers

router = APIRouter(tags=["meta"])


@router.get("/", summary="What this service is, and where to go next")
async def root(request: Request) -> dict[str, Any]:
    """The service's entry point, with links."""

    def link(rel: str, path: str, title: str) -> dict[str, str]:
        return {"rel": rel, "href": str(request.base_url).rstrip("/") + path, "title": title}

    return {
        "title": "Lozenets Twin",
        "description": "Geospatial backend of the digital twin of Sofia's Lozenets district.",
        "links": [
            link("self", "/", "This document"),
            link("service-doc", "/docs", "Interactive API documentation"),
            link("service-desc", "/openapi.json", "OpenAPI 3 definition"),
            link("data", "/layers", "The layer registry with provenance"),
            link("status", "/readyz", "Readiness"),
        ],
    }


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
