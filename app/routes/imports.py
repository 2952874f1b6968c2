"""Imports over HTTP: run a loader (with a key of the loader's role) and read the audit trail."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import zipfile
from datetime import date, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from app.deps import ConnDep, PrincipalDep, SettingsDep, read_access, receive_file
from app.responses import OrjsonResponse
from twin.core.errors import Conflict, InvalidParameter, NotFound, UnsupportedMediaType
from twin.core.imports import store as runs
from twin.core.imports.loader import Loader
from twin.core.imports.runner import run_import
from twin.core.imports.upload import Upload, new_upload, required_licence, uploadable
from twin.core.registry import loaders
from twin.platform.keys import Principal, require_role
from twin.platform.settings import Settings

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
    note: str | None = Field(default=None, description="Why a run changed nothing, when it is not obvious.")
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
) -> OrjsonResponse:
    """Run a loader now; retrying with the same sources is harmless (status `unchanged`)."""
    registry = loaders()
    loader = registry.get(body.loader)
    if loader is None:
        raise InvalidParameter(
            f"unknown loader {body.loader!r}; known: {', '.join(sorted(registry))}",
            parameter="loader",
        )
    require_role(who, loader.role)
    return await _run(request, settings, loader, who, body.force)


async def _run(
    request: Request,
    settings: Settings,
    loader: Loader,
    who: Principal,
    force: bool,
    upload: Upload | None = None,
) -> OrjsonResponse:
    """Run the import in a worker thread; 201 with the run when it wrote, 200 when nothing changed."""
    result = await anyio.to_thread.run_sync(
        lambda: run_import(
            request.app.state.sync_engine,
            settings,
            request.app.state.manifest,
            loader,
            force=force,
            triggered_by=f"api-key:{who.key_id}",
            upload=upload,
        )
    )
    await request.app.state.layers.after_write()
    return OrjsonResponse(
        result.as_dict(),
        status_code=201 if result.status == "succeeded" else 200,
        headers={"Location": str(request.url_for("get_import", run_id=result.run_id))},
    )


ZIP_TYPES = ("application/zip", "application/x-zip-compressed", "application/octet-stream")


@router.post(
    "/{loader_name}/upload",
    status_code=201,
    summary="Import your own file in place of a loader's source (GTFS zip; needs a key with its role)",
    responses={
        400: PROBLEM,
        401: PROBLEM,
        403: PROBLEM,
        409: PROBLEM,
        413: PROBLEM,
        415: PROBLEM,
        422: PROBLEM,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload_import(
    loader_name: Annotated[str, Path(description="A loader that takes uploads: `gtfs`.")],
    who: PrincipalDep,
    request: Request,
    settings: SettingsDep,
    licence: Annotated[
        str,
        Query(
            min_length=1,
            max_length=300,
            description="The data's licence as you know it (say `unknown` if you do not): it is shown "
            "with every layer built from the file.",
        ),
    ],
    source: Annotated[
        str, Query(min_length=1, max_length=300, description="What the file is / who published it.")
    ] = "feed uploaded over HTTP",
    attribution: Annotated[str, Query(max_length=500, description="Attribution to show.")] = "",
    source_date: Annotated[date | None, Query(description="Date of the data (YYYY-MM-DD).")] = None,
    source_url: Annotated[str | None, Query(max_length=1000, description="Where it came from.")] = None,
    force: Annotated[bool, Query(description="Reload even if the same file was loaded last.")] = False,
) -> OrjsonResponse:
    """The body is the file itself (`curl --data-binary @feed.zip -H 'Content-Type: application/zip'`).

    The feed is validated whole before anything is written; a feed with errors is rejected with every
    problem (file, line, column) and the previous feed keeps serving. Sending the same bytes again is
    harmless (status `unchanged`). The layers' provenance names this upload, not the manifest's source.
    """
    loader = uploadable(loader_name, loaders())
    require_role(who, loader.role)
    required_licence(licence)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in ZIP_TYPES:
        raise UnsupportedMediaType(
            "send the file as the request body with Content-Type application/zip, "
            f"not {media_type or 'none'!r}"
        )
    limit = settings.upload_max_mb * 1024 * 1024
    # One upload per loader at a time in this process, refused before its body is stored (the import's
    # advisory lock still guards against other processes).
    busy = request.app.state.__dict__.setdefault("upload_locks", {}).setdefault(loader.name, anyio.Lock())
    if busy.locked():
        raise Conflict(f"an upload for {loader.name!r} is already being imported; try again later")
    async with busy:
        return await _store_and_import(
            request,
            settings,
            loader,
            who,
            limit,
            force,
            provenance={
                "source": source,
                "licence": licence,
                "attribution": attribution,
                "source_date": source_date,
                "source_url": source_url,
            },
        )


async def _store_and_import(
    request: Request,
    settings: Settings,
    loader: Loader,
    who: Principal,
    limit: int,
    force: bool,
    provenance: dict[str, Any],
) -> OrjsonResponse:
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_uploads(settings.cache_dir)
    with tempfile.TemporaryDirectory(dir=settings.cache_dir, prefix="upload-") as folder:
        path = FilePath(folder) / "upload.zip"
        digest = await receive_file(request, path, limit, what="the zip file")
        if not zipfile.is_zipfile(path):
            raise InvalidParameter("the request body is not a zip archive", parameter="body")
        upload = new_upload(
            path, sha256=digest, filename=request.headers.get("x-filename", "upload.zip"), **provenance
        )
        # Inside the folder's lifetime: the import reads the file.
        return await _run(request, settings, loader, who, force, upload)


def _remove_stale_uploads(folder: FilePath, older_than_s: float = 3600) -> None:
    """Upload folders left behind by a process that was killed mid-import."""
    cutoff = time.time() - older_than_s
    for leftover in folder.glob("upload-*"):
        with contextlib.suppress(OSError):
            if leftover.is_dir() and leftover.stat().st_mtime < cutoff:
                shutil.rmtree(leftover, ignore_errors=True)


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
