"""Alembic: up, down to base, up again, on a database of its own."""

from __future__ import annotations

from sqlalchemy import Engine, inspect, text

from tests.support.databases import scratch_database
from twin.platform import migrate
from twin.platform.db import make_sync_engine
from twin.platform.settings import Settings

TABLES = {"layer", "import_run", "api_key", "district", "neighbourhood", "alembic_version"}


def test_upgrade_downgrade_upgrade(base_settings: Settings) -> None:
    settings = scratch_database(base_settings, "twin_test_migrations")
    engine = make_sync_engine(settings)
    try:
        migrate.upgrade(engine)
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) >= TABLES
            assert migrate.current_revision(conn) == migrate.head_revision()
            assert conn.execute(text("SELECT extname FROM pg_extension WHERE extname = 'postgis'")).scalar()
            indexes = {i["name"] for i in inspect(conn).get_indexes("district")}
            assert indexes == {"district_geom_idx"}  # exactly one spatial index, no duplicate
        migrate.downgrade(engine, "base")
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) & TABLES <= {"alembic_version"}
            assert migrate.current_revision(conn) is None
            assert (
                conn.execute(text("SELECT count(*) FROM pg_extension WHERE extname = 'postgis'")).scalar()
                == 0
            )
        migrate.upgrade(engine)
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) >= TABLES
            assert migrate.current_revision(conn) == migrate.head_revision()
    finally:
        engine.dispose()


def test_models_match_the_migrations(engine: Engine) -> None:
    """Autogenerate finds nothing to do: the SQLAlchemy tables and the migrations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from twin.platform.migrate import include_object, target_metadata

    metadata = target_metadata()

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"include_object": include_object},
        )
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_a_postgis_installed_by_someone_else_survives_a_downgrade(base_settings: Settings) -> None:
    settings = scratch_database(base_settings, "twin_test_migrations_dba")
    engine = make_sync_engine(settings)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION postgis"))  # as a DBA would, before the twin
        migrate.upgrade(engine)
        migrate.downgrade(engine, "base")
        with engine.connect() as conn:
            assert (
                conn.execute(text("SELECT count(*) FROM pg_extension WHERE extname = 'postgis'")).scalar()
                == 1
            )
    finally:
        engine.dispose()
