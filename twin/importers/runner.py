"""Running an import: verify every source, load in one transaction, bump layer versions, record the run.

A failure anywhere leaves the previous data in place; the failed run is still recorded.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from twin.errors import Conflict, InvalidParameter, SourceError, TwinError
from twin.fetch import ProgressHook, resolve_all
from twin.importers import Loader
from twin.manifest import Manifest
from twin.repositories import imports as runs
from twin.repositories.layers import register_derived, upsert_layer
from twin.scenarios import derived_layers
from twin.settings import Settings

log = logging.getLogger("twin.import")

NOTIFY_CHANNEL = "twin_layers"
"""Channel on which imports announce changed layers (see twin.versions)."""


@dataclass(frozen=True)
class Upload:
    """A user's own file standing in for a loader's single source, with the provenance the user states
    (a layer never claims the manifest's source, licence or date for data that did not come from it)."""

    path: Path
    sha256: str
    filename: str
    source: str
    licence: str
    attribution: str
    source_date: str | None = None
    source_url: str | None = None

    def provenance(self) -> dict[str, object]:
        return {
            "source": f"uploaded: {self.source}",
            "source_url": self.source_url,
            "licence": self.licence,
            "attribution": self.attribution,
            "source_date": self.source_date,
            "synthetic": False,
        }


@dataclass
class ImportResult:
    run_id: int
    loader: str
    status: str
    checksum: str
    row_counts: dict[str, int] = field(default_factory=dict)
    layer_versions: dict[str, int] = field(default_factory=dict)
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "loader": self.loader,
            "status": self.status,
            "checksum": self.checksum,
            "row_counts": self.row_counts,
            "layer_versions": self.layer_versions,
            "note": self.note,
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
    upload: Upload | None = None,
) -> ImportResult:
    """Import the manifest's sources of a loader, or a user's `upload` in place of its single source.

    Retrying is harmless: the same sources (or the same uploaded bytes) give status ``unchanged``. An
    uploaded feed is kept by later manifest imports without `force`, so restarting the server does not
    silently replace what a user uploaded.
    """
    entries = manifest.for_loader(loader.name)
    if not entries:
        raise SourceError(f"the manifest lists no source for loader {loader.name!r}")
    if upload is not None and not loader.accepts_uploads:
        raise InvalidParameter(f"loader {loader.name!r} does not take uploaded files", parameter="loader")
    with engine.begin() as conn:
        run_id = runs.start_run(conn, loader.name, triggered_by)
    if upload is None:
        sources: list[dict[str, Any]] = [{"id": e.id, "sha256": e.sha256, "url": e.url} for e in entries]
        identity = sorted(f"{e.id}:{e.sha256}" for e in entries)
    else:
        sources = [{"id": entries[0].id, "sha256": upload.sha256, "uploaded": upload.filename}]
        identity = [f"upload:{upload.sha256}"]
    checksum = hashlib.sha256(
        "\n".join([f"loader:{loader.name}:{loader.version}", *identity]).encode()
    ).hexdigest()
    try:
        paths = resolve_all(entries, settings, progress) if upload is None else {entries[0].id: upload.path}
        with engine.begin() as conn:
            got_lock = conn.execute(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _lock_key(loader.name)}
            ).scalar()
            if not got_lock:
                raise Conflict(f"an import of {loader.name!r} is already running; try again later")
            runs.fail_interrupted(conn, loader.name, except_id=run_id)
            counts: dict[str, int] = {}
            note = None
            last = runs.last_success(conn, loader.name)
            if not force and last is not None and last["checksum"] == checksum:
                status = "unchanged"
            elif not force and upload is None and last is not None and _was_upload(last["sources"]):
                # The data stays as the user uploaded it: the run changed nothing.
                status = "unchanged"
                note = (
                    f"run {last['id']} loaded an uploaded file, which is kept: the manifest's source "
                    "was not loaded (force replaces the upload)"
                )
                log.warning(note, extra={"loader": loader.name})
            else:
                status = "succeeded"
                counts = _load(loader, conn, paths)
                for spec in loader.layers:
                    if spec.table_name:  # fresh statistics, so counts and plans are right at once
                        conn.execute(text(f'ANALYZE "{spec.table_name}"'))
            provenance = upload.provenance() if upload is not None else None
            if note is not None:
                versions = {}
            else:
                versions = {
                    spec.id: upsert_layer(conn, spec, manifest, checksum, provenance)
                    for spec in loader.layers
                }
            versions.update(register_derived(conn, derived_layers().values()))
            # Delivered at commit: every worker's catalog and caches follow at once.
            conn.execute(
                text("SELECT pg_notify(:channel, :loader)"),
                {"channel": NOTIFY_CHANNEL, "loader": loader.name},
            )
    except BaseException as exc:
        message = _describe(exc)
        _record_failure(engine, run_id, sources, checksum, message)
        log.warning("import failed", extra={"loader": loader.name, "run_id": run_id, "error": message})
        if isinstance(exc, TwinError) or not isinstance(exc, Exception):
            raise
        raise SourceError(f"import of {loader.name!r} failed; nothing was changed: {message}") from exc
    with engine.begin() as conn:
        runs.finish_run(
            conn, run_id, status=status, sources=sources, checksum=checksum, row_counts=counts, note=note
        )
    log.info("import finished", extra={"loader": loader.name, "run_id": run_id, "status": status})
    return ImportResult(run_id, loader.name, status, checksum, counts, versions, note)


def _load(loader: Loader, conn: Connection, paths: Mapping[str, Path]) -> dict[str, int]:
    try:
        return loader.load(conn, paths)
    except (TwinError, DBAPIError):
        raise
    except Exception as exc:
        # A loader meeting data it did not expect (a missing property, a wrong type) is a source problem.
        raise SourceError(f"{loader.name}: the sources could not be loaded: {_describe(exc)}") from exc


def _record_failure(
    engine: Engine, run_id: int, sources: list[dict[str, str]], checksum: str, message: str
) -> None:
    # The database may be the thing that failed: recording the failure must not hide the cause.
    try:
        with engine.begin() as conn:
            runs.finish_run(conn, run_id, status="failed", sources=sources, checksum=checksum, error=message)
    except DBAPIError:
        log.error("could not record the failed import run", extra={"run_id": run_id})


def _was_upload(sources: list[dict[str, Any]] | None) -> bool:
    return any("uploaded" in source for source in sources or [])


def _lock_key(name: str) -> int:
    # A stable 32-bit key per loader (advisory locks take a bigint; crc32 keeps it deterministic).
    return zlib.crc32(f"twin-import:{name}".encode())


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TwinError):
        return exc.detail
    if isinstance(exc, DBAPIError):
        return f"database error: {str(exc.orig).strip().splitlines()[0]}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
