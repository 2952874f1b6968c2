"""Every error leaves as RFC 9457 application/problem+json: the twin's own, FastAPI's validation
errors, unknown routes, database outages and bugs alike."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from twin.core.errors import (
    DatabaseUnavailable,
    InvalidParameter,
    NotFound,
    Overloaded,
    TooManyRequests,
    TwinError,
    Unauthorized,
)

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("twin.http")

PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {"content": {PROBLEM_JSON: {}}, "description": "Invalid parameter"},
    404: {"content": {PROBLEM_JSON: {}}, "description": "Not found"},
}
"""The error answers most read routes document (RFC 9457 problem+json)."""


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    type_: str = "about:blank",
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _from_twin_error(request: Request, exc: TwinError) -> Response:
    headers = {"WWW-Authenticate": 'Bearer realm="lozenets-twin"'} if isinstance(exc, Unauthorized) else None
    if isinstance(exc, Overloaded):
        headers = {"Retry-After": "1"}  # busy, not down: a moment later there is room
    elif isinstance(exc, DatabaseUnavailable):
        headers = {"Retry-After": "5"}
    elif isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return problem_response(
        exc.status,
        exc.title,
        exc.detail,
        type_=exc.problem_type(),
        instance=request.url.path,
        headers=headers,
        **exc.extensions,
    )


def _location(loc: tuple[Any, ...]) -> tuple[str, str]:
    where = str(loc[0]) if loc else "request"
    name = ".".join(str(part) for part in loc[1:]) or where
    return where, name


async def _validation(request: Request, exc: RequestValidationError) -> Response:
    problems = []
    for error in exc.errors():
        where, name = _location(tuple(error.get("loc", ())))
        problems.append({"in": where, "name": name, "reason": error.get("msg", "invalid")})
    detail = "; ".join(f"{p['in']} parameter '{p['name']}': {p['reason']}" for p in problems)
    first = problems[0]["name"] if problems else "request"
    return problem_response(
        400,
        InvalidParameter.title,
        detail or "the request is invalid",
        type_=InvalidParameter.problem_type(),
        instance=request.url.path,
        parameter=first,
        errors=problems,
    )


async def _http(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code == 404:
        return problem_response(
            404,
            NotFound.title,
            f"no resource at {request.url.path}",
            type_=NotFound.problem_type(),
            instance=request.url.path,
        )
    detail = exc.detail if isinstance(exc.detail, str) else "request failed"
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        detail = f"{request.method} is not allowed on {request.url.path}; allowed: {', '.join(allowed)}"
        headers = {**(headers or {}), "Allow": ", ".join(allowed)}
    return problem_response(
        exc.status_code,
        detail if exc.status_code != 405 else "Method not allowed",
        detail,
        instance=request.url.path,
        headers=headers,
    )


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path (Starlette's own Allow names only the first
    route that matched the path, e.g. POST where GET is served too)."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        path_matches = match != Match.NONE
        if path_matches and getattr(route, "methods", None):
            methods |= set(route.methods)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


async def _database(request: Request, exc: DBAPIError) -> Response:
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or "")
    # Class 22 is "data exception" (out of range, invalid format); the asyncpg adapter does not
    # always raise it as DataError.
    if isinstance(exc, DataError) or sqlstate.startswith("22"):
        # A value PostgreSQL refused (out of range, wrong form) that validation let through.
        message = str(exc.orig).strip().splitlines()[0] if exc.orig else "invalid value"
        return problem_response(
            400,
            InvalidParameter.title,
            f"a value in the request was refused: {message}",
            type_=InvalidParameter.problem_type(),
            instance=request.url.path,
        )
    if sqlstate in ("40P01", "40001", "55P03"):
        # Deadlock, serialization failure or lock timeout: an import was replacing the data this
        # request read. Nothing is wrong with the request or the database; asking again will do.
        return _from_twin_error(
            request, DatabaseUnavailable("the data was being replaced while it was read; try again")
        )
    # Class 08 (connection exception), 57P (the server shutting down, crashed, or starting up) and
    # 53 (out of connections or memory): the database, not the request.
    unavailable = sqlstate.startswith(("08", "57P", "53"))
    if unavailable or isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
        return _from_twin_error(
            request, DatabaseUnavailable("the database cannot be reached; try again shortly")
        )
    log.error("database error", exc_info=exc, extra={"path": request.url.path})
    return _internal(request)


async def _connection_lost(request: Request, exc: Exception) -> Response:
    # A connection dropped mid-query (the database went away) surfaces as a bare OSError.
    if isinstance(exc, ConnectionError | TimeoutError):
        return _from_twin_error(
            request, DatabaseUnavailable("the database cannot be reached; try again shortly")
        )
    log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
    return _internal(request)


async def _pool_exhausted(request: Request, exc: Exception) -> Response:
    return _from_twin_error(
        request, DatabaseUnavailable("all database connections are busy; try again shortly")
    )


async def _unhandled(request: Request, exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
    return _internal(request)


def _internal(request: Request) -> Response:
    return problem_response(
        500,
        "Internal error",
        "the twin failed to answer this request; the error has been logged",
        type_=TwinError.problem_type(),
        instance=request.url.path,
    )


async def _twin(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TwinError)
    if exc.status >= 500 and not isinstance(exc, DatabaseUnavailable):
        log.error("twin error", exc_info=exc, extra={"path": request.url.path})
    return _from_twin_error(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TwinError, _twin)
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(DBAPIError, _database)  # type: ignore[arg-type]
    app.add_exception_handler(OSError, _connection_lost)
    app.add_exception_handler(PoolTimeout, _pool_exhausted)
    app.add_exception_handler(Exception, _unhandled)
