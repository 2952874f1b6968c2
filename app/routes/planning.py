"""The urban-planning pilot's endpoints: importing real buildings or zoning, the zoning rules (read,
replace as a new version), and what-if scenarios with their reports."""

from __future__ import annotations

import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Query, Request

from app.deps import ConnDep, PrincipalDep, SettingsDep, json_object, read_access, receive_file
from app.errors import PROBLEMS
from app.responses import OrjsonResponse
from twin.planning import imports, rules_service
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
        lambda path: imports.import_buildings(engine, path, name, f"api-key:{who.key_id}"),
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
