"""The ceiling of a cached answer (issue 12): a bare ASGI app that answers every GET with the bytes of one
file, as fast as uvicorn can send them. bench/run.py serves the twin's cached items page with it, under
the same uvicorn and flags as the twin, and compares."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

BODY = Path(os.environ["BARE_BODY_FILE"]).read_bytes()
HEADERS = [
    (b"content-type", b"application/geo+json"),
    (b"content-length", str(len(BODY)).encode()),
]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
