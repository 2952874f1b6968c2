"""Imports over HTTP: run a loader (with a key of the loader's role) and read the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from app.deps import ConnDep, PrincipalDep, SettingsDep, read_access
from app.responses import JSON
from twin.errors import InvalidParameter, NotFound
from twin.importers import loaders
from twin.importers.runner import run_import
from twin.keys import require_role
from twin.repositories import imports as runs

router = APIRouter(prefix="/imports", tags=["imports"])

PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    loader: str = Field(description="The loader to run, e.g. `lozenets`.", examples=["lozenets"])
    force: bool = Field(default=False, description="Reload even when the sources did not change.")


class ImportRun(BaseModel):
    id: int
    loader: str
    status: str
    sources: list[dict[str, Any]]
    checksum: str | None
    started_at: datetime
    finished_at: datetime | None
    row_counts: dict[str, int]
    error: str | None
    triggered_by: str


class ImportRunPage(BaseModel):
    runs: list[ImportRun]
    links: list[dict[str, str]]


@router.post(
    "",
    status_code=201,
    summary="Run an import (needs a key with the loader's role)",
    responses={401: PROBLEM, 403: PROBLEM, 409: PROBLEM, 422: PROBLEM},
)
async def create_import(
    body: ImportRequest, who: PrincipalDep, request: Request, settings: SettingsDep
) -> JSON:
    """Run a loader now; retrying with the same sources is harmless (status `unchanged`)."""
    registry = loaders()
    loader = registry.get(body.loader)
    if loader is None:
        raise InvalidParameter(
            f"unknown loader {body.loader!r}; known: {', '.join(sorted(registry))}",
            parameter="loader",
        )
    require_role(who, loader.role)
    result = await anyio.to_thread.run_sync(
        lambda: run_import(
            request.app.state.sync_engine,
            settings,
            request.app.state.manifest,
            loader,
            force=body.force,
            triggered_by=f"api-key:{who.key_id}",
        )
    )
    await request.app.state.layers.after_write()
    return JSON(
        result.as_dict(),
        status_code=201 if result.status == "succeeded" else 200,
        headers={"Location": str(request.url_for("get_import", run_id=result.run_id))},
    )


@router.get("", summary="Import runs, newest first", dependencies=[Depends(read_access)])
async def list_imports(
    request: Request,
    conn: ConnDep,
    limit: Annotated[int, Query(ge=1, le=500, description="Runs per page.")] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="Only runs with a smaller id (paging).")
    ] = None,
) -> ImportRunPage:
    """Import runs, newest first, with a `next` link while older runs remain."""
    rows = await runs.list_runs(conn, limit=limit + 1, before_id=before)
    links = [{"rel": "self", "href": str(request.url)}]
    if len(rows) > limit:
        rows = rows[:limit]
        links.append(
            {
                "rel": "next",
                "href": str(request.url.include_query_params(before=rows[-1]["id"], limit=limit)),
            }
        )
    return ImportRunPage(runs=[ImportRun(**r) for r in rows], links=links)


@router.get(
    "/{run_id}",
    name="get_import",
    summary="One import run",
    dependencies=[Depends(read_access)],
    responses={404: PROBLEM},
)
async def get_import(run_id: Annotated[int, Path(ge=1, le=2**63 - 1)], conn: ConnDep) -> ImportRun:
    """One import run by id."""
    row = await runs.get_run(conn, run_id)
    if row is None:
        raise NotFound(f"no import run {run_id}")
    return ImportRun(**row)
