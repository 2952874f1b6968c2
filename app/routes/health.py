"""Liveness and readiness."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.exc import DBAPIError

from app.deps import EngineDep, SettingsDep
from app.errors import problem_response
from app.responses import OrjsonResponse
from twin.core.errors import DatabaseUnavailable, NotReady
from twin.core.health import database_state
from twin.core.registry import pilots
from twin.core.versions import send_notice
from twin.platform.db import admission_of

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz(request: Request) -> dict[str, Any]:
    """The process is alive (says nothing about the database), with its response cache: the answers it
    holds (`entries`, `bytes`) and how many requests they answered (`hits`); its database admission (the
    requests waiting for a connection, and those refused); and its read replicas, when set: each one's
    state, lag and reads served."""
    responder = getattr(request.app.state, "responder", None)
    cache = (
        {"entries": len(responder.cache), "bytes": responder.cache.size, "hits": responder.cache.hits}
        if responder is not None
        else None
    )
    engine = getattr(request.app.state, "engine", None)
    admission = admission_of(engine) if engine is not None else None
    return {
        "status": "alive",
        "response_cache": cache,
        "database_admission": admission.status() if admission is not None else None,
        "read_replicas": _replicas(request),
    }


def _replicas(request: Request) -> dict[str, Any] | None:
    """The read replicas' states (host:port/database, no password), or None when none are configured."""
    layers = getattr(request.app.state, "layers", None)
    return None if layers is None else layers.reads.status()  # type: ignore[no-any-return]


@router.get(
    "/readyz",
    summary="Ready to serve: database reachable, schema at head, Lozenets loaded",
    responses={503: {"content": {"application/problem+json": {}}, "description": "Not ready"}},
)
async def readyz(request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    """Ready: the database answers, migrations are at head and the pilots' data (Lozenets) is loaded;
    503 otherwise. The read replicas are shown, but one that lags or fails does not make it 503: the
    primary answers its reads."""
    head: str = request.app.state.head_revision
    required = [p.readiness for p in pilots() if p.readiness is not None]
    checks: dict[str, Any] = {"database": "ok", "schema": None, **{r.name: None for r in required}}
    # Informational: without the LISTEN connection every request re-reads the catalog (slower, still
    # correct), so it does not gate readiness.
    layers = getattr(request.app.state, "layers", None)
    listening = layers is not None and await layers.versions.probe(partial(send_notice, engine))
    checks["change_feed"] = "listening" if listening else "reconnecting"
    # Informational too: a replica that lags or fails takes no reads, the primary answers them.
    checks["read_replicas"] = _replicas(request)
    try:
        async with asyncio.timeout(settings.db_connect_timeout + 2):
            async with engine.connect() as conn:
                state = await database_state(conn, required)
    except (DBAPIError, OSError, TimeoutError):
        checks["database"] = "unreachable"
        return problem_response(
            503,
            DatabaseUnavailable.title,
            "the database cannot be reached",
            type_=DatabaseUnavailable.problem_type(),
            instance=request.url.path,
            headers={"Retry-After": "5", "Cache-Control": "no-store"},
            checks=checks,
        )
    checks["schema"] = {
        "revision": state["revision"],
        "head": head,
        "ok": state["revision"] == head,
    }
    reasons = []
    if not checks["schema"]["ok"]:
        reasons.append(f"schema at {state['revision']}, head is {head} (run `twin migrate`)")
    for check in required:
        counts = state["counts"][check.name]
        checks[check.name] = {**counts, "ok": all(n > 0 for n in counts.values())}
        if not checks[check.name]["ok"]:
            reasons.append(check.hint)
    if reasons:
        return problem_response(
            503,
            NotReady.title,
            "; ".join(reasons),
            type_=NotReady.problem_type(),
            instance=request.url.path,
            headers={"Cache-Control": "no-store"},
            checks=checks,
        )
    responder = getattr(request.app.state, "responder", None)
    cache = (
        {"entries": len(responder.cache), "bytes": responder.cache.size, "hits": responder.cache.hits}
        if responder is not None
        else None
    )
    return OrjsonResponse(
        {"status": "ready", "checks": checks, "layers": state["layers"], "response_cache": cache},
        headers={"Cache-Control": "no-store"},
    )
