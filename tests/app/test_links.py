"""app.links.base_url is Starlette's request.base_url (without its trailing slash), made once per shape."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from app.links import base_url


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
