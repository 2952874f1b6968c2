"""Asking the API as a client would: problems, pages of features, paging links."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

PROBLEM = "application/problem+json"
GEOJSON = "application/geo+json"
MakeKey = Callable[..., str]
"""The `make_key` fixture: make_key(role) -> a new API key of that role."""


def assert_problem(response: httpx.Response, status: int, *fragments: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    for fragment in fragments:
        assert fragment in body["detail"]
    return body


def features(client: httpx.Client, collection: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/collections/{collection}/items", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == GEOJSON
    return response.json()  # type: ignore[no-any-return]


def follow(client: httpx.Client, first: dict[str, Any], rel: str = "next") -> list[dict[str, Any]]:
    pages = [first]
    while link := next((ln["href"] for ln in pages[-1]["links"] if ln["rel"] == rel), None):
        pages.append(client.get(link).json())
        assert len(pages) < 100
    return pages


def once_heard(
    fetch: Callable[[], httpx.Response],
    changed: Callable[[httpx.Response], bool],
    seconds: float = 5.0,
) -> httpx.Response:
    """The first answer that `changed` accepts, or the last one asked within `seconds`.

    An import made by another process reaches the service through LISTEN/NOTIFY a moment after its
    commit (tests/core/test_freshness.py bounds that moment); until then the service's front cache may
    rightly answer the old bytes, so a test asks again instead of racing the notice."""
    deadline = time.monotonic() + seconds
    while not changed(response := fetch()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return response
