"""The OpenAPI document tells the truth: schemathesis generates requests for every operation from the
document the service publishes, sends them over HTTP, and runs every check it has on each answer (no
server error; statuses, media types, headers and bodies as documented; schema-valid requests accepted and
invalid ones refused; the Allow header; resources available after they are made and gone after they are
deleted), then walks the document's links from one answer to the next (stateful)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.stateful import run_state_machine_as_test
from schemathesis.checks import CHECKS, CheckContext
from schemathesis.core.failures import Failure
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.main import create_app
from tests.support.databases import scratch_database
from tests.support.live import LiveServer
from twin.core.imports.manifest import Manifest
from twin.core.imports.runner import run_import
from twin.core.registry import loaders
from twin.platform import migrate
from twin.platform.db import make_sync_engine
from twin.platform.keys import create_key
from twin.platform.settings import Settings

# Uploads are bytes on the wire: generated "zip" bodies go as they are (the API must refuse them cleanly).
schemathesis.serializer.alias("application/zip", "application/octet-stream")

TINY_GTFS = Path(__file__).parents[1] / "transport" / "fixtures" / "gtfs_tiny"

# Rules that no JSON schema can state, so a schema-valid request may break them and a 400 naming one is
# the right answer: between values (an interval's order, a day a month does not have, a unit that is not
# the pollutant's), against the stored state (a sensor not registered, a building not in the baseline) or
# the world (a time in the future, a footprint outside Lozenets or too small to be a building).
RULES_BEYOND_SCHEMA = re.compile(
    "|".join(
        (
            "ends before it starts",
            "needs at least one bound",
            "out of range for",
            "is not a unit of",
            "neither a clock hour nor a day",
            "unknown sensor",
            "is in the future",
            "outside the feed's calendar",
            "is before 1990-01-01",
            "no building",
            "is changed twice",
            "not wholly inside Lozenets",
            "is not a building",
            "floors; at most",
            "vertices; at most",
            "invalid footprint",
            "coordinates are not longitude, latitude",
            "not a CRS the twin knows",
            "is a share of the land",
            "floor-area ratio above 30",
            "max_height must be within",
            "zone codes repeated",
        )
    )
)
# A file's content is beyond any schema: an upload the twin cannot read is a 422 listing why.
BINARY = "application/octet-stream"


def accepts_valid_data(ctx: CheckContext, response: Any, case: Any) -> bool | None:
    """schemathesis's positive_data_acceptance, except for a 400 naming a rule no schema can state."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except Failure:
        if response.status_code == 400:
            unexplained = [m for m in _problems(response) if not RULES_BEYOND_SCHEMA.search(m)]
            if not unexplained:
                return None
            print("UNEXPLAINED", case.operation.label, unexplained[:5])  # shown when the test fails
        if response.status_code in (400, 422) and case.media_type in (BINARY, "application/zip"):
            return None
        raise


def _problems(response: Any) -> list[str]:
    """What a 400 names: each row's or change's problem when it lists them, else its detail."""
    try:
        body = response.json()
    except ValueError:
        return [""]
    listed = [str(error.get("message", "")) for error in body.get("errors") or [] if isinstance(error, dict)]
    return listed or [str(body.get("detail", ""))]


# Every check schemathesis has; the time limit is the benchmarks' business, not the contract's.
CHECKS_ALL = [
    accepts_valid_data if check is positive_data_acceptance else check
    for check in CHECKS.get_all()
    if check.__name__ != "max_response_time"
]
EXAMPLES = 8


def _failures_of(
    schema: Any, examples: int, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str]]:
    """Every operation of `schema` tried with `examples` generated requests: (operations, failures)."""
    failures: dict[str, str] = {}
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
        )
        @given(case=operation.as_strategy())
        def keeps_to_the_document(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS_ALL)

        try:
            keeps_to_the_document()
        except BaseException as failure:  # every operation is tried; all failures are reported at once
            if isinstance(failure, KeyboardInterrupt):
                raise
            failures[operation.label] = str(failure)[:900]
        tested += 1
    return tested, failures


def test_reads_keep_to_the_document(server: LiveServer) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    tested, failures = _failures_of(schema.include(method="GET"), EXAMPLES)
    assert tested >= 30
    assert not failures, "\n\n".join(f"{label}: {why}" for label, why in failures.items())


@pytest.fixture(scope="module")
def writable(base_settings: Settings, manifest: Manifest) -> Iterator[tuple[LiveServer, str]]:
    """A service on a database of its own (what the generated requests write must not reach the other
    tests) with the district and a tiny GTFS feed loaded, and an admin key."""
    # No write rate limit here: the generated writes would soon be 429s, and test nothing more.
    scratch = scratch_database(base_settings, "twin_test_contract").model_copy(
        update={"write_rate_per_minute": 0}
    )
    engine = make_sync_engine(scratch)
    try:
        migrate.upgrade(engine)
        run_import(engine, scratch, manifest, loaders()["lozenets"])
        with engine.begin() as conn:
            key, _row = create_key(conn, "contract", "admin")
    finally:
        engine.dispose()
    feed = io.BytesIO()
    with zipfile.ZipFile(feed, "w") as archive:
        for file in sorted(TINY_GTFS.iterdir()):
            archive.write(file, file.name)
    with LiveServer(create_app(scratch)) as live:
        uploaded = httpx.post(
            f"{live.url}/imports/gtfs/upload",
            params={"licence": "CC0-1.0", "attribution": "the twin's tests"},
            content=feed.getvalue(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/zip"},
            timeout=120,
        )
        assert uploaded.status_code == 201, uploaded.text
        yield live, key


def test_writes_keep_to_the_document(writable: tuple[LiveServer, str]) -> None:
    """Every write operation, with an admin key."""
    live, key = writable
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    writes = schema.exclude(method=["GET", "HEAD", "OPTIONS"])
    tested, failures = _failures_of(writes, 4, {"Authorization": f"Bearer {key}"})
    assert tested >= 10
    assert not failures, "\n\n".join(f"{label}: {why}" for label, why in failures.items())


def test_the_links_lead_where_they_say(writable: tuple[LiveServer, str]) -> None:
    """Stateful: schemathesis follows the document's links (collections to their items, features,
    tiles and a stop's metrics; a new scenario to reading, changing and deleting it; an import to its
    run), with every check on every step."""
    live, key = writable
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    machine = schema.as_state_machine()
    headers = {"Authorization": f"Bearer {key}"}

    called: set[str] = set()

    class Walk(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            called.add(case.operation.label)
            return {"headers": headers}

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=CHECKS_ALL, headers=headers)

    run_state_machine_as_test(
        Walk,
        settings=settings(
            max_examples=25,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        ),
    )
    # The walk went through the links: operations whose ids only an earlier answer could give.
    by_id = {label for label in called if label.count("{") > (1 if "{collection_id}" in label else 0)}
    assert len(by_id) >= 5, sorted(called)
