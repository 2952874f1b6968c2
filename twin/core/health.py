"""What readiness needs to know: the schema revision, the registered layers, and the row counts that
the pilots' readiness checks name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection

from twin.core.catalog.model import quote_ident
from twin.core.registry import Readiness

COUNT_BOUND = 1_000_000
"""Rows counted at most per table: readiness asks whether data is there, not how much."""


def _state_sql(checks: Sequence[Readiness]) -> tuple[str, dict[str, str]]:
    columns = [
        "(SELECT version_num FROM alembic_version LIMIT 1) AS revision",
        "(SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM layer ORDER BY id LIMIT 1000) l) AS layers",
    ]
    labels: dict[str, str] = {}
    for check in checks:
        for label, table in check.tables.items():
            alias = f"n{len(labels)}"
            labels[alias] = f"{check.name}.{label}"
            # Table names come from the pilots' code, quoted; nothing of a request reaches this SQL.
            bounded = f"SELECT 1 FROM {quote_ident(table)} LIMIT {COUNT_BOUND}"  # noqa: S608
            columns.append(f"(SELECT count(*) FROM ({bounded}) x) AS {alias}")  # noqa: S608
    return "SELECT " + ", ".join(columns), labels


async def database_state(conn: AsyncConnection, checks: Sequence[Readiness]) -> dict[str, Any]:
    """Revision, registered layers and {check: {label: rows}}; zero rows and no layers when the schema
    is missing."""
    sql, labels = _state_sql(checks)
    counts: dict[str, dict[str, int]] = {c.name: dict.fromkeys(c.tables, 0) for c in checks}
    try:
        row = (await conn.execute(text(sql))).mappings().one()
    except ProgrammingError:  # tables not created yet: the schema is not migrated
        await conn.rollback()
        revision = None
        try:
            revision = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        except ProgrammingError:
            await conn.rollback()
        return {"revision": revision, "counts": counts, "layers": []}
    for alias, label in labels.items():
        check, _, name = label.partition(".")
        counts[check][name] = int(row[alias])
    return {"revision": row["revision"], "counts": counts, "layers": list(row["layers"] or [])}
