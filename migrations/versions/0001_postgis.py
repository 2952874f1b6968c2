"""Enable PostGIS.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Remembered on the extension itself, so that a downgrade never drops a PostGIS a DBA installed.
_CREATE = """
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'postgis') THEN
    CREATE EXTENSION postgis;
    COMMENT ON EXTENSION postgis IS 'created by lozenets-twin migration 0001';
  END IF;
END $$
"""
_DROP = """
DO $$ BEGIN
  IF obj_description((SELECT oid FROM pg_extension WHERE extname = 'postgis'), 'pg_extension')
     = 'created by lozenets-twin migration 0001' THEN
    DROP EXTENSION postgis;
  END IF;
END $$
"""


def upgrade() -> None:
    op.execute(_CREATE)


def downgrade() -> None:
    op.execute(_DROP)
