"""The core's tables: the layer registry, the import audit trail and stored derived results."""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from twin.platform.tables import metadata

layer = Table(
    "layer",
    metadata,
    Column("id", Text, primary_key=True),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("geometry_type", Text, nullable=False),
    Column("table_name", Text),
    Column("source_ids", ARRAY(Text), nullable=False, server_default="{}"),
    Column("source", Text, nullable=False),
    Column("source_url", Text),
    Column("licence", Text, nullable=False),
    Column("attribution", Text, nullable=False),
    Column("source_date", Text),
    Column("synthetic", Boolean, nullable=False),
    Column("data_version", BigInteger, nullable=False, server_default="1"),
    Column("content_hash", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("temporal_column", Text),
    Column("parameters", JSONB),
    Column("input_layers", ARRAY(Text), nullable=False, server_default="{}"),
    Column("options", JSONB, nullable=False, server_default="{}"),
    CheckConstraint("kind IN ('base', 'derived')", name="layer_kind_check"),
)

import_run = Table(
    "import_run",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("loader", Text, nullable=False),
    Column("sources", JSONB, nullable=False, server_default="[]"),
    Column("checksum", Text),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", Text, nullable=False),
    Column("row_counts", JSONB, nullable=False, server_default="{}"),
    Column("error", Text),
    Column("note", Text),
    Column("triggered_by", Text, nullable=False, server_default="cli"),
    CheckConstraint(
        "status IN ('running', 'succeeded', 'unchanged', 'failed')", name="import_run_status_check"
    ),
)

derived_run = Table(
    "derived_run",
    metadata,
    Column("cache_key", Text, primary_key=True),
    Column("layer_id", Text, ForeignKey("layer.id", ondelete="CASCADE"), nullable=False),
    Column("params", JSONB, nullable=False),
    Column("input_versions", JSONB, nullable=False),
    Column("feature_count", Integer, nullable=False),
    Column("computation", JSONB, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_used_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

derived_feature = Table(
    "derived_feature",
    metadata,
    Column("cache_key", Text, ForeignKey("derived_run.cache_key", ondelete="CASCADE"), primary_key=True),
    Column("fid", BigInteger, primary_key=True),
    Column("props", JSONB, nullable=False),
    Column("geom", Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=False),
)

Index("derived_run_layer_idx", derived_run.c.layer_id, derived_run.c.last_used_at)
Index("derived_feature_geom_idx", derived_feature.c.geom, postgresql_using="gist")
Index("import_run_loader_started_idx", import_run.c.loader, import_run.c.started_at)
