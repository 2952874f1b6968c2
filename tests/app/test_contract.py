"""The OpenAPI document tells the truth about reads: schemathesis generates requests for every GET
operation from the document the service publishes, sends them over HTTP, and checks that none answers a
server error, a status or media type the document does not list, or a body that breaks the schema the
document declares for it. (Requests the document admits but the service refuses — a CQL2 filter or a
cursor no schema can describe — are not checked here.)"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

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

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 8


def test_reads_keep_to_the_document(server: LiveServer) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    failures: dict[str, str] = {}
    tested = 0
    for result in schema.include(method="GET").get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
        )
        @given(case=operation.as_strategy())
        def keeps_to_the_document(case: Any) -> None:
            case.call_and_validate(checks=CHECKS)

        try:
            keeps_to_the_document()
        except Exception as failure:  # every operation is tried; all failures are reported at once
            failures[operation.label] = str(failure)[:600]
        tested += 1
    assert tested >= 30
    assert not failures, "\n\n".join(f"{label}: {why}" for label, why in failures.items())


def test_writes_keep_to_the_document(base_settings: Settings, manifest: Manifest) -> None:
    """Every write operation, with an admin key, on a database of its own with the district loaded
    (what the generated requests write must not reach the other tests): no server error, no status or
    media type the document does not list."""
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
    with LiveServer(create_app(scratch)) as live:
        schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
        failures: dict[str, str] = {}
        tested = 0
        for result in schema.exclude(method=["GET", "HEAD", "OPTIONS"]).get_all_operations():
            operation = result.ok()

            @settings(
                max_examples=4, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
            )
            @given(case=operation.as_strategy())
            def keeps_to_the_document(case: Any) -> None:
                case.call_and_validate(
                    headers={"Authorization": f"Bearer {key}"},
                    checks=[not_a_server_error, status_code_conformance, content_type_conformance],
                )

            try:
                keeps_to_the_document()
            except Exception as failure:  # every operation is tried; all failures are reported at once
                failures[operation.label] = str(failure)[:600]
            tested += 1
    assert tested >= 10
    assert not failures, "\n\n".join(f"{label}: {why}" for label, why in failures.items())
