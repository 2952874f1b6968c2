"""Settings, read from the environment (prefix ``TWIN_``) or a ``.env`` file; validated at start-up."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Every setting of the twin. The README's table is generated from these fields' descriptions."""

    model_config = SettingsConfigDict(
        env_prefix="TWIN_", env_file=PROJECT_ROOT / ".env", extra="ignore", populate_by_name=True
    )

    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "TWIN_DATABASE_URL"),
        description="PostgreSQL/PostGIS URL (postgresql://user:pass@host:port/db). "
        "Unset: the twin provisions and uses its own private cluster under TWIN_HOME.",
    )
    home: Path = Field(
        default=PROJECT_ROOT / ".twin",
        description="Folder for the private cluster, the source cache and other local state (git-ignored).",
    )
    db_name: str = Field(
        default="twin",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="Database name inside the private cluster (ignored when DATABASE_URL is set).",
    )
    pg_port: int = Field(
        default=54329,
        ge=1024,
        le=65535,
        description="TCP port of the private cluster (127.0.0.1 only).",
    )
    pg_dir: Path | None = Field(
        default=None,
        description="Folder of the private cluster. Default: TWIN_HOME/pg (when running as root and the "
        "postgres user cannot reach it, a folder under /var/tmp).",
    )
    sources_dir: Path | None = Field(
        default=None,
        description="Local mirror of the public sources (e.g. ../shared/data). Unset: sources are "
        "downloaded from their URLs into TWIN_HOME/cache.",
    )
    manifest: Path = Field(
        default=PROJECT_ROOT / "data" / "sources.toml",
        description="The source manifest (id, URL, sha256, licence, attribution, loader of every source).",
    )
    require_read_key: bool = Field(
        default=False,
        description="Require an API key (any role) for reads too, not only for writes.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO")
    log_format: Literal["json", "text"] = Field(
        default="json", description="Structured JSON logs (one object per line) or plain text."
    )
    write_rate_per_minute: int = Field(
        default=120,
        ge=0,
        le=1_000_000,
        description="Writes a minute each API key may make, per worker process (0: no limit); past it, 429 "
        "with Retry-After.",
    )
    write_burst: int = Field(default=30, ge=1, le=100_000, description="Writes a key may make at once.")
    cors_read_origins: str = Field(
        default="*",
        description="Origins whose browser apps may read (GET, HEAD): `*` (every origin, the default, as "
        "tipg and pygeoapi do), a comma-separated list, or empty for none.",
    )
    cors_write_origins: str = Field(
        default="",
        description="Origins whose browser apps may write (POST, PUT, PATCH, DELETE), comma-separated; "
        "empty (the default) for none. Writes still need an API key.",
    )
    host: str = Field(default="127.0.0.1", description="Address `twin serve` binds.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `twin serve` binds.")
    workers: int = Field(default=1, ge=1, le=64, description="uvicorn worker processes.")
    loop: Literal["asyncio", "uvloop"] = Field(
        default="asyncio",
        description="The event loop `twin serve` runs. asyncio: measured fairer under overload "
        "(bench/load.py, 200 clients: p99 0.4 s and no timeouts, where uvloop left 1-2 s tails).",
    )
    db_pool_size: int = Field(default=10, ge=1, le=200, description="Connections per worker.")
    db_connect_timeout: float = Field(
        default=3.0, gt=0, le=60, description="Seconds to wait for a database connection."
    )
    db_queue_max: int = Field(
        default=400,
        ge=0,
        le=100_000,
        description="Requests a worker lets wait for a database connection when all are busy; one more is "
        "refused at once (503, Retry-After: 1). 0: none wait.",
    )
    db_queue_seconds: float = Field(
        default=1.5,
        gt=0,
        le=60,
        description="Seconds a request waits in that queue at most before it is refused (503, "
        "Retry-After: 1); below a client's usual timeout, so a refused request learns it in time.",
    )
    read_replicas: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Streaming replicas of the database for base-layer reads: postgresql:// URLs, "
        "comma-separated; empty (the default) for none. Writes, imports and the change feed stay on the "
        "primary; a replica that lags, fails or has not replayed a change this process knows of is skipped.",
    )
    replica_max_lag_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="A replica further behind the primary than this many seconds takes no reads.",
    )
    replica_check_seconds: float = Field(
        default=1.0, gt=0, le=60, description="Seconds between two checks of the replicas' replay position."
    )
    fetch_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Retries per source download (transport errors, 429 and 5xx only; never 403, 404, 410).",
    )
    fetch_backoff: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="Ceiling of the first retry's random wait, seconds; doubles on each retry (at most 30 s; "
        "a Retry-After is obeyed).",
    )

    items_default_limit: int = Field(
        default=10, ge=1, le=10_000, description="Features per page when a request sets no `limit`."
    )
    items_max_limit: int = Field(default=10_000, ge=1, le=100_000, description="Largest `limit` accepted.")
    exact_count_max: int = Field(
        default=500_000,
        ge=0,
        description="numberMatched is counted exactly (first page only) for layers up to this many rows; "
        "larger layers omit it.",
    )
    tile_max_features: int = Field(default=20_000, ge=1, description="Features per vector tile, at most.")
    response_cache_mb: int = Field(
        default=256, ge=0, le=65_536, description="Memory per worker for finished responses (0 = off)."
    )
    telemetry: bool = Field(
        default=False,
        description="FastAPI's OpenTelemetry traces, metrics and logs, for a deployment that configures "
        "an OpenTelemetry provider; off, nothing is asked per request.",
    )
    geometry_max_vertices: int = Field(
        default=5_000,
        ge=4,
        le=1_000_000,
        description="Vertices one geometry may have: a footprint in an uploaded file or a scenario, the "
        "coords of an EDR query (larger: 400/422 naming it).",
    )
    body_max_kb: int = Field(
        default=1024,
        ge=1,
        le=1_048_576,
        description="Largest JSON request body (derived-layer parameters, batches), in KiB; larger: 413.",
    )
    upload_max_mb: int = Field(
        default=200, ge=1, le=10_000, description="Largest file accepted by an upload import, in MiB."
    )
    http_max_age: int = Field(
        default=0,
        ge=0,
        le=86_400,
        description="Cache-Control max-age (s) of layer responses; clients revalidate with ETag after it.",
    )

    @field_validator("database_url", "pg_dir", "sources_dir", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("read_replicas", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("home", "pg_dir", "sources_dir", "manifest")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    @cached_property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def uses_private_cluster(self) -> bool:
        return self.database_url is None
