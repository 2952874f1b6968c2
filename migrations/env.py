"""Alembic environment: the URL comes from the twin's settings, or a connection handed in by
`twin.platform.migrate` (config.attributes["connection"])."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from twin.platform.db import make_sync_engine
from twin.platform.migrate import include_object
from twin.platform.migrate import target_metadata as every_table
from twin.platform.settings import Settings

config = context.config
target_metadata = every_table()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_sync_engine(Settings())
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run them against a database")
run_migrations_online()
