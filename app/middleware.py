"""Pure-ASGI middleware (BaseHTTPMiddleware would cost every request a task switch): the request log
and gzip as the client's Accept-Encoding allows it.

The log has method, path, status and duration: never headers, never the query's secrets, never keys."""

from __future__ import annotations

import random
import time

from starlette.middleware.gzip import GZipMiddleware, GZipResponder
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.fastpath import serving_of
from app.negotiation import accepts_gzip_header


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # 16 hex digits, unique in practice: os.urandom (a system call) cost 6.5 % of a cached answer and
        # uuid4 3 %; the id names a request in the log, it guards nothing.
        request_id = f"{random.getrandbits(64):016x}"
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            # Formatted and appended for the log's writer thread (twin.platform.logs.AccessLog), which no
            # request wakes.
            serving = serving_of(scope)
            access_log = serving.access_log if serving is not None else None
            if access_log is not None:
                ms = round((time.perf_counter() - started) * 1000, 2)
                access_log.record(request_id, scope["method"], scope["path"], status, ms)


class Gzip(GZipMiddleware):
    """Starlette's gzip, deciding by the q-values of Accept-Encoding (Starlette looks for the word
    "gzip", so ``gzip;q=0`` — "never gzip" — got gzip). A client that takes no gzip gets the answer as the
    app sends it: Starlette's identity wrapper only re-sent every message (7 % of a one-feature request,
    profiled) and added a second ``Accept-Encoding`` to the responder's ``Vary``; here only a ``Vary`` that
    lacks it gets it (another client would have got gzip)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        accept_encoding = next((v for k, v in scope["headers"] if k == b"accept-encoding"), b"")
        if not accept_encoding or not accepts_gzip_header(accept_encoding.decode("latin-1")):
            await self.app(scope, receive, _varied_by_encoding(send))
            return
        responder = GZipResponder(
            self.app,
            self.minimum_size,
            compresslevel=self.compresslevel,
            thread_minimum_size=self.thread_minimum_size,
            exclude_content_types=self.exclude_content_types,
        )
        await responder(scope, receive, send)


def _varied_by_encoding(send: Send) -> Send:
    async def send_varied(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = message.setdefault("headers", [])
            varies_by = {
                token.strip().lower() for k, v in headers if k.lower() == b"vary" for token in v.split(b",")
            }
            if b"accept-encoding" not in varies_by and b"*" not in varies_by:
                message["headers"] = [*headers, (b"vary", b"Accept-Encoding")]
        await send(message)

    return send_varied
