"""The lock files: every dependency pinned with its hashes, the two locks agreeing, and the venv the
scripts made holding exactly the locked versions."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def pins(name: str) -> dict[tuple[str, str | None], tuple[str, int]]:
    """{(package, marker): (version, hashes)} of a lock file (a package may be pinned once per marker,
    e.g. one version for Python 3.11 and another from 3.12)."""
    found: dict[tuple[str, str | None], tuple[str, int]] = {}
    current = None
    for line in (ROOT / "requirements" / name).read_text().splitlines():
        if match := PIN.match(line):
            current = (canonicalize_name(match[1]), match[3])
            found[current] = (match[2], 0)
        elif line.strip().startswith("--hash=sha256:") and current is not None:
            version, hashes = found[current]
            found[current] = (version, hashes + 1)
    return found


def declared(*extras: str) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    return {canonicalize_name(Requirement(r).name) for r in wanted}


def test_every_dependency_is_pinned_with_hashes() -> None:
    dev, main = pins("dev.lock"), pins("main.lock")
    assert declared("dev") <= {name for name, _marker in dev}
    assert declared() <= {name for name, _marker in main}
    assert all(hashes >= 1 for _version, hashes in dev.values())
    assert all(hashes >= 1 for _version, hashes in main.values())
    # The service's versions are the same in both.
    assert {key: dev[key][0] for key in main} == {key: version for key, (version, _hashes) in main.items()}


def test_the_venv_holds_the_locked_versions() -> None:
    """What scripts/_common.sh installed (pip --require-hashes -r requirements/dev.lock)."""
    differing = {}
    for (name, marker), (version, _hashes) in pins("dev.lock").items():
        if marker is not None and not Marker(marker).evaluate():
            continue
        installed = importlib.metadata.version(name)
        if installed != version:
            differing[name] = (installed, version)
    assert not differing, f"installed ≠ locked: {differing}; run ./scripts/test.sh (or make lock)"
