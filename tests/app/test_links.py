"""app.links.base_url is Starlette's request.base_url (without its trailing slash), made once per shape;
query_pairs and with_parameter give what Starlette's query_params and include_query_params give."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from app.links import base_url, query_pairs, with_parameter


@pytest.mark.parametrize(
    ("scheme", "host", "server", "root_path", "expected"),
    [
        ("http", b"twin.example", ("10.0.0.1", 8000), "", "http://twin.example"),
        ("https", b"twin.example:8443", ("10.0.0.1", 8000), "", "https://twin.example:8443"),
        ("http", None, ("127.0.0.1", 8000), "", "http://127.0.0.1:8000"),
        ("http", None, ("127.0.0.1", 80), "", "http://127.0.0.1"),
        ("https", b"gis.sofia.bg", ("10.0.0.1", 8000), "/twin", "https://gis.sofia.bg/twin"),
        ("http", b"[::1]:8000", ("::1", 8000), "/a/b/", "http://[::1]:8000/a/b"),
    ],
)
def test_base_url_is_starlettes(
    scheme: str, host: bytes | None, server: tuple[str, int], root_path: str, expected: str
) -> None:
    scope: dict[str, Any] = {
        "type": "http",
        "scheme": scheme,
        "server": server,
        "root_path": root_path,
        "path": f"{root_path.rstrip('/')}/collections/x/items/1",
        "query_string": b"f=json",
        "headers": [(b"host", host)] if host is not None else [],
        "method": "GET",
    }
    request = Request(scope)
    assert base_url(request) == expected
    assert base_url(request) == str(request.base_url).rstrip("/")


QUERIES = [
    b"",
    b"limit=10",
    b"bbox=23.32,42.65,23.33,42.66&limit=1000",
    b"bbox=23.32%2C42.65%2C23.33%2C42.66&limit=5",  # a client that encodes the commas
    b"filter=name+%3D+%27%D0%9B%D0%BE%D0%B7%D0%B5%D0%BD%D0%B5%D1%86%27&filter-lang=cql2-text",
    b"a=1&a=2&b&c=&=d&&e==f",  # repeated, bare, blank, nameless, empty, '=' in a value
    b"cursor=old&limit=3&cursor=older",
    "name=Лозенец&x=a b".encode(),  # raw UTF-8 and a raw space, as a careless client sends them
    b"q=a;b&r=%zz&s=~_.-",  # ';' is not a separator; a broken escape stays as it is
]


@pytest.mark.parametrize("query", QUERIES)
def test_query_pairs_and_next_links_are_starlettes(query: bytes) -> None:
    scope: dict[str, Any] = {
        "type": "http",
        "scheme": "https",
        "server": ("10.0.0.1", 8000),
        "root_path": "",
        "path": "/collections/buildings/items",
        "query_string": query,
        "headers": [(b"host", b"gis.sofia.bg")],
        "method": "GET",
    }
    request = Request(scope)
    pairs = query_pairs(request)
    assert dict(pairs) == dict(request.query_params.items())
    assert list(dict(pairs)) == list(request.query_params.keys())  # the same order of names
    for token in ("eyJrIjpbMV19", "a b/ü=&"):
        expected = str(request.url.include_query_params(cursor=token))
        assert with_parameter(request, pairs, "cursor", token) == expected
