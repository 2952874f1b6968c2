"""Stop metrics for the transport team: departures, per-hour rates, headways, service span, next
departures — cheap to poll (answered from a per-service-day index, with ETags and the front cache) —
and the share of the district within walking distance of frequent stops."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import anyio
import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from app.deps import LayersDep, ResponderDep, read_access
from app.errors import PROBLEMS
from app.negotiation import JSON, etag_for
from twin.platform import clock
from twin.transport.metrics import MAX_NEXT, MetricsQuery
from twin.transport.polling import TransitService

router = APIRouter(prefix="/transport", tags=["public transport"], dependencies=[Depends(read_access)])


# The forms the parsers take (twin.transport.metrics), so the document admits what the service does.
CLOCK = r"([0-3][0-9]|4[0-7]):[0-5][0-9](:[0-5][0-9])?"
DateQuery = Annotated[
    str | None,
    Query(
        alias="date",
        description="Service date YYYY-MM-DD (default: today in Sofia).",
        json_schema_extra={"format": "date"},
    ),
]
WindowQuery = Annotated[
    str | None,
    Query(description="HH:MM-HH:MM, hours up to 47 (default: the whole day).", pattern=f"^{CLOCK}-{CLOCK}$"),
]
NextQuery = Annotated[int, Query(alias="next", ge=0, le=MAX_NEXT, description="Next departures to list.")]
AfterQuery = Annotated[
    str | None, Query(description="HH:MM: list the next departures after this time.", pattern=f"^{CLOCK}$")
]


@router.get(
    "/stops/{stop_id}/metrics", summary="Service metrics of a stop on a service day", responses=PROBLEMS
)
async def stop_metrics(
    stop_id: Annotated[str, Path(max_length=100)],
    request: Request,
    layers: LayersDep,
    responder: ResponderDep,
    day: DateQuery = None,
    window: WindowQuery = None,
    next_count: NextQuery = 5,
    after: AfterQuery = None,
) -> Response:
    """Departures, departures per hour (total and per route and direction), headways, first and last
    departure, routes served, and the next departures; see the README for the definitions."""
    query = MetricsQuery.parse(day, window, next_count, after, today=clock.today_in_sofia())
    return await _metrics("stop", stop_id, query, request, layers, responder)


@router.get("/stations/{station_id}/metrics", summary="Service metrics of a station", responses=PROBLEMS)
async def station_metrics(
    station_id: Annotated[str, Path(max_length=100)],
    request: Request,
    layers: LayersDep,
    responder: ResponderDep,
    day: DateQuery = None,
    window: WindowQuery = None,
    next_count: NextQuery = 5,
    after: AfterQuery = None,
) -> Response:
    """The same metrics for a station: all its platforms together (ids as in /collections/stations)."""
    query = MetricsQuery.parse(day, window, next_count, after, today=clock.today_in_sofia())
    return await _metrics("station", station_id, query, request, layers, responder)


async def _metrics(
    kind: str,
    place_id: str,
    query: MetricsQuery,
    request: Request,
    layers: LayersDep,
    responder: ResponderDep,
) -> Response:
    catalog = await layers.catalog()
    version = catalog.collections["stops"].data_version if "stops" in catalog.collections else 0
    etag = etag_for(f"{kind}-metrics", version, place_id, query.key())
    if (early := responder.early(request, etag)) is not None:
        return early
    transit = _transit(request)
    compute = transit.stop_metrics if kind == "stop" else transit.station_metrics
    body = await anyio.to_thread.run_sync(lambda: compute(place_id, query, version))
    return responder.store(request, etag, orjson.dumps(body), JSON)


def _transit(request: Request) -> TransitService:
    """The process's transit memory (made on the first poll; it reads through the import engine)."""
    state = request.app.state
    if getattr(state, "transit", None) is None:
        state.transit = TransitService(state.sync_engine)
    return state.transit  # type: ignore[no-any-return]


RESIDENTS_NOTE = (
    "Residents per building from the urban-planning pilot (floor area ÷ floor area per person, "
    "calibrated to the district's published population; most buildings are synthetic, see "
    "`synthetic_share`); a home counts where its point lies. null when no buildings are loaded."
)


def _residents(figures: dict[str, Any], computation: dict[str, Any] | None) -> dict[str, Any] | None:
    total, covered = figures.get("residents_total"), figures.get("residents_covered")
    if total is None or covered is None:
        return None
    account = (computation or {}).get("residents") or {}
    return {
        "total": total,
        "covered": covered,
        "share": round(covered / total, 6) if total else None,
        "synthetic_share": account.get("synthetic_share"),
    }


@router.get(
    "/coverage", summary="Share of the district within walking distance of frequent stops", responses=PROBLEMS
)
async def coverage(
    request: Request,
    layers: LayersDep,
    responder: ResponderDep,
    day: DateQuery = None,
    window: Annotated[
        str | None,
        Query(
            description="HH:MM-HH:MM counted (default: the AM peak 08:15-09:15).",
            pattern=f"^{CLOCK}-{CLOCK}$",
        ),
    ] = None,
    min_departures_per_hour: Annotated[
        float | None,
        Query(ge=0.1, le=120, description="Departures per hour a stop needs, 0.1–120 (default 6)."),
    ] = None,
    walk_m: Annotated[
        int | None, Query(ge=50, le=2000, description="Walking distance, metres, 50–2000 (default 400).")
    ] = None,
    detour_factor: Annotated[
        float | None,
        Query(
            ge=1, le=2, description="Street / straight-line distance off the street graph, 1–2 (default 1.2)."
        ),
    ] = None,
    street_graph: Annotated[
        bool | None,
        Query(description="Walk along the street graph where one is loaded (default true); false: circles."),
    ] = None,
) -> Response:
    """The district's area within the catchment of a stop with at least `min_departures_per_hour`
    departures per hour (all routes) in `window` on `date`: the figures of the `service_coverage`
    layer (the same stored result), with room for the residents covered once buildings exist."""
    catalog = await layers.catalog()
    collection = catalog.get("service_coverage")
    given = {
        "date": day,
        "window": window,
        "min_departures_per_hour": min_departures_per_hour,
        "walk_m": walk_m,
        "detour_factor": detour_factor,
        "street_graph": None if street_graph is None else str(street_graph).lower(),
    }
    raw = {name: str(value) for name, value in given.items() if value is not None}
    choice = layers.choose(collection, raw)
    etag = etag_for("coverage", collection.data_version, choice.token)
    if (early := responder.early(request, etag)) is not None:
        return early
    [figures] = await layers.derived_properties(collection, choice, limit=1)
    computation = await layers.computation(await layers.bind(collection, choice))
    assert choice.params is not None
    body: dict[str, Any] = {
        "service_date": figures["service_date"],
        "window": figures["counted"],
        "parameters": choice.params.model_dump(mode="json"),
        "radius_m": figures["radius_m"],
        "district_area_m2": figures["district_area_m2"],
        "covered_area_m2": figures["covered_area_m2"],
        "share": figures["share"],
        "qualifying_stops": figures["qualifying_stops"],
        "stops_on_graph": figures["stops_on_graph"],
        "residents": _residents(figures, computation),
        "residents_note": RESIDENTS_NOTE,
        "walking": (computation or {}).get("walking"),
        "layer": "/collections/service_coverage/items" + (f"?{urlencode(raw)}" if raw else ""),
    }
    return responder.store(request, etag, orjson.dumps(body), JSON)
