"""The source manifest (`data/sources.toml`): every public file the twin loads, with its checksum,
licence and attribution."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from twin.core.errors import SourceError, TwinError


class SourceEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    dataset: str
    url: str
    mirror: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(gt=0)
    media_type: str
    licence: str
    attribution: str
    source_date: str
    synthetic: bool = False
    mirror_only: bool = False
    loader: str
    notes: str = ""

    @property
    def filename(self) -> str:
        return Path(self.mirror).name


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True)

    sources: tuple[SourceEntry, ...]

    def get(self, source_id: str) -> SourceEntry:
        for entry in self.sources:
            if entry.id == source_id:
                return entry
        raise SourceError(f"source {source_id!r} is not in the manifest")

    def for_loader(self, loader: str) -> tuple[SourceEntry, ...]:
        return tuple(entry for entry in self.sources if entry.loader == loader)

    @property
    def loaders(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(entry.loader for entry in self.sources))


def load_manifest(path: Path) -> Manifest:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise TwinError(f"the source manifest {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TwinError(f"the source manifest {path} is not valid TOML: {exc}") from exc
    try:
        manifest = Manifest(sources=tuple(raw.get("source", [])))
    except ValidationError as exc:
        raise TwinError(f"the source manifest {path} is invalid: {exc}") from exc
    ids = [entry.id for entry in manifest.sources]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise TwinError(f"the source manifest {path} repeats ids: {', '.join(duplicates)}")
    return manifest
