"""The zoning rules in force: the latest recorded version, or the committed table (version 0) before the
"zoning" loader has recorded it; replacing them records a new version and moves the zones' data
version, so every answer that used the old rules is recomputed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.ext.asyncio import AsyncConnection

from twin.core.catalog.layers_store import touch
from twin.core.derived.engine import register_all
from twin.core.errors import Conflict
from twin.core.versions import announce
from twin.planning import store
from twin.planning.importers.loaders import ZONES_LAYER
from twin.planning.rules import RuleSet, committed_rules, parse_rules


@dataclass(frozen=True)
class RulesInForce:
    version: int
    rules: RuleSet
    note: str
    created_by: str
    created_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "note": self.note,
            "created_by": self.created_by,
            "created_at": None if self.created_at is None else self.created_at.isoformat(),
            **self.rules.model_dump(mode="json", exclude_none=True),
        }


def _of(row: dict[str, Any] | None) -> RulesInForce:
    if row is None:
        return RulesInForce(
            0, committed_rules(), "the committed table, not yet recorded", "data/zoning_rules.toml", None
        )
    return RulesInForce(
        int(row["version"]),
        RuleSet.model_validate(row["rules"]),
        row["note"],
        row["created_by"],
        row["created_at"],
    )


async def current(conn: AsyncConnection) -> RulesInForce:
    return _of(await store.places.latest_rules_async(conn))


def current_sync(conn: Connection) -> RulesInForce:
    return _of(store.places.latest_rules(conn))


async def versions(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await store.places.rule_versions(conn)
    return [{**r, "created_at": r["created_at"].isoformat()} for r in rows]


def replace(engine: Engine, body: dict[str, Any], created_by: str) -> dict[str, Any]:
    rules = parse_rules(body)
    with engine.begin() as conn:
        in_use = {str(c) for c in conn.execute(text("SELECT DISTINCT code FROM zone LIMIT 1000")).scalars()}
        missing = sorted(in_use - set(rules.codes))
        if missing:
            raise Conflict(
                f"zones in use have codes the new rules leave out: {missing}; import zoning without them "
                "first",
                codes=missing,
            )
        version = store.places.add_rules(conn, rules.model_dump(mode="json"), rules.version_note, created_by)
        versions = touch(conn, [ZONES_LAYER.id])
        versions.update(register_all(conn))
        announce(conn, "planning-rules")
    return {"version": version, "layer_versions": versions}
