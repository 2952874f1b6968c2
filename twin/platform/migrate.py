"""Alembic, driven from Python: upgrade, downgrade, and 'is the schema at head?'."""

from __future__ import annotations

import re

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData

from twin.platform.settings import PROJECT_ROOT
from twin.platform.tables import metadata


def target_metadata() -> MetaData:
    """Every table of the twin: the platform's, the core's and each installed pilot's (a pilot's modules
    declare its tables on the one MetaData when the registry loads it)."""
    from twin.core import tables  # noqa: F401
    from twin.core.registry import pilots

    pilots()
    return metadata


_PARTITION = re.compile(r".+_p(\d{4}|default)")


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """What autogenerate compares: not PostGIS's own spatial_ref_sys, and not the partitions of a
    partitioned table (``<table>_p<year>``, ``<table>_pdefault``), which the migrations make and the
    models declare through their parent."""
    if type_ == "table" and name == "spatial_ref_sys":
        return False
    return not (type_ == "table" and reflected and compare_to is None and _PARTITION.fullmatch(name or ""))


def alembic_config() -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("the migrations folder has no head revision")
    return head


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()
