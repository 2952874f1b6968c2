"""Running an import: verify every source, load in one transaction, bump layer versions, record the run.

A failure anywhere leaves the previous data in place; the failed run is still recorded.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from twin.errors import Conflict, SourceError, TwinError
from twin.fetch import ProgressHook, resolve_all
from twin.importers import Loader
from twin.manifest import Manifest
from twin.repositories import imports as runs
from twin.repositories.layers import upsert_layer
from twin.settings import Settings

log = logging.getLogger("twin.import")


@dataclass
class ImportResult:
    run_id: int
    loader: str
    status: str
    checksum: str
    row_counts: dict[str, int] = field(default_factory=dict)
    layer_versions: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "loader": self.loader,
            "status": self.status,
            "checksum": self.checksum,
            "row_counts": self.row_counts,
            "layer_versions": self.layer_versions,
        }


def run_import(
    engine: Engine,
    settings: Settings,
    manifest: Manifest,
    loader: Loader,
    *,
    force: bool = False,
    triggered_by: str = "cli",
    progress: ProgressHook | None = None,
) -> ImportResult:
    entries = manifest.for_loader(loader.name)
    if not entries:
        raise SourceError(f"the manifest lists no source for loader {loader.name!r}")
    with engine.begin() as conn:
        run_id = runs.start_run(conn, loader.name, triggered_by)
    sources = [{"id": e.id, "sha256": e.sha256, "url": e.url} for e in entries]
    checksum = hashlib.sha256(
        "\n".join(
            [
                f"loader:{loader.name}:{loader.version}",
                *sorted(f"{e.id}:{e.sha256}" for e in entries),
            ]
        ).encode()
    ).hexdigest()
    try:
        paths = resolve_all(entries, settings, progress)
        with engine.begin() as conn:
            got_lock = conn.execute(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _lock_key(loader.name)}
            ).scalar()
            if not got_lock:
                raise Conflict(f"an import of {loader.name!r} is already running; try again later")
            if not force and runs.last_successful_checksum(conn, loader.name) == checksum:
                status, counts = "unchanged", {}
                versions = {spec.id: upsert_layer(conn, spec, manifest, checksum) for spec in loader.layers}
            else:
                status = "succeeded"
                counts = loader.load(conn, paths)
                versions = {spec.id: upsert_layer(conn, spec, manifest, checksum) for spec in loader.layers}
    except (TwinError, DBAPIError, OSError, ValueError) as exc:
        message = _describe(exc)
        with engine.begin() as conn:
            runs.finish_run(conn, run_id, status="failed", sources=sources, checksum=checksum, error=message)
        log.warning("import failed", extra={"loader": loader.name, "run_id": run_id, "error": message})
        if isinstance(exc, TwinError):
            raise
        raise SourceError(f"import of {loader.name!r} failed; nothing was changed: {message}") from exc
    except BaseException as exc:
        with engine.begin() as conn:
            runs.finish_run(
                conn,
                run_id,
                status="failed",
                sources=sources,
                checksum=checksum,
                error=_describe(exc),
            )
        raise
    with engine.begin() as conn:
        runs.finish_run(conn, run_id, status=status, sources=sources, checksum=checksum, row_counts=counts)
    log.info("import finished", extra={"loader": loader.name, "run_id": run_id, "status": status})
    return ImportResult(run_id, loader.name, status, checksum, counts, versions)


def _lock_key(name: str) -> int:
    # A stable 32-bit key per loader (advisory locks take a bigint; crc32 keeps it deterministic).
    return zlib.crc32(f"twin-import:{name}".encode())


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TwinError):
        return exc.detail
    if isinstance(exc, DBAPIError):
        return f"database error: {str(exc.orig).strip().splitlines()[0]}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
