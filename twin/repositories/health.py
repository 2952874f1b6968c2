"""What readiness needs to know: the schema revision and whether Lozenets is loaded."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

_STATE = text(
    "SELECT (SELECT version_num FROM alembic_version LIMIT 1) AS revision, "
    "(SELECT count(*) FROM district) AS districts, "
    "(SELECT count(*) FROM neighbourhood) AS neighbourhoods, "
    "(SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM layer ORDER BY id LIMIT 1000) l) AS layers"
)


async def database_state(conn: AsyncConnection) -> dict[str, Any]:
    """Revision, row counts and registered layers; an empty state when the schema is missing."""
    try:
        row = (await conn.execute(_STATE)).mappings().one()
    except ProgrammingError:  # tables not created yet: the schema is not migrated
        await conn.rollback()
        revision = None
        try:
            revision = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        except ProgrammingError:
            await conn.rollback()
        return {"revision": revision, "districts": 0, "neighbourhoods": 0, "layers": []}
    return {
        "revision": row["revision"],
        "districts": int(row["districts"]),
        "neighbourhoods": int(row["neighbourhoods"]),
        "layers": list(row["layers"] or []),
    }


async def notify(engine: AsyncEngine, payload: str) -> None:
    """A notice on the layers' channel (health probes of the listening connections)."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_notify('twin_layers', :payload)"), {"payload": payload})
