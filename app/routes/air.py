"""The air-quality pilot's endpoints: limit values, a station's statistics and compliance, registering
sensors and writing batches of measurements (a `sensor-ingest` key), and OGC API – Environmental Data
Retrieval under /edr (position, area and locations queries answering CoverageJSON or GeoJSON)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

import anyio
import orjson
import shapely
from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

from app.deps import ConnDep, LayersDep, PrincipalDep, ResponderDep, SettingsDep, json_object, read_access
from app.errors import PROBLEMS
from app.links import base_url, link
from app.negotiation import GEOJSON, JSON, etag_for
from app.responses import OrjsonResponse
from twin.air import batches, edr, service
from twin.air.batches import MAX_BATCH
from twin.air.ingest import VALIDITY, VERIFICATION
from twin.air.pollutants import POLLUTANTS
from twin.air.store import stations as station_store
from twin.core.errors import InvalidParameter, NotFound
from twin.platform.keys import require_role

router = APIRouter(tags=["air quality"])
reads = [Depends(read_access)]

StationId = Annotated[
    str, Path(description="A station or sensor id (see /collections/air_stations).", max_length=100)
]
# The syntax twin.air.service.span_of reads: a day, an RFC 3339 instant, or start/end with open ends (..).
_YEAR = "(199[0-9]|20[0-9][0-9]|2100)"  # the years the twin holds (twin.air.service.FIRST_YEAR, LAST_YEAR)
_DAY = f"{_YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?"
_INSTANT = f"{_DAY}T{_TIME}(Z|z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
_BOUND = rf"({_INSTANT}|{_DAY})"
DATETIME_PATTERN = rf"^({_BOUND}|{_BOUND}/({_BOUND}|\.\.)?|(\.\.)?/{_BOUND})$"
PollutantQuery = Annotated[
    str,
    Query(description="PM10, PM2.5, NO2, O3, SO2 or CO.", json_schema_extra={"enum": list(POLLUTANTS)}),
]
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


async def _measurements_version(layers: LayersDep) -> tuple[int, int]:
    """The data versions of the measurements and of the stations: every answer here depends on both
    (a station registered or moved changes what the estimates stand on)."""
    catalog = await layers.catalog()
    versions = [catalog.collections.get(layer) for layer in ("air_measurements", "air_stations")]
    measurements, stations = (found.data_version if found is not None else 0 for found in versions)
    return measurements, stations


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
        Query(
            description="RFC 3339 instant or interval (days in Sofia); hourly values: a year at most.",
            pattern=DATETIME_PATTERN,
        ),
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
        str, Query(description="A year, or first/last (e.g. 2017/2024).", pattern=f"^{_YEAR}(/{_YEAR})?$")
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


# The bodies as twin.air.batches and twin.air.ingest check them. What no schema can state is answered
# per row and field: a sensor not registered, a unit that is not the pollutant's, an interval that is
# neither a clock hour nor a Sofia day, a time in the future.
SENSOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "name", "lon", "lat"],
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9:._-]{1,63}$"},
        "name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"},
        "lon": {"type": "number", "minimum": -180, "maximum": 180},
        "lat": {"type": "number", "minimum": -90, "maximum": 90},
        "operator": {"type": "string", "maxLength": 200},
        "network": {"type": "string", "maxLength": 100},
        "class": {"type": "string", "enum": ["reference", "indicative"]},
        "kind": {"type": "string", "enum": ["station", "sensor"]},
    },
}
SENSORS_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["sensors"],
    "properties": {
        "sensors": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": SENSOR_SCHEMA}
    },
}
MEASUREMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["sensor", "pollutant", "start", "end", "value", "unit"],
    "properties": {
        "sensor": {"type": "string", "minLength": 1},
        "pollutant": {"type": "string", "enum": list(POLLUTANTS)},
        "start": {"type": "string", "format": "date-time"},
        "end": {"type": "string", "format": "date-time"},
        "value": {"type": "number"},
        "unit": {"type": "string", "minLength": 1},
        "validity": {"type": "integer", "enum": sorted(VALIDITY)},
        "verification": {"type": "integer", "enum": sorted(VERIFICATION)},
    },
}
MEASUREMENTS_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["measurements"],
    "properties": {
        "measurements": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": MEASUREMENT_SCHEMA}
    },
}


@router.post(
    "/air/sensors",
    status_code=201,
    summary="Register stations or sensors (a sensor-ingest key)",
    responses=WRITE_PROBLEMS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": SENSORS_BODY}},
        }
    },
)
async def register_sensors(request: Request, who: PrincipalDep, settings: SettingsDep) -> OrjsonResponse:
    """`{"sensors": [{"id", "name", "lon", "lat", "class"?, "kind"?, "operator"?, "network"?}]}`; all or
    nothing, every problem named by row and field. A sensor sent again with the same details changes
    nothing (200); with other details it is a 409 naming the fields (a registration is never changed)."""
    require_role(who, "sensor-ingest")
    body = await json_object(request, settings.body_max_kb * 1024)
    sensors = _list(body, "sensors")
    result = await anyio.to_thread.run_sync(
        lambda: batches.register_sensors(request.app.state.sync_engine, sensors)
    )
    await request.app.state.layers.after_write()
    return OrjsonResponse(result, status_code=201 if result["sensors"] else 200)


@router.post(
    "/air/measurements",
    status_code=201,
    summary="Write a batch of measurements (a sensor-ingest key)",
    responses=WRITE_PROBLEMS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": MEASUREMENTS_BODY}},
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


# -- OGC API – Environmental Data Retrieval ----------------------------------------------------------------
EDR_CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-edr-1/1.1/conf/core",
    "http://www.opengis.net/spec/ogcapi-edr-1/1.1/conf/collections",
    "http://www.opengis.net/spec/ogcapi-edr-1/1.1/conf/json",
    "http://www.opengis.net/spec/ogcapi-edr-1/1.1/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-edr-1/1.1/conf/covjson",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
]
EDR_QUERIES = ("position", "area", "locations")
EdrCollection = Annotated[str, Path(description="The EDR collection: air_quality.", max_length=100)]
CoordsQuery = Annotated[
    str,
    Query(description="WKT in CRS84: POINT(lon lat) for position, POLYGON((…)) for area.", max_length=20_000),
]
ParameterNames = Annotated[
    str | None,
    Query(
        alias="parameter-name",
        description="Comma-separated pollutants (PM10, PM2.5, NO2, O3, SO2, CO); default PM10 for "
        "estimates, every measured one for a location.",
        max_length=100,
    ),
]
DatetimeQuery = Annotated[
    str | None,
    Query(
        description="A day, an instant or an interval (days of Sofia; open ends allowed). Estimates "
        "default to the last full year with reference data, at most five years.",
        max_length=60,
        pattern=DATETIME_PATTERN,
    ),
]
FormatQuery = Annotated[str | None, Query(description="CoverageJSON (default) or GeoJSON.", max_length=20)]
MethodQuery = Annotated[Literal["kriging", "idw"], Query(description="How to estimate between the stations.")]


def _edr(request: Request) -> edr.EdrService:
    state = request.app.state
    if not hasattr(state, "air_edr"):
        state.air_edr = edr.EdrService(state.sync_engine)
    return state.air_edr  # type: ignore[no-any-return]


def _collection_of(collection_id: str) -> None:
    if collection_id != edr.COLLECTION_ID:
        raise NotFound(f"no EDR collection {collection_id!r}; the one here is {edr.COLLECTION_ID!r}")


def _format_of(f: str | None) -> str:
    if f is None:
        return "CoverageJSON"
    for name in edr.FORMATS:
        if f.lower() in (name.lower(), {"CoverageJSON": "covjson", "GeoJSON": "geojson"}[name]):
            return name
    raise InvalidParameter(f"f must be CoverageJSON or GeoJSON, got {f!r}", parameter="f")


@router.get("/edr", summary="OGC API – EDR: landing page", dependencies=reads)
async def edr_landing(request: Request) -> OrjsonResponse:
    root = base_url(request)
    return OrjsonResponse(
        {
            "title": "Lozenets Twin – air quality (OGC API – Environmental Data Retrieval)",
            "description": "Estimated and measured air quality around Lozenets: position, area and "
            "locations queries answering CoverageJSON or GeoJSON.",
            "links": [
                link(f"{root}/edr", "self", JSON, "This document"),
                link(f"{root}/edr/conformance", "conformance", JSON, "Conformance classes"),
                link(f"{root}/edr/collections", "data", JSON, "Collections"),
                link(f"{root}/openapi.json", "service-desc", "application/vnd.oai.openapi+json;version=3.1"),
            ],
        }
    )


@router.get("/edr/conformance", summary="OGC API – EDR: conformance classes", dependencies=reads)
async def edr_conformance() -> OrjsonResponse:
    return OrjsonResponse({"conformsTo": EDR_CONFORMANCE})


@router.get("/edr/collections", summary="OGC API – EDR: collections", dependencies=reads)
async def edr_collections(request: Request, conn: ConnDep) -> OrjsonResponse:
    root = base_url(request)
    return OrjsonResponse(
        {
            "collections": [await _edr_collection(request, conn)],
            "links": [link(f"{root}/edr/collections", "self", JSON, "Collections")],
        }
    )


@router.get(
    "/edr/collections/{collection_id}",
    summary="OGC API – EDR: the air_quality collection",
    responses=PROBLEMS,
    dependencies=reads,
)
async def edr_collection(collection_id: EdrCollection, request: Request, conn: ConnDep) -> OrjsonResponse:
    _collection_of(collection_id)
    return OrjsonResponse(await _edr_collection(request, conn))


async def _edr_collection(request: Request, conn: AsyncConnection) -> dict[str, Any]:
    root = f"{base_url(request)}/edr/collections/{edr.COLLECTION_ID}"
    found = await station_store.extent(conn)
    bbox = [found["minx"], found["miny"], found["maxx"], found["maxy"]] if found["minx"] is not None else None
    interval = (
        [[edr.day_start(found["first"]), edr.day_start(found["last"] + timedelta(days=1))]]
        if found["first"] is not None
        else [[None, None]]
    )
    variables = {
        "position": ("Position query: the estimated daily mean at a point", "POINT(23.322 42.675)"),
        "area": ("Area query: the estimated daily mean over a polygon", "POLYGON((…))"),
        "locations": ("Locations query: a station's measured daily means", None),
    }
    return {
        "id": edr.COLLECTION_ID,
        "title": "Air quality around Lozenets",
        "description": "Daily mean concentrations: measured at the stations and citizen sensors "
        "(locations), and estimated anywhere between them with their uncertainty (position, area), as "
        "the air_surface layer estimates them.",
        "extent": {
            "spatial": {"bbox": [bbox] if bbox else [], "crs": edr.CRS84},
            "temporal": {"interval": interval, "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"},
        },
        "crs": [edr.CRS84],
        "output_formats": list(edr.FORMATS),
        "parameter_names": {code: edr.parameter(p) for code, p in POLLUTANTS.items()},
        "data_queries": {
            query: {
                "link": {
                    "href": f"{root}/{query}",
                    "rel": "data",
                    "variables": {
                        "title": title,
                        "query_type": query,
                        "output_formats": list(edr.FORMATS),
                        "default_output_format": "CoverageJSON",
                        **({"coords": example} if example else {}),
                    },
                }
            }
            for query, (title, example) in variables.items()
        },
        "links": [
            link(root, "self", JSON, "This collection"),
            *[link(f"{root}/{q}", "data", JSON, f"{q} query") for q in EDR_QUERIES],
        ],
    }


async def _estimate(
    request: Request,
    layers: LayersDep,
    responder: ResponderDep,
    kind: str,
    coords: str,
    parameter_names: str | None,
    datetime: str | None,
    f: str | None,
    method: str,
) -> Response:
    geometry = edr.parse_coords(coords, kind, request.app.state.settings.geometry_max_vertices)
    pollutants = edr.parse_parameters(parameter_names, ("PM10",))
    output = _format_of(f)
    version = await _measurements_version(layers)
    etag = etag_for(
        f"edr-{kind}", version, geometry.wkb_hex, tuple(p.code for p in pollutants), datetime, output, method
    )
    if (early := responder.early(request, etag)) is not None:
        return early
    service = _edr(request)
    series = await anyio.to_thread.run_sync(
        lambda: service.estimate(version, pollutants, datetime, geometry, method)
    )
    if output == "GeoJSON":
        return responder.store(request, etag, orjson.dumps(edr.features(series, geometry)), GEOJSON)
    return responder.store(request, etag, orjson.dumps(edr.coverage(series, geometry)), edr.COVERAGE_JSON)


@router.get(
    "/edr/collections/{collection_id}/position",
    summary="OGC API – EDR position query: the estimated daily means at a point",
    responses={**PROBLEMS, 200: {"content": {edr.COVERAGE_JSON: {}, GEOJSON: {}}, "description": "A series"}},
    dependencies=reads,
)
async def edr_position(
    collection_id: EdrCollection,
    request: Request,
    layers: LayersDep,
    responder: ResponderDep,
    coords: CoordsQuery,
    parameter_names: ParameterNames = None,
    datetime: DatetimeQuery = None,
    f: FormatQuery = None,
    method: MethodQuery = "kriging",
) -> Response:
    """The estimate at the point day by day (kriging over the stations that measured each day, citizen
    sensors corrected), with its standard deviation as `<parameter>_uncertainty`."""
    _collection_of(collection_id)
    return await _estimate(
        request, layers, responder, "position", coords, parameter_names, datetime, f, method
    )


@router.get(
    "/edr/collections/{collection_id}/area",
    summary="OGC API – EDR area query: the estimated daily means over a polygon",
    responses={**PROBLEMS, 200: {"content": {edr.COVERAGE_JSON: {}, GEOJSON: {}}, "description": "A series"}},
    dependencies=reads,
)
async def edr_area(
    collection_id: EdrCollection,
    request: Request,
    layers: LayersDep,
    responder: ResponderDep,
    coords: CoordsQuery,
    parameter_names: ParameterNames = None,
    datetime: DatetimeQuery = None,
    f: FormatQuery = None,
    method: MethodQuery = "kriging",
) -> Response:
    """The area-weighted mean of the estimate over cells of 100 m inside the polygon (at most 100 km²),
    day by day, with an upper bound of its standard deviation."""
    _collection_of(collection_id)
    return await _estimate(request, layers, responder, "area", coords, parameter_names, datetime, f, method)


@router.get(
    "/edr/collections/{collection_id}/locations",
    summary="OGC API – EDR: the stations and sensors with measured daily means",
    responses={**PROBLEMS, 200: {"content": {GEOJSON: {}}, "description": "The locations"}},
    dependencies=reads,
)
async def edr_locations(
    collection_id: EdrCollection, request: Request, conn: ConnDep, layers: LayersDep, responder: ResponderDep
) -> Response:
    _collection_of(collection_id)
    version = await _measurements_version(layers)
    etag = etag_for("edr-locations", version, base_url(request))
    if (early := responder.early(request, etag)) is not None:
        return early
    root = f"{base_url(request)}/edr/collections/{edr.COLLECTION_ID}/locations"
    places = await station_store.locations(conn)
    body = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": p["id"],
                "geometry": {"type": "Point", "coordinates": [p["lon"], p["lat"]]},
                "properties": {
                    "name": p["name"],
                    "class": p["station_class"],
                    "kind": p["kind"],
                    "network": p["network"],
                    "parameter-name": list(p["pollutants"]),
                    "detail": f"{root}/{p['id']}",
                },
            }
            for p in places
        ],
        "links": [link(root, "self", GEOJSON, "Locations")],
    }
    return responder.store(request, etag, orjson.dumps(body), GEOJSON)


@router.get(
    "/edr/collections/{collection_id}/locations/{location_id}",
    summary="OGC API – EDR: a station's measured daily means",
    responses={**PROBLEMS, 200: {"content": {edr.COVERAGE_JSON: {}, GEOJSON: {}}, "description": "A series"}},
    dependencies=reads,
)
async def edr_location(
    collection_id: EdrCollection,
    location_id: Annotated[str, Path(description="A station or sensor id (see locations).", max_length=100)],
    request: Request,
    layers: LayersDep,
    responder: ResponderDep,
    parameter_names: ParameterNames = None,
    datetime: DatetimeQuery = None,
    f: FormatQuery = None,
) -> Response:
    """The station's valid daily means of captured days (an hourly series as its days of 18 valid
    hours), as measured: a citizen sensor's values uncorrected (its class says so)."""
    _collection_of(collection_id)
    pollutants = edr.parse_parameters(parameter_names, ()) if parameter_names else None
    output = _format_of(f)
    version = await _measurements_version(layers)
    etag = etag_for("edr-location", version, location_id, parameter_names, datetime, output)
    if (early := responder.early(request, etag)) is not None:
        return early
    service = _edr(request)
    place, series = await anyio.to_thread.run_sync(
        lambda: service.measured(location_id, pollutants, datetime)
    )
    point = shapely.Point(place["lon"], place["lat"])
    station = {"location": place["id"], "class": place["station_class"]}
    if output == "GeoJSON":
        return responder.store(request, etag, orjson.dumps(edr.features(series, point, station)), GEOJSON)
    body = edr.coverage(series, point)
    for one in body["coverages"]:
        one["computation"] = {**one["computation"], **station, "name": place["name"]}
    return responder.store(request, etag, orjson.dumps(body), edr.COVERAGE_JSON)
