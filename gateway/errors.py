"""The gateway's errors and their one mapping to HTTP.

Every error answers with the same body::

    {"type": "<slug>", "message": "<what went wrong>", "detail": "<request id>", "errors": [...]}

Catalog errors (catalog/errors.py) map here too: not found 404, already exists and refused
lifecycle transitions 409, invalid descriptors and suites 422.

Tree (status in brackets)::

    ApiError
    ├── BadRequest [400]            malformed body or parameters
    ├── Unauthorized [401]          no key, unknown or revoked key
    ├── Forbidden [403]             the key's unit or role may not do this
    ├── NotFound [404]              unknown dataset, batch, route
    ├── Conflict [409]              idempotency key reused with another body
    ├── Gone [410]                  retired dataset
    ├── PayloadTooLarge [413]
    ├── Unprocessable [422]         well-formed but invalid (every row rejected, bad fields)
    ├── TooManyRequests [429]       the key's rate limit; Retry-After says when to come back
    └── Unavailable [503]           database unreachable
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from catalog.errors import (
    AlreadyExistsError,
    CatalogError,
    InvalidError,
    NotFoundError,
    TransitionError,
)

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"


class ApiError(Exception):
    status = 500
    type = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors
        self.headers = headers or {}


class BadRequest(ApiError):
    status, type = 400, "bad_request"


class Unauthorized(ApiError):
    status, type = 401, "unauthorized"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    status, type = 403, "forbidden"


class NotFound(ApiError):
    status, type = 404, "not_found"


class Conflict(ApiError):
    status, type = 409, "conflict"


class Gone(ApiError):
    status, type = 410, "gone"


class PayloadTooLarge(ApiError):
    status, type = 413, "payload_too_large"


class Unprocessable(ApiError):
    status, type = 422, "validation_error"


class TooManyRequests(ApiError):
    status, type = 429, "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class Unavailable(ApiError):
    status, type = 503, "unavailable"


_STATUS_TYPES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


_CATALOG_STATUS: dict[type[CatalogError], tuple[int, str]] = {
    NotFoundError: (404, "not_found"),
    AlreadyExistsError: (409, "conflict"),
    TransitionError: (409, "conflict"),
    InvalidError: (422, "validation_error"),
}


def request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = request.headers.get(REQUEST_ID_HEADER) or uuid.uuid4().hex
        request.state.request_id = rid
    return str(rid)


def error_response(
    request: Request,
    status: int,
    type_: str,
    message: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    rid = request_id(request)
    body: dict[str, Any] = {"type": type_, "message": message, "detail": rid}
    if errors is not None:
        body["errors"] = errors
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={**(headers or {}), REQUEST_ID_HEADER: rid},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Map every error, ours or the framework's, to the uniform body."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return error_response(
            request, exc.status, exc.type, exc.message, errors=exc.errors, headers=exc.headers
        )

    @app.exception_handler(CatalogError)
    async def _catalog_error(request: Request, exc: CatalogError) -> Response:
        status, type_ = _CATALOG_STATUS.get(type(exc), (500, "internal_error"))
        return error_response(request, status, type_, exc.message, errors=exc.errors)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body") or None,
                "rule": err.get("type"),
                "message": err.get("msg"),
            }
            for err in exc.errors()
        ]
        return error_response(
            request, 422, "validation_error", "the request is not valid", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = str(exc.detail) if exc.detail else "error"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}"
        return error_response(
            request,
            exc.status_code,
            _STATUS_TYPES.get(exc.status_code, "error"),
            message,
            headers=dict(exc.headers or {}),
        )

    @app.exception_handler(OperationalError)
    async def _database_down(request: Request, exc: OperationalError) -> Response:
        log.warning("database unavailable: %s", exc.orig)
        return error_response(
            request,
            503,
            "unavailable",
            "the database is unavailable; retry later",
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error (request %s)", request_id(request))
        return error_response(request, 500, "internal_error", "internal error")
