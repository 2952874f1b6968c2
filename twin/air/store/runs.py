"""Which import run is writing, so each measurement row names the run that brought it."""

from __future__ import annotations

from sqlalchemy import Connection, text


def current(conn: Connection, loader: str) -> int | None:
    """The newest run of `loader` still marked running (the runner records it before the load)."""
    value = conn.execute(
        text("SELECT max(id) FROM import_run WHERE loader = :loader AND status = 'running'"),
        {"loader": loader},
    ).scalar()
    return None if value is None else int(value)
