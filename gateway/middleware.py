"""Around every request: a request id, security headers, and the audit log entry."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from catalog import audit
from gateway.errors import REQUEST_ID_HEADER, error_response
from gateway.tracing import valid_traceparent

log = logging.getLogger(__name__)

AUDITED_PREFIXES = ("/v1/", "/registry", "/ndxp/")
# The interactive docs load their own scripts; every other answer is data and may run nothing.
DOCS_PATHS = ("/docs", "/redoc", "/docs/oauth2-redirect")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}
API_CSP = "default-src 'none'; frame-ancestors 'none'"


def _has_control_characters(request: Request) -> bool:
    # A NUL reaching PostgreSQL is a driver error (500); no identifier here has control chars.
    text = request.url.path + "?" + "&".join(f"{k}={v}" for k, v in request.query_params.items())
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def outcome_of(status: int) -> str:
    if status in (401, 403):
        return "denied"
    return "ok" if status < 400 else "error"


def install_middleware(app: FastAPI) -> None:
    @app.middleware("http")
    async def around_request(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        rid = request.headers.get(REQUEST_ID_HEADER, "")
        if not rid or len(rid) > 64 or not rid.isprintable():
            rid = uuid.uuid4().hex
        request.state.request_id = rid
        if _has_control_characters(request):
            response = error_response(
                request, 400, "bad_request", "control characters are not allowed in the URL"
            )
        else:
            response = await call_next(request)
        response.headers[REQUEST_ID_HEADER] = rid
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.path not in DOCS_PATHS:
            response.headers.setdefault("Content-Security-Policy", API_CSP)
            response.headers.setdefault("Cache-Control", "no-store")
        if request.url.path.startswith(AUDITED_PREFIXES):
            await _audit(request, response.status_code)
        return response


async def _audit(request: Request, status: int) -> None:
    hub = getattr(request.app.state, "hub", None)
    if hub is None or not hub.settings.audit_enabled:
        return
    principal = getattr(request.state, "principal", None)
    route = request.scope.get("route")
    template = getattr(route, "path", None) or request.url.path[:150]
    entry: dict[str, Any] = {
        "at": datetime.now(UTC),
        "key_id": principal.key_id if principal else None,
        "unit_code": principal.unit if principal else None,
        "role": principal.role if principal else None,
        "action": f"{request.method} {template}"[:200],
        "dataset_id": (request.path_params.get("dataset_id") or None),
        "record_count": getattr(request.state, "audit_records", None),
        "status_code": status,
        "outcome": outcome_of(status),
        "request_id": request.state.request_id,
        "client": request.client.host if request.client else None,
        # set by the publish route (the batch's trace), else the caller's header (NDXP's)
        "traceparent": getattr(request.state, "traceparent", None)
        or valid_traceparent(request.headers.get("traceparent")),
    }
    if entry["dataset_id"] is not None:
        entry["dataset_id"] = str(entry["dataset_id"])[:120]

    def write() -> None:
        with hub.sessions() as session:
            audit.append(session, **entry)
            session.commit()

    try:
        await run_in_threadpool(write)
    except Exception:  # an unwritable audit entry is logged loudly, never hidden
        log.exception("could not write the audit entry for request %s", entry["request_id"])
