"""HTTP as browsers and GIS clients speak it: CORS (reads from any origin, writes from the configured
ones, preflights), content negotiation by q-values (RFC 9110 §12), and conditional requests."""

from __future__ import annotations

import httpx
import pytest

from app.main import create_app
from tests.support.api import assert_problem
from tests.support.live import LiveServer
from twin.platform.settings import Settings

APP = "https://maps.example.org"
PLANNER = "https://planner.example.org"


def preflight(http: httpx.Client, path: str, origin: str, method: str, headers: str = "") -> httpx.Response:
    asked = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        asked["Access-Control-Request-Headers"] = headers
    return http.options(path, headers=asked)


# -- CORS ---------------------------------------------------------------------------------------------
def test_every_origin_may_read_by_default(client: httpx.Client) -> None:
    for _ in range(2):  # the second answer comes from the front cache: it must carry the headers too
        response = client.get("/collections/district/items", headers={"Origin": APP})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "*"
        exposed = response.headers["access-control-expose-headers"]
        assert "ETag" in exposed
        assert "Link" in exposed
        assert "Content-Crs" in exposed
    assert client.get("/collections").headers.get("access-control-allow-origin") is None  # no Origin


def test_a_read_preflight_is_answered_and_a_write_one_refused(client: httpx.Client) -> None:
    allowed = preflight(client, "/collections/district/items", APP, "GET", "If-None-Match, Accept")
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == "*"
    methods = {m.strip() for m in allowed.headers["access-control-allow-methods"].split(",")}
    assert methods == {"GET", "HEAD", "OPTIONS"}  # no writes for an origin not listed
    assert "If-None-Match" in allowed.headers["access-control-allow-headers"]
    assert int(allowed.headers["access-control-max-age"]) > 0
    assert "Origin" in allowed.headers["vary"]
    refused = preflight(client, "/scenarios", APP, "POST", "Content-Type, Authorization")
    problem = assert_problem(refused, 403)
    assert APP in problem["detail"]
    assert "POST" in problem["detail"]
    assert "access-control-allow-origin" not in refused.headers
    assert_problem(preflight(client, "/collections", APP, "TRACE"), 403)
    # An OPTIONS without the preflight headers is the API's own answer (Allow), not CORS's.
    plain = client.options("/collections")
    assert "access-control-allow-methods" not in plain.headers


def test_writes_only_from_the_configured_origins(settings: Settings) -> None:
    configured = settings.model_copy(update={"cors_write_origins": f"{PLANNER}, https://other.example"})
    with LiveServer(create_app(configured)) as live, httpx.Client(base_url=live.url) as http:
        asked = preflight(http, "/scenarios", PLANNER, "POST", "Content-Type, Authorization")
        assert asked.status_code == 204
        assert asked.headers["access-control-allow-origin"] == PLANNER  # never * for a write
        assert "POST" in asked.headers["access-control-allow-methods"]
        assert "Authorization" in asked.headers["access-control-allow-headers"]
        # The write itself still needs a key; the browser may read the problem that says so.
        response = http.post("/scenarios", json={}, headers={"Origin": PLANNER})
        assert_problem(response, 401)
        assert response.headers["access-control-allow-origin"] == PLANNER
        assert "Origin" in response.headers["vary"]
        stranger = http.post("/scenarios", json={}, headers={"Origin": APP})
        assert_problem(stranger, 401)
        assert "access-control-allow-origin" not in stranger.headers
        assert_problem(preflight(http, "/scenarios", APP, "POST"), 403)


def test_reads_can_be_limited_to_listed_origins(settings: Settings) -> None:
    limited = settings.model_copy(update={"cors_read_origins": APP})
    with LiveServer(create_app(limited)) as live, httpx.Client(base_url=live.url) as http:
        for _ in range(2):
            mine = http.get("/collections", headers={"Origin": APP})
            assert mine.headers["access-control-allow-origin"] == APP
            assert "Origin" in mine.headers["vary"]
            other = http.get("/collections", headers={"Origin": "https://elsewhere.example"})
            assert other.status_code == 200  # served, but the browser withholds it from that page
            assert "access-control-allow-origin" not in other.headers
            assert "Origin" in other.headers["vary"]
        assert_problem(preflight(http, "/collections", "https://elsewhere.example", "GET"), 403)


# -- content negotiation ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("accept_encoding", "gzipped"),
    [
        ("gzip", True),
        ("gzip;q=0", False),
        ("gzip;q=0.5, identity", True),
        ("*", True),
        ("*;q=0", False),
        ("identity", False),
        ("br;q=1, gzip;q=0", False),
    ],
)
def test_gzip_as_the_q_values_say(client: httpx.Client, accept_encoding: str, gzipped: bool) -> None:
    for path in ("/openapi.json", "/collections/district/items?limit=50"):  # the framework's and ours
        for _ in range(2):
            response = client.get(path, headers={"Accept-Encoding": accept_encoding})
            assert response.status_code == 200
            assert (response.headers.get("content-encoding") == "gzip") is gzipped, path
            assert response.json()  # decoded (or plain) JSON either way
            # Either way the answer varies by Accept-Encoding, and says so once.
            vary = [t.strip().lower() for t in response.headers.get("vary", "").split(",")]
            assert vary.count("accept-encoding") == 1, (path, vary)


@pytest.mark.parametrize(
    ("path", "accept", "media_type"),
    [
        ("/", "application/json;q=0, */*", "text/html"),
        ("/", "text/html;q=0, */*", "application/json"),
        ("/", "text/html, application/json;q=0.9", "text/html"),
        ("/", "application/*;q=0.2, text/html;q=0.1", "application/json"),
        ("/collections/district/items", "application/json;q=0, */*", "application/geo+json"),
        (
            "/collections/district/items",
            "application/geo+json;q=0, application/json, text/html;q=0.5",
            "application/geo+json",
        ),
        ("/collections/district/items", "text/html;q=0.9, application/geo+json;q=0.5", "text/html"),
        ("/collections/district/queryables", "application/json", "application/schema+json"),
        ("/collections", "*/*", "application/json"),
    ],
)
def test_the_media_type_the_accept_header_prefers(
    client: httpx.Client, path: str, accept: str, media_type: str
) -> None:
    response = client.get(path, headers={"Accept": accept})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == media_type


def test_nothing_acceptable_is_a_406(client: httpx.Client) -> None:
    for _ in range(2):  # weighed, then remembered per Accept header
        problem = assert_problem(client.get("/", headers={"Accept": "image/png"}), 406)
        assert "image/png" in problem["detail"]
        assert "f=json" in problem["detail"]
    assert_problem(client.get("/collections", headers={"Accept": "application/json;q=0, text/html;q=0"}), 406)
    # f= names the representation outright.
    assert client.get("/", params={"f": "json"}, headers={"Accept": "image/png"}).status_code == 200


# -- conditional requests -----------------------------------------------------------------------------
def test_if_none_match_star_on_an_existing_resource_is_304(client: httpx.Client) -> None:
    for _ in range(2):  # routed, then from the front cache
        for path in ("/collections/district", "/collections/district/items"):
            response = client.get(path, headers={"If-None-Match": "*"})
            assert response.status_code == 304, path
            assert response.content == b""
            assert response.headers["etag"]
    assert_problem(client.get("/collections/nowhere", headers={"If-None-Match": "*"}), 404)
    stale = client.get("/collections/district", headers={"If-None-Match": '"not-this-one"'})
    assert stale.status_code == 200


def test_health_counts_the_answers_the_cache_gave(client: httpx.Client) -> None:
    url = "/collections/neighbourhoods/items?limit=3&properties=name&sortby=-name"
    hits = client.get("/healthz").json()["response_cache"]["hits"]
    first = client.get(url)
    assert first.status_code == 200
    assert "x-twin-cache" not in first.headers
    assert client.get("/healthz").json()["response_cache"]["hits"] == hits  # made, not found
    for n in (1, 2, 3):
        # From the front cache ("hit"), or by its ETag in the route ("etag") while the change feed reconnects.
        assert client.get(url).headers["x-twin-cache"] in ("hit", "etag")
        assert client.get("/healthz").json()["response_cache"]["hits"] == hits + n
