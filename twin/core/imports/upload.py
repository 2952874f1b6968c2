"""A user's own file standing in for a loader's single source: which loaders take one, and the checks
both the command line (`twin load gtfs --file`) and HTTP (`POST /imports/{loader}/upload`) make."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from twin.core.errors import InvalidParameter, NotFound
from twin.core.imports.loader import Loader


@dataclass(frozen=True)
class Upload:
    """A user's file with the provenance the user states (a layer never claims the manifest's source,
    licence or date for data that did not come from it)."""

    path: Path
    sha256: str
    filename: str
    source: str
    licence: str
    attribution: str
    source_date: str | None = None
    source_url: str | None = None

    def provenance(self) -> dict[str, Any]:
        return {
            "source": f"uploaded: {self.source}",
            "source_url": self.source_url,
            "licence": self.licence,
            "attribution": self.attribution,
            "source_date": self.source_date,
            "synthetic": False,
        }


def uploadable(name: str, loaders: dict[str, Loader]) -> Loader:
    """The loader `name` when it takes a file of one's own; NotFound naming those that do otherwise."""
    loader = loaders.get(name)
    if loader is None or not loader.accepts_uploads:
        takes = ", ".join(sorted(n for n, entry in loaders.items() if entry.accepts_uploads)) or "none"
        known = "does not take a file of your own" if loader is not None else "does not exist"
        raise NotFound(f"loader {name!r} {known}; these take uploads: {takes}", parameter="loader")
    return loader


def new_upload(
    path: Path,
    *,
    licence: str | None,
    source: str,
    attribution: str = "",
    source_date: str | date | None = None,
    source_url: str | None = None,
    filename: str | None = None,
    sha256: str | None = None,
) -> Upload:
    """An upload of `path` (a file or a folder), its provenance checked: a licence is required (say
    `unknown` when it is not known) and a date must be YYYY-MM-DD."""
    licence = required_licence(licence)
    if isinstance(source_date, str):
        try:
            source_date = date.fromisoformat(source_date)
        except ValueError as exc:
            raise InvalidParameter(
                f"source_date must be YYYY-MM-DD, got {source_date!r}", parameter="source_date"
            ) from exc
    if not path.exists():
        raise InvalidParameter(f"{path} does not exist", parameter="file")
    return Upload(
        path=path,
        sha256=sha256 or digest(path),
        filename=(filename or path.name)[:200],
        source=source,
        licence=licence,
        attribution=attribution,
        source_date=source_date.isoformat() if source_date else None,
        source_url=source_url,
    )


def required_licence(licence: str | None) -> str:
    """The stated licence, stripped; InvalidParameter when none is stated."""
    if licence is None or not licence.strip():
        raise InvalidParameter(
            "a file of your own needs its licence (say 'unknown' if you do not know it)", parameter="licence"
        )
    return licence.strip()


def digest(path: Path) -> str:
    """sha256 of a file, or of a folder's files (names and contents, in name order)."""
    hasher = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for item in files:
        if path.is_dir():
            hasher.update(str(item.relative_to(path)).encode() + b"\0")
        with item.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                hasher.update(block)
    return hasher.hexdigest()
