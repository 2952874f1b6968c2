"""Stop metrics for the transport team: departures, per-hour rates, headways, service span, next
departures — cheap to poll (answered from a per-service-day index, with ETags and the front cache)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import anyio
import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from app.deps import read_access
from app.negotiation import JSON, etag_for, not_modified
from app.routes.ogc import PROBLEM, ResponderDep, ServiceDep
from twin.errors import InvalidParameter
from twin.stop_metrics import parse_clock, parse_window

router = APIRouter(prefix="/transport", tags=["public transport"], dependencies=[Depends(read_access)])

SOFIA = ZoneInfo("Europe/Sofia")


@router.get(
    "/stops/{stop_id}/metrics", summary="Service metrics of a stop on a service day", responses=PROBLEM
)
async def stop_metrics(
    stop_id: Annotated[str, Path(max_length=100)],
    request: Request,
    layers: ServiceDep,
    responder: ResponderDep,
    day: Annotated[
        str | None, Query(alias="date", description="Service date YYYY-MM-DD (default: today in Sofia).")
    ] = None,
    window: Annotated[
        str | None, Query(description="HH:MM-HH:MM, hours up to 47 (default: the whole day).")
    ] = None,
    next_count: Annotated[int, Query(alias="next", ge=0, le=100, description="Next departures to list.")] = 5,
    after: Annotated[
        str | None, Query(description="HH:MM: list the next departures after this time.")
    ] = None,
) -> Response:
    """Departures, departures per hour (total and per route and direction), headways, first and last
    departure, routes served, and the next departures; see the README for the definitions."""
    service_day = _parse_date(day) if day else datetime.now(SOFIA).date()
    try:
        span = parse_window(window) if window else None
    except ValueError as exc:
        raise InvalidParameter(str(exc), parameter="window") from exc
    try:
        after_s = parse_clock(after) if after else None
    except ValueError as exc:
        raise InvalidParameter(str(exc), parameter="after") from exc
    catalog = await layers.catalog()
    version = catalog.collections["stops"].data_version if "stops" in catalog.collections else 0
    etag = etag_for("stop-metrics", version, stop_id, service_day, span, next_count, after_s)
    if not_modified(request, etag):
        return responder.not_modified(request, etag)
    if (cached := responder.cached(request, etag)) is not None:
        return cached
    transit = request.app.state.transit
    body = await anyio.to_thread.run_sync(
        lambda: transit.stop_metrics(stop_id, service_day, span, next_count, after_s)
    )
    return responder.store(request, etag, orjson.dumps(body), JSON)


def _parse_date(value: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidParameter(f"date must be YYYY-MM-DD, got {value!r}", parameter="date") from exc
