"""The one registry of pilots. A pilot (the district, public transport, …) declares in a :class:`Pilot`
its loaders, derived layers, the questions it answers for other pilots, its settings and what must be
loaded before the twin is ready. The core finds installed pilots through the package entry points of the
group ``lozenets_twin.pilots`` (see pyproject.toml), so adding a pilot edits no core file; code (tests,
an embedding application) may also :func:`register` one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, TypeVar

from pydantic_settings import BaseSettings

from twin.core.derived.contract import DerivedLayer
from twin.core.derived.inputs import Provider
from twin.core.imports.loader import Loader

ENTRY_POINT_GROUP = "lozenets_twin.pilots"


@dataclass(frozen=True)
class Readiness:
    """What a pilot needs loaded before the twin answers as ready: every table named here has rows."""

    name: str
    """The key of this check in /readyz's ``checks``."""
    tables: Mapping[str, str]
    """Label in the answer -> table counted."""
    hint: str
    """What to do when a table is empty (e.g. "run `twin load lozenets`")."""


@dataclass(frozen=True)
class Pilot:
    name: str
    """A Python identifier; the pilot's router, if it has one, is ``app.routes.<name>``."""
    title: str
    summary: str
    """One sentence for the landing page: what the pilot offers today."""
    loaders: tuple[Loader, ...] = ()
    layers: tuple[DerivedLayer, ...] = ()
    providers: tuple[Provider[Any], ...] = ()
    settings: tuple[type[BaseSettings], ...] = ()
    """The pilot's own settings classes (documented in the README and .env.example like the rest)."""
    readiness: Readiness | None = None
    links: tuple[tuple[str, str], ...] = field(default=())
    """(path, title) of the pilot's own endpoints, linked from the landing page."""
    commands: Callable[[], Any] | None = None
    """Returns the pilot's command group (a typer.Typer), added to `twin` under the pilot's name."""


_registered: dict[str, Pilot] = {}


@functools.cache
def _installed() -> tuple[Pilot, ...]:
    found = []
    for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name):
        pilot = point.load()
        if not isinstance(pilot, Pilot):
            raise TypeError(f"entry point {point.name!r} ({point.value}) is not a twin.core.registry.Pilot")
        found.append(pilot)
    if not found:
        # Without its pilots the twin would serve nothing and call itself ready: a missing or stale
        # installation (run `pip install -e .`, as the scripts do) must not pass for a working one.
        raise RuntimeError(
            f"no pilot is installed (entry points {ENTRY_POINT_GROUP!r}): install the project with "
            "`pip install -e .` (./scripts/run.sh and ./scripts/test.sh do)"
        )
    return tuple(found)


def pilots() -> tuple[Pilot, ...]:
    """Every pilot: the installed ones (by name), then those registered in code."""
    installed = _installed()
    names = [p.name for p in installed] + list(_registered)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"pilots registered twice: {duplicates}")
    return installed + tuple(_registered.values())


def register(pilot: Pilot) -> Pilot:
    """Add a pilot from code (it is then known to every lookup below, in this process)."""
    if pilot.name in _registered or any(p.name == pilot.name for p in _installed()):
        raise ValueError(f"pilot {pilot.name!r} registered twice")
    _registered[pilot.name] = pilot
    return pilot


def unregister(name: str) -> None:
    _registered.pop(name, None)


_Item = TypeVar("_Item")


def _by_name(kind: str, items: list[tuple[str, _Item]]) -> dict[str, _Item]:
    found: dict[str, _Item] = {}
    for name, item in items:
        if name in found:
            raise ValueError(f"{kind} {name!r} declared by two pilots")
        found[name] = item
    return found


def loaders() -> dict[str, Loader]:
    """Every loader, by name."""
    return _by_name("loader", [(x.name, x) for p in pilots() for x in p.loaders])


def derived_layers() -> dict[str, DerivedLayer]:
    """Every derived layer, by id."""
    return _by_name("derived layer", [(x.id, x) for p in pilots() for x in p.layers])


def providers() -> dict[str, Provider[Any]]:
    """Who answers each question, by the question's name."""
    return _by_name("input provider", [(x.key.name, x) for p in pilots() for x in p.providers])


def settings_classes() -> tuple[type[BaseSettings], ...]:
    return tuple(s for p in pilots() for s in p.settings)


def check() -> None:
    """Every lookup once: two pilots declaring one loader, layer or question fail here, at start-up,
    rather than on every request."""
    loaders()
    derived_layers()
    providers()
