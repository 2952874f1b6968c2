"""What an importer is: a loader reads verified source files and writes its tables inside the transaction
the runner gives it; the runner owns fetching, locking, versioning and the audit trail. Pilots declare
their loaders in their :class:`twin.core.registry.Pilot`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection

from twin.core.catalog.specs import LayerSpec

LoadFunction = Callable[[Connection, Mapping[str, Path]], dict[str, int]]
"""(connection inside the import transaction, {source id: verified path}) -> row counts per table."""


@dataclass(frozen=True)
class Loader:
    name: str
    title: str
    role: str
    """The API-key role allowed to run this import over HTTP (admin may run any)."""
    layers: tuple[LayerSpec, ...]
    load: LoadFunction
    version: str = "1"
    """Bump when the loader's output changes for the same input, so a reload is not skipped."""
    accepts_uploads: bool = False
    """Whether a user may import their own file in place of the loader's single manifest source."""
