"""Running an import: verify every source, load in one transaction, bump layer versions, record the run.

A failure anywhere leaves the previous data in place; the failed run is still recorded.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from twin.core.catalog.layers_store import upsert_layer
from twin.core.derived.engine import register_all
from twin.core.errors import Conflict, InvalidParameter, SourceError, TwinError
from twin.core.imports import store as runs
from twin.core.imports.fetch import ProgressHook, resolve_all
from twin.core.imports.loader import Loader
from twin.core.imports.manifest import Manifest, SourceEntry
from twin.core.imports.upload import Upload
from twin.core.versions import announce
from twin.platform.settings import Settings

log = logging.getLogger("twin.import")


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


@dataclass(frozen=True)
class _Identity:
    """What is being imported: the sources as recorded in the run, and their checksum (equal checksums
    mean the same data, so a second import of them changes nothing)."""

    sources: list[dict[str, Any]]
    checksum: str


@dataclass(frozen=True)
class _Outcome:
    status: str
    counts: dict[str, int]
    note: str | None = None


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
    entries = _entries(manifest, loader, upload)
    with engine.begin() as conn:
        run_id = runs.start_run(conn, loader.name, triggered_by)
    with engine.connect() as guard:
        # While this connection lives the run is ours; if the process dies, its lock goes with it and
        # the next service start (or the next import of this loader) closes the run as failed.
        runs.hold_run(guard, run_id)
        guard.commit()
        try:
            return _run(engine, settings, manifest, loader, entries, run_id, force, progress, upload)
        finally:
            try:
                runs.release_run(guard, run_id)
                guard.commit()
            except DBAPIError:  # the connection is gone, and its lock with it; the run's error matters
                log.warning("could not release the run lock", extra={"run_id": run_id})


def _run(
    engine: Engine,
    settings: Settings,
    manifest: Manifest,
    loader: Loader,
    entries: tuple[SourceEntry, ...],
    run_id: int,
    force: bool,
    progress: ProgressHook | None,
    upload: Upload | None,
) -> ImportResult:
    identity = _identify(loader, entries, upload)
    try:
        paths = resolve_all(entries, settings, progress) if upload is None else {entries[0].id: upload.path}
        with engine.begin() as conn:
            if not runs.try_lock_loader(conn, loader.name):
                raise Conflict(f"an import of {loader.name!r} is already running; try again later")
            runs.fail_interrupted(conn, loader.name)
            outcome = _write(conn, loader, paths, identity, force=force, uploaded=upload is not None)
            versions = _publish(conn, loader, manifest, identity, outcome, upload)
    except BaseException as exc:
        _fail(engine, run_id, loader, identity, exc)
        raise _as_twin_error(loader, exc) from exc
    with engine.begin() as conn:
        runs.finish_run(
            conn,
            run_id,
            status=outcome.status,
            sources=identity.sources,
            checksum=identity.checksum,
            row_counts=outcome.counts,
            note=outcome.note,
        )
    log.info("import finished", extra={"loader": loader.name, "run_id": run_id, "status": outcome.status})
    return ImportResult(
        run_id, loader.name, outcome.status, identity.checksum, outcome.counts, versions, outcome.note
    )


def _entries(manifest: Manifest, loader: Loader, upload: Upload | None) -> tuple[SourceEntry, ...]:
    entries = manifest.for_loader(loader.name)
    if not entries:
        raise SourceError(f"the manifest lists no source for loader {loader.name!r}")
    if upload is not None and not loader.accepts_uploads:
        raise InvalidParameter(f"loader {loader.name!r} does not take uploaded files", parameter="loader")
    return entries


def _identify(loader: Loader, entries: tuple[SourceEntry, ...], upload: Upload | None) -> _Identity:
    if upload is None:
        sources: list[dict[str, Any]] = [{"id": e.id, "sha256": e.sha256, "url": e.url} for e in entries]
        identity = sorted(f"{e.id}:{e.sha256}" for e in entries)
    else:
        sources = [{"id": entries[0].id, "sha256": upload.sha256, "uploaded": upload.filename}]
        identity = [f"upload:{upload.sha256}"]
    checksum = hashlib.sha256(
        "\n".join([f"loader:{loader.name}:{loader.version}", *identity]).encode()
    ).hexdigest()
    return _Identity(sources, checksum)


def _write(
    conn: Connection,
    loader: Loader,
    paths: Mapping[str, Path],
    identity: _Identity,
    *,
    force: bool,
    uploaded: bool,
) -> _Outcome:
    """Load the sources, unless the data is already theirs (or a user's upload that is kept)."""
    last = runs.last_success(conn, loader.name)
    if not force and last is not None and last["checksum"] == identity.checksum:
        return _Outcome("unchanged", {})
    if not force and not uploaded and last is not None and _was_upload(last["sources"]):
        note = (
            f"run {last['id']} loaded an uploaded file, which is kept: the manifest's source was not "
            "loaded (force replaces the upload)"
        )
        log.warning(note, extra={"loader": loader.name})
        return _Outcome("unchanged", {}, note)
    counts = _load(loader, conn, paths)
    for spec in loader.layers:
        if spec.table_name:  # fresh statistics, so counts and plans are right at once
            runs.analyze(conn, spec.table_name)
    return _Outcome("succeeded", counts)


def _publish(
    conn: Connection,
    loader: Loader,
    manifest: Manifest,
    identity: _Identity,
    outcome: _Outcome,
    upload: Upload | None,
) -> dict[str, int]:
    """Bump the data version of every layer whose content changed, refresh the derived layers, and tell
    every worker at commit (their catalogs and caches follow at once)."""
    versions: dict[str, int] = {}
    if outcome.note is None:  # a kept upload is the data: its layers keep their provenance
        provenance = upload.provenance() if upload is not None else None
        versions = {
            spec.id: upsert_layer(conn, spec, manifest, identity.checksum, provenance)
            for spec in loader.layers
        }
    versions.update(register_all(conn))
    announce(conn, loader.name)
    return versions


def _load(loader: Loader, conn: Connection, paths: Mapping[str, Path]) -> dict[str, int]:
    try:
        return loader.load(conn, paths)
    except (TwinError, DBAPIError):
        raise
    except Exception as exc:
        # A loader meeting data it did not expect (a missing property, a wrong type) is a source problem.
        raise SourceError(f"{loader.name}: the sources could not be loaded: {_describe(exc)}") from exc


def _fail(engine: Engine, run_id: int, loader: Loader, identity: _Identity, exc: BaseException) -> None:
    """Record the failed run; the database may be what failed, and recording must not hide the cause."""
    message = _describe(exc)
    try:
        with engine.begin() as conn:
            runs.finish_run(
                conn,
                run_id,
                status="failed",
                sources=identity.sources,
                checksum=identity.checksum,
                error=message,
            )
    except DBAPIError:
        log.error("could not record the failed import run", extra={"run_id": run_id})
    log.warning("import failed", extra={"loader": loader.name, "run_id": run_id, "error": message})


def _as_twin_error(loader: Loader, exc: BaseException) -> BaseException:
    if isinstance(exc, TwinError) or not isinstance(exc, Exception):
        return exc
    return SourceError(f"import of {loader.name!r} failed; nothing was changed: {_describe(exc)}")


def _was_upload(sources: list[dict[str, Any]] | None) -> bool:
    return any("uploaded" in source for source in sources or [])


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TwinError):
        return exc.detail
    if isinstance(exc, DBAPIError):
        return f"database error: {str(exc.orig).strip().splitlines()[0]}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
