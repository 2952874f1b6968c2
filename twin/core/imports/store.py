"""Import runs: one row per `twin load` / POST /imports, kept as the audit trail of the data."""

from __future__ import annotations

import zlib
from typing import Any

from sqlalchemy import Connection, Integer, cast, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from twin.core.tables import import_run

MAX_PAGE = 500


def loader_lock_key(loader: str) -> int:
    """A stable 32-bit advisory-lock key per loader (crc32 keeps it deterministic across processes)."""
    return zlib.crc32(f"twin-import:{loader}".encode())


def try_lock_loader(conn: Connection, loader: str) -> bool:
    """Take the loader's import lock for this transaction; False when another import holds it."""
    key = loader_lock_key(loader)
    return bool(conn.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}).scalar())


def analyze(conn: Connection, table: str) -> None:
    """Fresh planner statistics for a table a loader wrote (a name from the loader's own spec)."""
    conn.execute(text(f'ANALYZE "{table.replace(chr(34), chr(34) * 2)}"'))


def start_run(conn: Connection, loader: str, triggered_by: str) -> int:
    stmt = (
        import_run.insert()
        .values(loader=loader, status="running", triggered_by=triggered_by)
        .returning(import_run.c.id)
    )
    return int(conn.execute(stmt).scalar_one())


def finish_run(
    conn: Connection,
    run_id: int,
    *,
    status: str,
    sources: list[dict[str, str]] | None = None,
    checksum: str | None = None,
    row_counts: dict[str, int] | None = None,
    error: str | None = None,
    note: str | None = None,
) -> None:
    values: dict[str, Any] = {"status": status, "finished_at": func.now(), "error": error, "note": note}
    if sources is not None:
        values["sources"] = sources
    if checksum is not None:
        values["checksum"] = checksum
    if row_counts is not None:
        values["row_counts"] = row_counts
    conn.execute(update(import_run).where(import_run.c.id == run_id).values(**values))


RUN_LOCK_SPACE = 0x7477
"""The first key of a run's advisory lock (the run id is the second): the importing process holds it on a
connection of its own for the whole run, so a run whose lock is free has lost its process."""


def hold_run(conn: Connection, run_id: int) -> None:
    """Mark run `run_id` as alive for as long as this connection holds its session lock."""
    conn.execute(text(f"SELECT pg_advisory_lock({RUN_LOCK_SPACE}, CAST(:run AS integer))"), {"run": run_id})


def release_run(conn: Connection, run_id: int) -> None:
    conn.execute(text(f"SELECT pg_advisory_unlock({RUN_LOCK_SPACE}, CAST(:run AS integer))"), {"run": run_id})


def fail_interrupted(conn: Connection, loader: str | None = None) -> int:
    """Close the runs left 'running' by a process that died (killed, or its machine lost): those whose
    run lock nobody holds. Runs of live processes elsewhere are left alone. Every loader's when
    `loader` is None (at a service's start)."""
    statement = (
        update(import_run)
        .where(
            import_run.c.status == "running",
            func.pg_try_advisory_xact_lock(RUN_LOCK_SPACE, cast(import_run.c.id, Integer)),
        )
        .values(status="failed", finished_at=func.now(), error="interrupted: the importing process stopped")
    )
    if loader is not None:
        statement = statement.where(import_run.c.loader == loader)
    return conn.execute(statement).rowcount or 0


def succeeded_with(conn: Connection, loader: str, checksum: str) -> bool:
    """Whether a run of `loader` with this checksum succeeded (the same file sent again)."""
    found = conn.execute(
        text(
            "SELECT EXISTS (SELECT 1 FROM import_run WHERE loader = :loader AND checksum = :checksum"
            " AND status = 'succeeded')"
        ),
        {"loader": loader, "checksum": checksum},
    ).scalar()
    return bool(found)


def last_success(conn: Connection, loader: str) -> dict[str, Any] | None:
    """The run that wrote the loader's current data: its id, checksum and sources."""
    stmt = (
        select(import_run.c.id, import_run.c.checksum, import_run.c.sources)
        .where(import_run.c.loader == loader, import_run.c.status == "succeeded")
        .order_by(import_run.c.id.desc())
        .limit(1)
    )
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


async def get_run(conn: AsyncConnection, run_id: int) -> dict[str, Any] | None:
    result = await conn.execute(select(import_run).where(import_run.c.id == run_id))
    row = result.mappings().first()
    return dict(row) if row else None


async def list_runs(
    conn: AsyncConnection, *, limit: int, before_id: int | None = None
) -> list[dict[str, Any]]:
    stmt = select(import_run).order_by(import_run.c.id.desc()).limit(min(limit, MAX_PAGE + 1))
    if before_id is not None:
        stmt = stmt.where(import_run.c.id < before_id)
    return [dict(row) for row in (await conn.execute(stmt)).mappings()]
