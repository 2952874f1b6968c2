"""Getting sources: from the local mirror (TWIN_SOURCES_DIR) or downloaded from their public URLs
into the cache, always checked against the manifest's size and sha256."""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import httpx

from twin.core.errors import SourceError
from twin.core.imports.manifest import SourceEntry
from twin.platform.settings import Settings

ProgressHook = Callable[[SourceEntry, int, int], None]
"""Called as (entry, bytes_done, bytes_total) while a source is read or downloaded."""

_CHUNK = 1 << 16
_MAX_BACKOFF_S = 30.0


def retryable(exc: httpx.HTTPError) -> bool:
    """Worth another try: a transport error (refused, reset, timed out), 429 or a 5xx. Any other answer
    (403, 404, 410, …) will not change by asking again."""
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return status == 429 or status >= 500
    return isinstance(exc, httpx.TransportError)


def backoff_s(attempt: int, base: float, retry_after: str | None = None) -> float:
    """The wait before `attempt` (1, 2, …): full jitter over an exponential ceiling (so many clients
    retrying at once spread out), or the server's Retry-After in seconds when it gives one."""
    if retry_after is not None and retry_after.strip().isdigit():
        return min(float(retry_after.strip()), _MAX_BACKOFF_S)
    return random.uniform(0, min(base * 2 ** (attempt - 1), _MAX_BACKOFF_S))


def sha256_of(path: Path, entry: SourceEntry | None = None, progress: ProgressHook | None = None) -> str:
    digest = hashlib.sha256()
    done = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if progress and entry:
                progress(entry, done, entry.size)
    return digest.hexdigest()


def _verify(entry: SourceEntry, path: Path, progress: ProgressHook | None) -> None:
    size = path.stat().st_size
    if size != entry.size:
        raise SourceError(
            f"source {entry.id!r} at {path} has {size} bytes; the manifest expects {entry.size}",
            source=entry.id,
        )
    actual = sha256_of(path, entry, progress)
    if actual != entry.sha256:
        raise SourceError(
            f"source {entry.id!r} at {path} fails its checksum: sha256 {actual}, the manifest "
            f"expects {entry.sha256}",
            source=entry.id,
        )


def resolve(
    entry: SourceEntry,
    settings: Settings,
    progress: ProgressHook | None = None,
    client: httpx.Client | None = None,
) -> Path:
    """The verified local path of a source: the mirror's copy, or the cache's (downloaded if needed)."""
    if settings.sources_dir is not None:
        path = settings.sources_dir / entry.mirror
        if not path.is_file():
            raise SourceError(
                f"source {entry.id!r} is missing from the mirror: no file at {path}",
                source=entry.id,
            )
        _verify(entry, path, progress)
        return path
    cached = settings.cache_dir / entry.id / entry.filename
    if cached.is_file():
        try:
            _verify(entry, cached, progress)
            return cached
        except SourceError:
            cached.unlink()
    if entry.mirror_only:
        raise SourceError(
            f"source {entry.id!r} is a curated extract available only from a mirror folder; "
            "set TWIN_SOURCES_DIR",
            source=entry.id,
        )
    _download(entry, cached, settings, progress, client)
    return cached


def resolve_all(
    entries: Iterable[SourceEntry], settings: Settings, progress: ProgressHook | None = None
) -> dict[str, Path]:
    """Every source verified before any is used: one bad source fails the lot."""
    with httpx.Client(follow_redirects=True, timeout=httpx.Timeout(30.0, read=120.0)) as client:
        return {entry.id: resolve(entry, settings, progress, client) for entry in entries}


def _download(
    entry: SourceEntry,
    target: Path,
    settings: Settings,
    progress: ProgressHook | None,
    client: httpx.Client | None,
) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own, so two fetches at once never write into the same file.
    partial = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.part")
    own_client = client is None
    client = client or httpx.Client(follow_redirects=True, timeout=httpx.Timeout(30.0, read=120.0))
    last_error: httpx.HTTPError | None = None
    attempts = 0
    try:
        for attempt in range(settings.fetch_retries + 1):
            if last_error is not None:
                retry_after = (
                    last_error.response.headers.get("Retry-After")
                    if isinstance(last_error, httpx.HTTPStatusError)
                    else None
                )
                time.sleep(backoff_s(attempt, settings.fetch_backoff, retry_after))
            attempts += 1
            try:
                _stream_to(client, entry, partial, progress)
                _verify(entry, partial, None)
                partial.replace(target)
                return
            except SourceError:
                partial.unlink(missing_ok=True)
                raise
            except httpx.HTTPError as exc:
                partial.unlink(missing_ok=True)
                last_error = exc
                if not retryable(exc):
                    break
    finally:
        if own_client:
            client.close()
    raise SourceError(
        f"source {entry.id!r} could not be downloaded from {entry.url} after "
        f"{attempts} attempt{'s' if attempts != 1 else ''}: {last_error}",
        source=entry.id,
    )


def _stream_to(
    client: httpx.Client, entry: SourceEntry, partial: Path, progress: ProgressHook | None
) -> None:
    with client.stream("GET", entry.url) as response:
        if response.status_code == 404:
            raise SourceError(f"source {entry.id!r}: {entry.url} answered 404", source=entry.id)
        response.raise_for_status()
        done = 0
        with partial.open("wb") as handle:
            for chunk in response.iter_bytes(_CHUNK):
                handle.write(chunk)
                done += len(chunk)
                if done > entry.size:
                    raise SourceError(
                        f"source {entry.id!r}: {entry.url} sent more than the {entry.size} bytes "
                        "the manifest expects",
                        source=entry.id,
                    )
                if progress:
                    progress(entry, done, entry.size)
