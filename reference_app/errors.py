"""Errors the API turns into JSON responses.

    ApiError (status, code, message, field)
    ├── BadRequest           400  malformed id, unknown or repeated parameter, bad JSON
    ├── Unauthorized         401  no credentials, unknown token, wrong password
    ├── Forbidden            403  credentials that cannot use this endpoint
    ├── NotFound             404
    ├── PayloadTooLarge      413
    ├── UnsupportedMediaType 415
    └── ServiceUnavailable   503  the database cannot be reached (Retry-After: 1)
        └── QueryTimeout     503  a statement ran past the statement timeout

Every error body is ``{"error": {"code": ..., "message": ..., "field": ...}}``.
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "BadRequest",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "QueryTimeout",
    "ServiceUnavailable",
    "Unauthorized",
    "UnsupportedMediaType",
]


class ApiError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code

    def body(self) -> dict[str, dict[str, str]]:
        error = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        return {"error": error}

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="studiohub"'}


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class ServiceUnavailable(ApiError):
    status = 503
    code = "database_unavailable"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class QueryTimeout(ServiceUnavailable):
    """The database is up but a statement was cancelled by statement_timeout."""

    code = "query_timeout"
