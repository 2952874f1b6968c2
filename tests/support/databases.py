"""Test databases on the real PostGIS, and what the tests read back from them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Engine, text

from twin.platform.cluster import create_database
from twin.platform.db import database_url, libpq_url
from twin.platform.settings import Settings


def scratch_database(settings: Settings, name: str) -> Settings:
    """Settings pointing at a freshly (re)created database `name` on the test server."""
    admin = database_url(settings, "postgres")
    create_database(libpq_url(admin), name, drop_first=True)
    url = libpq_url(database_url(settings, name))
    return settings.model_copy(update={"database_url": SecretStr(url)})


@dataclass(frozen=True)
class ProcessServer:
    url: str
    log: Path

    def requests_to(self, path: str) -> list[dict[str, Any]]:
        """The request-log entries for a path, as the server wrote them."""
        entries = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                if entry.get("msg") == "request" and entry.get("path") == path:
                    entries.append(entry)
        return entries


def stored_grid_count(engine: Engine, cell_size: int = 100) -> int:
    """Cells in the most recently used stored grid of this size (what the API serves)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT feature_count FROM derived_run WHERE layer_id = 'lozenets_grid'"
                    " AND params = jsonb_build_object('cell_size', CAST(:size AS integer))"
                    " ORDER BY last_used_at DESC LIMIT 1"
                ),
                {"size": cell_size},
            ).scalar_one()
        )
