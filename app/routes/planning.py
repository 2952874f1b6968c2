"""The urban-planning pilot's endpoints: importing real buildings or zoning, the zoning rules (read,
replace as a new version), and what-if scenarios with their reports."""

from __future__ import annotations

import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from app.deps import ConnDep, PrincipalDep, SettingsDep, json_object, read_access, receive_file
from app.errors import PROBLEMS
from app.links import base_url, link
from app.negotiation import GEOJSON, JSON
from app.openapi import inline_schema
from app.responses import OrjsonResponse
from twin.core.errors import InvalidParameter, NotFound
from twin.planning import imports, rules_service, scenario_service
from twin.planning.rules import RuleSet
from twin.planning.scenarios import MAX_CHANGES, USES
from twin.planning.store import scenarios as scenario_store
from twin.planning.uses import MAX_FLOORS
from twin.platform.keys import require_role

router = APIRouter(tags=["urban planning"])
reads = [Depends(read_access)]
WRITE_PROBLEMS: dict[int | str, dict[str, Any]] = {
    **PROBLEMS,
    401: {"content": {"application/problem+json": {}}, "description": "No or unknown API key"},
    403: {"content": {"application/problem+json": {}}, "description": "The key lacks the role"},
    413: {"content": {"application/problem+json": {}}, "description": "Body too large"},
    422: {"content": {"application/problem+json": {}}, "description": "The file cannot be imported"},
}
FileName = Annotated[
    str,
    Query(
        min_length=1,
        max_length=200,
        pattern=r"^[\w.\- ]+$",
        description="The file's name, which tells its format: .osm.pbf, .gml (CityGML 2.0), .json "
        "(CityJSON, Overpass JSON, GeoJSON), .geojson, .gpkg.",
    ),
]
FILE_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


async def _received(request: Request, settings: Any, name: str, work: Any) -> Any:
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.cache_dir, prefix="upload-") as folder:
        path = FilePath(folder) / name
        await receive_file(request, path, settings.upload_max_mb * 1024 * 1024)
        return await anyio.to_thread.run_sync(lambda: work(path))


@router.post(
    "/planning/buildings",
    status_code=201,
    summary="Import real buildings (a planner key): they replace what was in the area they cover",
    responses=WRITE_PROBLEMS,
    openapi_extra=FILE_BODY,
)
async def import_buildings(
    request: Request, who: PrincipalDep, settings: SettingsDep, name: FileName
) -> OrjsonResponse:
    """The body is the file itself. Every footprint is checked first (an invalid or self-intersecting
    ring — and where —, too many vertices, floors ≤ 0 or above 200, a wrong or missing CRS): any
    problem refuses the whole file, naming each. The buildings (real or synthetic) in the area the file
    covers are replaced; the synthetic stock is rebuilt around the new footprints. The same file again
    changes nothing (200)."""
    require_role(who, "planner")
    engine = request.app.state.sync_engine
    result = await _received(
        request,
        settings,
        name,
        lambda path: imports.import_buildings(
            engine, path, name, f"api-key:{who.key_id}", settings.geometry_max_vertices
        ),
    )
    await request.app.state.layers.after_write()
    return OrjsonResponse(result, status_code=201 if result["status"] == "succeeded" else 200)


@router.post(
    "/planning/zones",
    status_code=201,
    summary="Import real zoning polygons in place of the synthetic ones (a planner key)",
    responses=WRITE_PROBLEMS,
    openapi_extra=FILE_BODY,
)
async def import_zones(
    request: Request, who: PrincipalDep, settings: SettingsDep, conn: ConnDep, name: FileName
) -> OrjsonResponse:
    """GeoJSON or GeoPackage, a `code` per zone (one the rules know) and optionally `name`."""
    require_role(who, "planner")
    current = await rules_service.current(conn)
    engine = request.app.state.sync_engine
    result = await _received(
        request,
        settings,
        name,
        lambda path: imports.import_zones(engine, path, name, f"api-key:{who.key_id}", current.rules),
    )
    await request.app.state.layers.after_write()
    return OrjsonResponse(result, status_code=201)


@router.get(
    "/planning/rules", summary="The zoning rules in force, each number with its source", dependencies=reads
)
async def rules(conn: ConnDep) -> OrjsonResponse:
    """Per zone code: maximum built-up density (%), floor-area ratio (Кинт), height (m), minimum green
    share (%), each with its source and standing (Sofia law, national default, secondary source); a
    rule not found in any source is absent. `version` numbers every replacement."""
    found = await rules_service.current(conn)
    return OrjsonResponse(found.as_dict())


@router.get("/planning/rules/versions", summary="Every version of the zoning rules", dependencies=reads)
async def rule_versions(conn: ConnDep) -> OrjsonResponse:
    return OrjsonResponse({"versions": await rules_service.versions(conn)})


@router.put(
    "/planning/rules",
    status_code=201,
    summary="Replace the zoning rules (an admin key): a new version",
    responses=WRITE_PROBLEMS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_schema(RuleSet)}},
        }
    },
)
async def replace_rules(request: Request, who: PrincipalDep, settings: SettingsDep) -> OrjsonResponse:
    """The body is a rule set: `{"version_note": "...", "zone": [{"code", "name", "max_density": {"value",
    "standing", "source"}, …}]}`; every problem is named by its place. Zones in use that the new rules
    leave out are refused."""
    require_role(who, "admin")
    body = await json_object(request, settings.body_max_kb * 1024)
    engine = request.app.state.sync_engine
    version = await anyio.to_thread.run_sync(
        lambda: rules_service.replace(engine, body, f"api-key:{who.key_id}")
    )
    await request.app.state.layers.after_write()
    return OrjsonResponse(version, status_code=201)


# -- scenarios -----------------------------------------------------------------------------------------
ScenarioId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A scenario's id (see /scenarios).")]
# The changes as twin.planning.scenarios checks them; what no schema can state is answered per change and
# field: a building not in the baseline or changed twice, a footprint outside Lozenets or too small.
_FLOORS = {"type": "integer", "minimum": 1, "maximum": MAX_FLOORS}
_HEIGHT = {"type": "number", "exclusiveMinimum": 0, "maximum": 700}
_BUILDING = {"type": "integer", "description": "A building's id in /collections/buildings."}
ADD_CHANGE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "footprint"],
    "anyOf": [{"required": ["floors"]}, {"required": ["height_m"]}],
    "properties": {
        "type": {"type": "string", "enum": ["add"]},
        "footprint": {
            "type": "object",
            "description": "A GeoJSON Polygon, longitude/latitude unless `crs` says otherwise; at most "
            "TWIN_GEOMETRY_MAX_VERTICES vertices (5,000 by default).",
            "required": ["type", "coordinates"],
            "properties": {
                "type": {"type": "string", "enum": ["Polygon"]},
                "coordinates": {
                    "type": "array",
                    "minItems": 1,
                    "items": {  # rings: closed, at least four positions
                        "type": "array",
                        "minItems": 4,
                        "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number"}},
                    },
                },
            },
        },
        "floors": _FLOORS,
        "height_m": _HEIGHT,
        "use": {"type": "string", "enum": list(USES)},
        "name": {"type": "string", "maxLength": 200},
        "crs": {"type": "string", "minLength": 1},
    },
}
DEMOLISH_CHANGE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "building"],
    "properties": {"type": {"type": "string", "enum": ["demolish"]}, "building": _BUILDING},
}
HEIGHT_CHANGE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "building"],
    "anyOf": [{"required": ["floors"]}, {"required": ["height_m"]}],
    "properties": {
        "type": {"type": "string", "enum": ["height"]},
        "building": _BUILDING,
        "floors": _FLOORS,
        "height_m": _HEIGHT,
    },
}
SCENARIO_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "changes"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"},
                        "description": {"type": "string", "maxLength": 2000},
                        "transit_date": {"type": "string", "format": "date"},
                        "changes": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": MAX_CHANGES,
                            "items": {"oneOf": [ADD_CHANGE, DEMOLISH_CHANGE, HEIGHT_CHANGE]},
                        },
                    },
                }
            }
        },
    }
}


def _links(request: Request, scenario_id: int) -> list[dict[str, str]]:
    root = base_url(request)
    return [
        link(f"{root}/scenarios/{scenario_id}", "self", JSON, "This scenario and its report"),
        link(
            f"{root}/collections/scenario_buildings/items?scenario={scenario_id}",
            "buildings",
            GEOJSON,
            "Its buildings",
        ),
        link(
            f"{root}/collections/planning_indicators/items?scenario={scenario_id}",
            "indicators",
            GEOJSON,
            "Its indicators",
        ),
        link(
            f"{root}/collections/scenario_difference/items?scenario={scenario_id}",
            "difference",
            GEOJSON,
            "What it changes against the baseline",
        ),
    ]


@router.post(
    "/scenarios",
    status_code=201,
    summary="Propose a what-if scenario (a planner key)",
    responses=WRITE_PROBLEMS,
    openapi_extra=SCENARIO_BODY,
)
async def create_scenario(request: Request, who: PrincipalDep, settings: SettingsDep) -> OrjsonResponse:
    """`{"name", "description"?, "transit_date"?, "changes": [...]}`, each change an `add` (footprint, floors
    or height_m, use), a `demolish` or a `height` (building, floors or height_m). Every problem is named by
    change and field and nothing is stored. The report — zones and rules before and after, floor area and
    residents added, kindergarten and school access, transit and air at the site, green per resident — is
    computed now and stored with the scenario."""
    require_role(who, "planner")
    body = await json_object(request, settings.body_max_kb * 1024)
    engine = request.app.state.sync_engine
    created = await anyio.to_thread.run_sync(
        lambda: scenario_service.create(engine, body, f"api-key:{who.key_id}", settings.geometry_max_vertices)
    )
    await request.app.state.layers.after_write()
    return OrjsonResponse(
        {**created, "links": _links(request, created["id"])},
        status_code=201,
        headers={"Location": f"{base_url(request)}/scenarios/{created['id']}"},
    )


@router.get("/scenarios", summary="The scenarios, oldest first, with next links", dependencies=reads)
async def list_scenarios(
    request: Request,
    conn: ConnDep,
    limit: Annotated[int, Query(ge=1, le=500, description="Scenarios per page.")] = 50,
    after: Annotated[
        int, Query(ge=0, le=2**31 - 1, description="Only scenarios with a larger id (paging).")
    ] = 0,
) -> OrjsonResponse:
    rows = await scenario_store.listing(conn, after, limit + 1)
    links = [link(str(request.url), "self", JSON, "This page")]
    if len(rows) > limit:
        rows = rows[:limit]
        links.append(
            link(str(request.url.include_query_params(after=rows[-1]["id"])), "next", JSON, "Next page")
        )
    return OrjsonResponse({"scenarios": rows, "links": links})


@router.get(
    "/scenarios/{scenario_id}",
    summary="A scenario, its changes, report and history",
    responses=PROBLEMS,
    dependencies=reads,
)
async def get_scenario(scenario_id: ScenarioId, request: Request, conn: ConnDep) -> OrjsonResponse:
    found = await scenario_store.get(conn, scenario_id)
    if found is None:
        raise NotFound(f"no scenario {scenario_id} (see /scenarios)", parameter="scenario_id")
    return OrjsonResponse(
        {**found, "links": _links(request, scenario_id)}, headers={"ETag": f'"{found["version"]}"'}
    )


@router.put(
    "/scenarios/{scenario_id}",
    summary="A new version of a scenario (a planner key)",
    responses=WRITE_PROBLEMS,
    openapi_extra=SCENARIO_BODY,
)
async def replace_scenario(
    scenario_id: ScenarioId, request: Request, who: PrincipalDep, settings: SettingsDep
) -> OrjsonResponse:
    """The whole scenario again; the previous version goes to its history. With `If-Match: "<version>"`
    a scenario changed meanwhile is a 409 rather than overwritten."""
    require_role(who, "planner")
    body = await json_object(request, settings.body_max_kb * 1024)
    expected = request.headers.get("if-match", "").strip('" ')
    if expected and not expected.isdigit():
        raise InvalidParameter(
            'If-Match must be a version as the ETag gives it, e.g. "2"', parameter="If-Match"
        )
    engine = request.app.state.sync_engine
    updated = await anyio.to_thread.run_sync(
        lambda: scenario_service.replace(
            engine,
            scenario_id,
            body,
            f"api-key:{who.key_id}",
            int(expected) if expected else None,
            settings.geometry_max_vertices,
        )
    )
    await request.app.state.layers.after_write()
    return OrjsonResponse({**updated, "links": _links(request, scenario_id)})


@router.delete(
    "/scenarios/{scenario_id}",
    status_code=204,
    summary="Delete a scenario (a planner key); the baseline is untouched",
    responses=WRITE_PROBLEMS,
)
async def delete_scenario(scenario_id: ScenarioId, request: Request, who: PrincipalDep) -> Response:
    require_role(who, "planner")
    engine = request.app.state.sync_engine
    await anyio.to_thread.run_sync(lambda: scenario_service.delete(engine, scenario_id))
    await request.app.state.layers.after_write()
    return Response(status_code=204)
