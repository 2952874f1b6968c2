"""The SQL of line punctuality: the month's figures, replaced whole."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert

from twin.transport.tables import line_punctuality


def replace_lines(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    conn.execute(delete(line_punctuality))
    if rows:
        conn.execute(insert(line_punctuality), list(rows))
    return len(rows)
