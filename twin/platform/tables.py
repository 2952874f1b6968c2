"""The one SQLAlchemy MetaData every table of the twin is declared on (Alembic owns their creation),
and the platform's own table: API keys."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, MetaData, Table, Text, func

metadata = MetaData()

ROLES = ("planner", "transport", "sensor-ingest", "admin")

api_key = Table(
    "api_key",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False),
    Column("prefix", Text, nullable=False, unique=True),
    Column("key_hash", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True)),
    Column("last_used_at", DateTime(timezone=True)),
    CheckConstraint("role IN ('planner', 'transport', 'sensor-ingest', 'admin')", name="api_key_role_check"),
)
