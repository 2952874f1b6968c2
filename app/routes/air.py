"""The air-quality pilot's endpoints: limit values, a station's statistics and compliance, registering
sensors and writing batches of measurements (a `sensor-ingest` key), and OGC API – Environmental Data
Retrieval under /edr (position, area and locations queries answering CoverageJSON or GeoJSON)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio
import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from app.deps import ConnDep, LayersDep, PrincipalDep, ResponderDep, SettingsDep, json_object, read_access
from app.errors import PROBLEMS
from app.negotiation import JSON, etag_for
from app.responses import OrjsonResponse
from twin.air import batches, service
from twin.core.errors import InvalidParameter
from twin.platform.keys import require_role

router = APIRouter(tags=["air quality"])
reads = [Depends(read_access)]

StationId = Annotated[
    str, Path(description="A station or sensor id (see /collections/air_stations).", max_length=100)
]
PollutantQuery = Annotated[str, Query(description="PM10, PM2.5, NO2, O3, SO2 or CO.", max_length=10)]
WRITE_PROBLEMS: dict[int | str, dict[str, Any]] = {
    **PROBLEMS,
    401: {"content": {"application/problem+json": {}}, "description": "No or unknown API key"},
    403: {"content": {"application/problem+json": {}}, "description": "The key lacks the sensor-ingest role"},
    409: {
        "content": {"application/problem+json": {}},
        "description": "A measurement is stored with another value",
    },
    413: {"content": {"application/problem+json": {}}, "description": "Body too large"},
}


async def _measurements_version(layers: LayersDep) -> int:
    catalog = await layers.catalog()
    found = catalog.collections.get("air_measurements")
    return found.data_version if found is not None else 0


@router.get("/air/limits", summary="The limit values and guidelines, with their sources", dependencies=reads)
async def limits() -> OrjsonResponse:
    """Every threshold the twin holds air quality against (EU limit values in force and from 2030, WHO
    2021 guidelines), the minimum data capture, and the European Air Quality Index bands, each with its
    source."""
    return OrjsonResponse(service.limits_document())


@router.get(
    "/air/stations/{station_id}/statistics",
    summary="A station's values per hour, day, month or year, with data capture",
    responses=PROBLEMS,
    dependencies=reads,
)
async def statistics(
    station_id: StationId,
    request: Request,
    conn: ConnDep,
    layers: LayersDep,
    responder: ResponderDep,
    pollutant: PollutantQuery = "PM10",
    period: Annotated[
        Literal["hour", "day", "month", "year"], Query(description="The aggregation.")
    ] = "year",
    datetime: Annotated[
        str | None,
        Query(description="RFC 3339 instant or interval (days in Sofia); hourly values: a year at most."),
    ] = None,
) -> Response:
    """Per period: the mean of valid values, how many were valid and expected, and data capture (%)."""
    found = service.pollutant_of(pollutant)
    if period == "hour" and datetime is None:
        raise InvalidParameter(
            "hourly values need a datetime interval (a year at most)", parameter="datetime"
        )
    span = service.span_of(datetime)
    version = await _measurements_version(layers)
    etag = etag_for("air-statistics", version, station_id, found.code, period, span.start, span.end)
    if (early := responder.early(request, etag)) is not None:
        return early
    body = await service.series(conn, station_id, found, period, span)
    return responder.store(request, etag, orjson.dumps(body), JSON)


@router.get(
    "/air/stations/{station_id}/compliance",
    summary="A station's years held against the EU limit values and the WHO guidelines",
    responses=PROBLEMS,
    dependencies=reads,
)
async def compliance(
    station_id: StationId,
    request: Request,
    conn: ConnDep,
    layers: LayersDep,
    responder: ResponderDep,
    pollutant: PollutantQuery = "PM10",
    year: Annotated[
        str, Query(description="A year, or first/last (e.g. 2017/2024).", max_length=9)
    ] = "2017/2024",
) -> Response:
    """Per year: annual mean, data capture, days above each daily limit, the 90.4th percentile of the daily
    means; every limit pass, fail or insufficient data capture (below 90 %), with its source."""
    found = service.pollutant_of(pollutant)
    first, last = _years(year)
    version = await _measurements_version(layers)
    etag = etag_for("air-compliance", version, station_id, found.code, first, last)
    if (early := responder.early(request, etag)) is not None:
        return early
    body = await service.compliance(conn, station_id, found, first, last)
    return responder.store(request, etag, orjson.dumps(body), JSON)


def _years(value: str) -> tuple[int, int]:
    parts = value.split("/")
    if len(parts) > 2 or not all(p.isascii() and p.isdigit() and len(p) == 4 for p in parts):
        raise InvalidParameter(f"year must be YYYY or YYYY/YYYY, got {value!r}", parameter="year")
    first, last = int(parts[0]), int(parts[-1])
    if last < first:
        raise InvalidParameter(f"year {value!r} ends before it starts", parameter="year")
    return first, last


@router.post(
    "/air/sensors",
    status_code=201,
    summary="Register stations or sensors (a sensor-ingest key)",
    responses=WRITE_PROBLEMS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object", "required": ["sensors"]}}},
        }
    },
)
async def register_sensors(request: Request, who: PrincipalDep, settings: SettingsDep) -> OrjsonResponse:
    """`{"sensors": [{"id", "name", "lon", "lat", "class"?, "kind"?, "operator"?, "network"?}]}`; all or
    nothing, every problem named by row and field."""
    require_role(who, "sensor-ingest")
    body = await json_object(request, settings.body_max_kb * 1024)
    sensors = _list(body, "sensors")
    result = await anyio.to_thread.run_sync(
        lambda: batches.register_sensors(request.app.state.sync_engine, sensors)
    )
    await request.app.state.layers.after_write()
    return OrjsonResponse(result, status_code=201)


@router.post(
    "/air/measurements",
    status_code=201,
    summary="Write a batch of measurements (a sensor-ingest key)",
    responses=WRITE_PROBLEMS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object", "required": ["measurements"]}}},
        }
    },
)
async def write_measurements(request: Request, who: PrincipalDep, settings: SettingsDep) -> OrjsonResponse:
    """`{"measurements": [{"sensor", "pollutant", "start", "end", "value", "unit", "validity"?,
    "verification"?}]}`, 1,000 a request is the expected size. All or nothing: a problem in any row (an
    unknown sensor or pollutant, a unit that does not fit, an impossible value, a time in the future or
    without a zone, a row repeated) is a 400 naming each row and field; a value already stored with
    another value is a 409 naming the rows; sending the same batch again stores nothing new (200)."""
    require_role(who, "sensor-ingest")
    body = await json_object(request, settings.body_max_kb * 1024)
    records = _list(body, "measurements")
    result = await anyio.to_thread.run_sync(
        lambda: batches.write_batch(request.app.state.sync_engine, records, f"api-key:{who.key_id}")
    )
    await request.app.state.layers.after_write()
    return OrjsonResponse(result.as_dict(), status_code=201 if result.inserted else 200)


def _list(body: dict[str, Any], name: str) -> list[Any]:
    value = body.get(name)
    if not isinstance(value, list):
        raise InvalidParameter(f"the body needs a list {name!r}", parameter=name)
    extra = sorted(set(body) - {name})
    if extra:
        raise InvalidParameter(f"unknown field {extra[0]!r} in the body", parameter=extra[0])
    return value
