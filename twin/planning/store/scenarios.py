"""The SQL of scenarios: their changes, report and history, and the footprints they touch."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection

MAX_LIST = 500


def insert(
    conn: Connection, name: str, description: str, changes: Any, report: Any, created_by: str, area_wkb: bytes
) -> dict[str, Any]:
    row = (
        conn.execute(
            text(
                "INSERT INTO scenario (name, description, changes, report, created_by, geom)"
                " VALUES (:name, :description, CAST(:changes AS jsonb), CAST(:report AS jsonb), :by,"
                " ST_Multi(ST_GeomFromWKB(:wkb, 4326)))"
                " RETURNING id, version, created_at, updated_at"
            ),
            {
                "name": name,
                "description": description,
                "changes": _json(changes),
                "report": _json(report),
                "by": created_by,
                "wkb": area_wkb,
            },
        )
        .mappings()
        .one()
    )
    return dict(row)


def update(
    conn: Connection,
    scenario_id: int,
    name: str,
    description: str,
    changes: Any,
    report: Any,
    area_wkb: bytes,
    expected_version: int | None,
) -> dict[str, Any] | None:
    """A new version; the previous one kept in the history. None when the scenario does not exist (or is
    no longer at `expected_version`)."""
    row = (
        conn.execute(
            text(
                "UPDATE scenario SET name = :name, description = :description,"
                " changes = CAST(:changes AS jsonb), report = CAST(:report AS jsonb), version = version + 1,"
                " updated_at = now(), history = history || jsonb_build_array(jsonb_build_object("
                "   'version', version, 'changes', changes, 'updated_at', updated_at,"
                "   'floor_area', report -> 'floor_area')),"
                " geom = ST_Multi(ST_GeomFromWKB(:wkb, 4326))"
                " WHERE id = :id AND (CAST(:expected AS integer) IS NULL OR version = :expected)"
                " RETURNING id, version, created_at, updated_at"
            ),
            {
                "id": scenario_id,
                "name": name,
                "description": description,
                "changes": _json(changes),
                "report": _json(report),
                "wkb": area_wkb,
                "expected": expected_version,
            },
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


def delete(conn: Connection, scenario_id: int) -> bool:
    return bool(conn.execute(text("DELETE FROM scenario WHERE id = :id"), {"id": scenario_id}).rowcount)


def exists(conn: Connection, scenario_id: int) -> int | None:
    found = conn.execute(text("SELECT version FROM scenario WHERE id = :id"), {"id": scenario_id}).scalar()
    return None if found is None else int(found)


def changes(conn: Connection, scenario_id: int) -> list[dict[str, Any]] | None:
    found = conn.execute(
        text("SELECT changes::text FROM scenario WHERE id = :id"), {"id": scenario_id}
    ).scalar()
    return None if found is None else list(orjson.loads(found))


async def get(conn: AsyncConnection, scenario_id: int) -> dict[str, Any] | None:
    row = (
        (
            await conn.execute(
                text(
                    "SELECT id, name, description, version, changes::text AS changes,"
                    " report::text AS report, history::text AS history, created_by, created_at, updated_at"
                    " FROM scenario WHERE id = :id"
                ),
                {"id": scenario_id},
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    return {
        **{k: row[k] for k in ("id", "name", "description", "version", "created_by")},
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "changes": orjson.loads(row["changes"]),
        "report": orjson.loads(row["report"]),
        "history": orjson.loads(row["history"]),
    }


async def listing(conn: AsyncConnection, after: int, limit: int) -> list[dict[str, Any]]:
    rows = await conn.execute(
        text(
            "SELECT id, name, version, created_at, updated_at,"
            " CAST(report -> 'floor_area' ->> 'residents_added' AS double precision) AS residents_added,"
            " jsonb_array_length(changes) AS changes FROM scenario WHERE id > :after ORDER BY id LIMIT :limit"
        ),
        {"after": after, "limit": min(limit, MAX_LIST)},
    )
    return [
        {**dict(r), "created_at": r["created_at"].isoformat(), "updated_at": r["updated_at"].isoformat()}
        for r in rows.mappings()
    ]


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
