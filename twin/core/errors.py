"""The twin's error hierarchy. Each error carries the HTTP status and RFC 9457 problem type it maps to,
so the web layer renders every one the same way without knowing the domain."""

from __future__ import annotations

from typing import Any, ClassVar


class TwinError(Exception):
    """Base of every error the twin reports to a user."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions

    @classmethod
    def problem_type(cls) -> str:
        return f"/problems/{cls.slug}"


class InvalidParameter(TwinError):
    """A request parameter, header or body field has a value the twin cannot use."""

    status = 400
    slug = "invalid-parameter"
    title = "Invalid parameter"

    def __init__(self, detail: str, *, parameter: str, **extensions: Any) -> None:
        super().__init__(detail, parameter=parameter, **extensions)
        self.parameter = parameter


class NotFound(TwinError):
    """The resource named by the URL does not exist."""

    status = 404
    slug = "not-found"
    title = "Not found"


class NotAcceptable(TwinError):
    """The Accept header allows none of the representations the resource has (f=json or f=html asks
    for one by name)."""

    status = 406
    slug = "not-acceptable"
    title = "Not acceptable"


class Unauthorized(TwinError):
    """No API key, or one the twin does not know, or a revoked one."""

    status = 401
    slug = "unauthorized"
    title = "API key required"


class Forbidden(TwinError):
    """A valid API key whose role does not allow the request."""

    status = 403
    slug = "forbidden"
    title = "Role not allowed"


class Conflict(TwinError):
    """The request conflicts with the current state (e.g. an import of the same source is running)."""

    status = 409
    slug = "conflict"
    title = "Conflict"


class SourceError(TwinError):
    """A data source is missing, fails its checksum, or cannot be read; nothing was loaded."""

    status = 422
    slug = "source-error"
    title = "Source rejected"


class PayloadTooLarge(TwinError):
    """The request body is larger than the twin accepts."""

    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(TwinError):
    """The request body is of a type this endpoint does not read."""

    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class TooManyRequests(TwinError):
    """The key has made more writes than its rate allows; try again after `Retry-After` seconds."""

    status = 429
    slug = "too-many-requests"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after_s: int, **extensions: Any) -> None:
        super().__init__(detail, retry_after_s=retry_after_s, **extensions)
        self.retry_after_s = retry_after_s


class DatabaseUnavailable(TwinError):
    """The database cannot be reached right now."""

    status = 503
    slug = "database-unavailable"
    title = "Database unavailable"


class Overloaded(DatabaseUnavailable):
    """Every database connection of this worker is busy and the queue for them is full, or a request
    waited its longest: refused on purpose, early, with Retry-After, rather than left to time out."""

    slug = "overloaded"
    title = "Service busy"


class NotReady(TwinError):
    """The database answers, but the schema is not at head or Lozenets is not loaded yet."""

    status = 503
    slug = "not-ready"
    title = "Not ready"


class ClusterError(TwinError):
    """The private PostgreSQL cluster cannot be installed, created, started or stopped."""

    status = 500
    slug = "cluster-error"
    title = "Database cluster error"


PROBLEM_TYPES: tuple[type[TwinError], ...] = (
    InvalidParameter,
    NotFound,
    NotAcceptable,
    Unauthorized,
    Forbidden,
    Conflict,
    SourceError,
    PayloadTooLarge,
    UnsupportedMediaType,
    TooManyRequests,
    DatabaseUnavailable,
    Overloaded,
    NotReady,
    TwinError,
)
