"""Scenarios as the API keeps them: a proposal checked, its report computed (asking the transport and
air pilots through the core's inputs) and stored with it, new versions keeping the old in the history,
deletion that never touches the baseline; and the difference between two stocks per unit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import geopandas as gpd
import shapely
from sqlalchemy import Connection, Engine

from twin.core import registry
from twin.core.catalog.layers_store import touch
from twin.core.derived.engine import DatabaseInputs, register_all
from twin.core.derived.inputs import Inputs
from twin.core.errors import Conflict, InvalidParameter, NotFound, NotReady
from twin.core.grids import parts_with_rest
from twin.core.versions import announce
from twin.planning import indicators, report, rules_service, scenarios, store, walking
from twin.planning.importers.footprints import MAX_VERTICES
from twin.planning.importers.loaders import SCENARIOS_LAYER
from twin.platform.clock import today_in_sofia
from twin.questions import AIR_QUALITY, TRANSIT

WALK_M = 15 * walking.WALK_M_PER_MIN
TRANSIT_WINDOW = (7 * 3600, 9 * 3600)
BODY_FIELDS = {"name", "description", "changes", "transit_date"}


def next_weekday(day: dt.date, weekday: int = 1) -> dt.date:
    """The first `weekday` (Monday 0) on or after `day`: the service day transit is counted on."""
    return day + dt.timedelta(days=(weekday - day.weekday()) % 7)


def _body(body: dict[str, Any]) -> tuple[str, str, Any, dt.date]:
    extra = sorted(set(body) - BODY_FIELDS)
    if extra:
        raise InvalidParameter(
            f"unknown field {extra[0]!r} (fields: {', '.join(sorted(BODY_FIELDS))})", parameter=extra[0]
        )
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 200:
        raise InvalidParameter("name: 1 to 200 characters", parameter="name")
    description = body.get("description", "")
    if not isinstance(description, str) or len(description) > 2000:
        raise InvalidParameter("description: at most 2,000 characters", parameter="description")
    day = body.get("transit_date")
    if day is None:
        service_day = next_weekday(today_in_sofia())
    else:
        try:
            service_day = dt.date.fromisoformat(str(day))
        except ValueError as exc:
            raise InvalidParameter("transit_date: a day, YYYY-MM-DD", parameter="transit_date") from exc
    return name.strip(), description, body.get("changes"), service_day


def baseline(conn: Connection) -> gpd.GeoDataFrame:
    return store.buildings.frame(conn)


def compute(
    conn: Connection, changes_in: Any, service_day: dt.date, max_vertices: int = MAX_VERTICES
) -> tuple[list[dict[str, Any]], dict[str, Any], bytes]:
    """(the checked changes, the report, the footprints they touch in WGS 84 as WKB)."""
    inputs = DatabaseInputs(conn, registry.providers())
    stock = baseline(conn)
    try:
        district = shapely.union_all(inputs.frame("district").geometry.values)
    except LookupError as exc:  # a twin not loaded yet: nothing to propose against
        raise NotReady(f"proposals need the district and the buildings loaded first: {exc}") from exc
    district_wgs84 = gpd.GeoSeries([district], crs=32634).to_crs(4326).iloc[0]
    changes = scenarios.check_changes(changes_in, set(stock["id"].astype(int)), district_wgs84, max_vertices)
    proposed = scenarios.apply_changes(stock, changes)
    found = report.report(
        stock.assign(changed="unchanged"), proposed, changes, context(conn, inputs, service_day)
    )
    area = gpd.GeoSeries([scenarios.changed_area(stock, changes)], crs=32634).to_crs(4326).iloc[0]
    return changes, found, shapely.to_wkb(area)


def context(conn: Connection, inputs: Inputs, service_day: dt.date) -> report.Context:
    rules = rules_service.current_sync(conn)
    transit_missing = _missing(conn, inputs.has(TRANSIT), "transit", "the public-transport pilot", "stops")
    air_missing = _missing(
        conn, inputs.has(AIR_QUALITY), "air_quality", "the air-quality pilot", "air_measurements"
    )
    district = inputs.frame("district")
    area = shapely.union_all(district.geometry.values)
    return report.Context(
        zones=inputs.frame("zones"),
        rules=rules.rules,
        rules_version=rules.version,
        neighbourhoods=parts_with_rest(area, inputs.frame("neighbourhoods")),
        green=inputs.frame("green_areas"),
        mapped=shapely.union_all(inputs.frame("building_coverage").geometry.values),
        population=int(district["population_estimate"].fillna(0).sum()) or None,
        education=inputs.frame("education_places"),
        graph=walking.graph_of(inputs.frame("streets")),
        walk_m=WALK_M,
        detour=walking.DEFAULT_DETOUR,
        transit=inputs.get(TRANSIT) if transit_missing is None else None,
        transit_missing=transit_missing,
        transit_day=service_day,
        transit_window=TRANSIT_WINDOW,
        air=inputs.get(AIR_QUALITY) if air_missing is None else None,
        air_missing=air_missing,
    )


def _missing(conn: Connection, answered: bool, question: str, pilot: str, layer_id: str) -> str | None:
    """Why a question cannot be answered (None when it can): no pilot answers it, or no data is loaded."""
    if not answered:
        return f"no pilot answers '{question}' ({pilot} is not installed)"
    if not _loaded(conn, layer_id):
        return f"{pilot} has no data loaded ({layer_id})"
    return None


def _loaded(conn: Connection, layer_id: str) -> bool:
    from twin.core.derived.store import input_versions

    return layer_id in input_versions(conn, [layer_id])


def _published(conn: Connection) -> dict[str, int]:
    versions = touch(conn, [SCENARIOS_LAYER.id])
    versions.update(register_all(conn))
    announce(conn, "scenarios")
    return versions


def create(
    engine: Engine, body: dict[str, Any], created_by: str, max_vertices: int = MAX_VERTICES
) -> dict[str, Any]:
    name, description, changes_in, day = _body(body)
    with engine.begin() as conn:
        changes, found, area = compute(conn, changes_in, day, max_vertices)
        row = store.scenarios.insert(conn, name, description, changes, found, created_by, area)
        _published(conn)
    return {**row, "name": name, "report": found}


def replace(
    engine: Engine,
    scenario_id: int,
    body: dict[str, Any],
    created_by: str,
    expected_version: int | None,
    max_vertices: int = MAX_VERTICES,
) -> dict[str, Any]:
    name, description, changes_in, day = _body(body)
    with engine.begin() as conn:
        current = store.scenarios.exists(conn, scenario_id)
        if current is None:
            raise NotFound(f"no scenario {scenario_id}", parameter="scenario")
        if expected_version is not None and current != expected_version:
            raise Conflict(
                f"scenario {scenario_id} is at version {current}, not {expected_version}: read it again"
            )
        changes, found, area = compute(conn, changes_in, day, max_vertices)
        row = store.scenarios.update(
            conn, scenario_id, name, description, changes, found, area, expected_version
        )
        if row is None:
            raise Conflict(f"scenario {scenario_id} changed meanwhile: read it again")
        _published(conn)
    del created_by
    return {**row, "name": name, "report": found}


def delete(engine: Engine, scenario_id: int) -> None:
    with engine.begin() as conn:
        if not store.scenarios.delete(conn, scenario_id):
            raise NotFound(f"no scenario {scenario_id}", parameter="scenario")
        _published(conn)


def stock_of(conn: Connection, scenario_id: int | None) -> gpd.GeoDataFrame:
    """The baseline, or a scenario's stock."""
    stock = baseline(conn)
    if scenario_id is None:
        return stock.assign(changed="unchanged")
    changes = store.scenarios.changes(conn, scenario_id)
    if changes is None:
        raise NotFound(f"no scenario {scenario_id} (see /scenarios)", parameter="scenario")
    return scenarios.apply_changes(stock, changes)


def per_person(conn: Connection, inputs: Inputs) -> float:
    """The floor area per person the baseline is calibrated to (scenarios are counted at it)."""
    population = int(inputs.frame("district")["population_estimate"].fillna(0).sum()) or None
    return indicators.calibrate(baseline(conn), population) or indicators.DEFAULT_FLOOR_AREA_PER_PERSON
