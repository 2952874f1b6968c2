"""The HTTP skeleton: health, problem+json for every error, keys and roles on writes."""

from __future__ import annotations

import io
import logging

import httpx
import orjson
import pytest
from sqlalchemy import Engine, text

from app.main import create_app
from tests.support.api import MakeKey, assert_problem
from tests.support.live import LiveServer
from twin.platform.settings import Settings


def test_healthz(client: httpx.Client) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "alive"
    assert body["response_cache"]["entries"] >= 0
    assert body["response_cache"]["hits"] >= 0


def test_readyz_lists_the_loaded_layers(client: httpx.Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["lozenets"] == {"districts": 1, "neighbourhoods": 7, "ok": True}
    assert body["checks"]["schema"]["ok"] is True
    assert {"district", "neighbourhoods"} <= set(body["layers"])
    assert response.headers["cache-control"] == "no-store"


def test_layers_registry_says_real_or_synthetic(client: httpx.Client) -> None:
    layers = {layer["id"]: layer for layer in client.get("/layers").json()["layers"]}
    assert layers["neighbourhoods"]["synthetic"] is False
    assert "Sofiaplan" in layers["neighbourhoods"]["attribution"]
    assert layers["neighbourhoods"]["licence"]


def test_unknown_route_is_a_problem(client: httpx.Client) -> None:
    body = assert_problem(client.get("/no/such/thing"), 404, "/no/such/thing")
    assert body["type"] == "/problems/not-found"


def test_wrong_method_is_a_problem(client: httpx.Client) -> None:
    assert_problem(client.delete("/healthz"), 405, "DELETE")


def test_a_bad_query_parameter_is_named(client: httpx.Client) -> None:
    body = assert_problem(client.get("/imports", params={"limit": "0"}), 400, "'limit'")
    assert body["parameter"] == "limit"
    assert_problem(client.get("/imports", params={"limit": "many"}), 400, "'limit'")


def test_problem_types_are_documented(client: httpx.Client) -> None:
    body = client.get("/problems/invalid-parameter").json()
    assert body["status"] == 400
    assert_problem(client.get("/problems/nonsense"), 404)


def test_a_write_without_a_key_is_401(client: httpx.Client) -> None:
    response = client.post("/imports", json={"loader": "lozenets"})
    assert_problem(response, 401, "API key")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_write_with_a_malformed_or_unknown_key_is_401(client: httpx.Client) -> None:
    assert_problem(
        client.post("/imports", json={"loader": "lozenets"}, headers={"Authorization": "Bearer nope"}),
        401,
        "malformed",
    )
    forged = "ltw_0123456789ab_" + "A" * 43
    assert_problem(client.post("/imports", json={"loader": "lozenets"}, headers={"X-API-Key": forged}), 401)


def test_a_write_with_the_wrong_role_is_403(client: httpx.Client, make_key: MakeKey) -> None:
    key = make_key("planner")
    response = client.post(
        "/imports", json={"loader": "lozenets"}, headers={"Authorization": f"Bearer {key}"}
    )
    body = assert_problem(response, 403, "'admin'", "'planner'")
    assert body["type"] == "/problems/forbidden"


def test_an_admin_import_is_idempotent(client: httpx.Client, make_key: MakeKey, engine: Engine) -> None:
    key = make_key("admin")
    headers = {"Authorization": f"Bearer {key}"}
    first = client.post("/imports", json={"loader": "lozenets"}, headers=headers)
    assert first.status_code == 200, first.text  # the session already loaded these exact sources
    assert first.json()["status"] == "unchanged"
    run = client.get(first.headers["location"]).json()
    assert run["status"] == "unchanged"
    assert run["triggered_by"].startswith("api-key:")
    forced = client.post("/imports", json={"loader": "lozenets", "force": True}, headers=headers)
    assert forced.status_code == 201
    assert forced.json()["row_counts"] == {"district": 1, "neighbourhood": 7}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM neighbourhood")).scalar_one() == 7


def test_import_request_errors(client: httpx.Client, make_key: MakeKey) -> None:
    headers = {"Authorization": f"Bearer {make_key('admin')}"}
    assert_problem(client.post("/imports", json={"loader": "atlantis"}, headers=headers), 400, "atlantis")
    assert_problem(
        client.post(
            "/imports", content=b"{not json", headers={**headers, "content-type": "application/json"}
        ),
        400,
    )
    assert_problem(
        client.post("/imports", json={"loader": "lozenets", "extra": 1}, headers=headers), 400, "extra"
    )
    assert_problem(client.get("/imports/999999"), 404, "999999")


def test_a_revoked_key_is_401(client: httpx.Client, make_key: MakeKey, engine: Engine) -> None:
    key = make_key("admin")
    prefix = key.split("_")[1]
    from twin.platform.keys import revoke_key

    with engine.begin() as conn:
        revoke_key(conn, prefix)
    assert_problem(
        client.post("/imports", json={"loader": "lozenets"}, headers={"Authorization": f"Bearer {key}"}),
        401,
        "revoked",
    )


def test_import_runs_page_with_next_links(client: httpx.Client) -> None:
    first = client.get("/imports", params={"limit": 1}).json()
    assert len(first["runs"]) == 1
    next_link = next(link["href"] for link in first["links"] if link["rel"] == "next")
    second = client.get(next_link).json()
    assert second["runs"][0]["id"] < first["runs"][0]["id"]


def test_keys_are_never_logged(
    server: LiveServer, client: httpx.Client, make_key: MakeKey, caplog: pytest.LogCaptureFixture
) -> None:
    key = make_key("planner")
    access_log = server.app.state.access_log
    access_log.flush()
    written, access_log.stream = access_log.stream, io.StringIO()
    try:
        with caplog.at_level(logging.DEBUG):
            client.post("/imports", json={"loader": "lozenets"}, headers={"Authorization": f"Bearer {key}"})
            client.get("/layers", headers={"X-API-Key": key})
        access_log.flush()
        requests = [orjson.loads(line) for line in access_log.stream.getvalue().splitlines()]
    finally:
        access_log.stream = written
    assert [(r["method"], r["path"]) for r in requests] == [("POST", "/imports"), ("GET", "/layers")]
    assert all(isinstance(r["status"], int) and r["ms"] >= 0 and len(r["request_id"]) == 16 for r in requests)
    secret = key.split("_", 2)[2]
    assert all(secret not in str(r) for r in requests)
    assert all(
        secret not in record.getMessage() and secret not in str(vars(record)) for record in caplog.records
    )


def test_reads_can_require_a_key(settings: Settings, engine: Engine, make_key: MakeKey) -> None:
    locked = settings.model_copy(update={"require_read_key": True})
    with LiveServer(create_app(locked)) as live, httpx.Client(base_url=live.url) as http:
        assert_problem(http.get("/layers"), 401)
        assert http.get("/layers", headers={"X-API-Key": make_key("transport")}).status_code == 200
        assert http.get("/healthz").status_code == 200
        key = make_key("planner")
        for _ in range(2):  # a cached answer must not bypass the key check
            assert http.get("/collections", headers={"X-API-Key": key}).status_code == 200
            assert_problem(http.get("/collections"), 401)


def test_out_of_range_ids_are_400_not_500(client: httpx.Client) -> None:
    assert_problem(client.get("/imports/99999999999999999999"), 400, "run_id")
    assert_problem(client.get("/imports", params={"before": "99999999999999999999"}), 400, "before")


def test_an_unexpected_error_is_a_logged_500_problem_with_cors_headers(
    settings: Settings, engine: Engine
) -> None:
    app = create_app(settings)

    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom)
    with LiveServer(app) as live, httpx.Client(base_url=live.url) as http:
        access_log = app.state.access_log
        access_log.flush()
        written, access_log.stream = access_log.stream, io.StringIO()
        try:
            response = http.get("/boom", headers={"Origin": "https://maps.example"})
            access_log.flush()
            logged = [orjson.loads(line) for line in access_log.stream.getvalue().splitlines()]
        finally:
            access_log.stream = written
    assert_problem(response, 500)
    assert "a bug" not in response.text  # the cause is logged, not shown
    # The front (log, CORS) is outside FastAPI's error layer: the 500 has its request id and CORS
    # headers, so a browser app can read the problem, and the log has the status it was answered with.
    assert response.headers["access-control-allow-origin"] == "*"
    request_id = response.headers["x-request-id"]
    assert [(r["path"], r["status"], r["request_id"]) for r in logged] == [("/boom", 500, request_id)]
