"""The hub's client of NDXP (docs/ndxp-protocol.md): service registration, access rights at the
platform, and calls routed to other members' services (the enterprise registry's batch lookup).

Every call carries the hub's member id and token, a fresh `X-Road-Id`, and a `traceparent` in
the caller's trace; every exchange, answered or not, goes to the hash-chained message log.

Errors, by what the caller should do::

    NdxpFailure
    ├── NdxpUnavailable   no usable answer (not configured, unreachable, timeout, 5xx): later
    └── NdxpRefused       NDXP or the provider refused the call (4xx): fix the call or the setup
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from catalog import ndxp
from gateway.settings import Settings
from gateway.tracing import child_traceparent

log = logging.getLogger(__name__)

LOOKUP_CHUNK = 1000  # the registry's limit per batch lookup
ENTERPRISE_STATUSES = ("active", "closed", "suspended")


class NdxpFailure(Exception):
    def __init__(self, message: str, *, status: int | None = None, type_: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type_


class NdxpUnavailable(NdxpFailure):
    """NDXP, or the provider behind it, gave no usable answer."""


class NdxpRefused(NdxpFailure):
    """NDXP or the provider refused the call."""


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def request_hash(message_id: str, body: bytes) -> str:
    """The protocol's request hash (`X-Road-Request-Hash`): binds an answer to its request."""
    return hashlib.sha256(f"{message_id}\n{body_hash(body)}".encode()).hexdigest()


def _error_type(response: httpx.Response) -> str:
    try:
        parsed = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("type"), str):
        return str(parsed["type"])[:60]
    return f"http.{response.status_code}"


def _error_message(response: httpx.Response) -> str:
    try:
        parsed = orjson.loads(response.content)
        if isinstance(parsed, dict) and parsed.get("message"):
            return str(parsed["message"])
    except orjson.JSONDecodeError:
        pass
    return response.text[:200] or response.reason_phrase


class NdxpClient:
    """One per hub. Reads its settings at each call (URL, token, member id), so a hub can be
    joined to NDXP while it runs; `transport` replaces the network in tests."""

    def __init__(
        self,
        *,
        settings: Settings,
        sessions: sessionmaker[Session],
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._transport = transport
        self._lock = threading.Lock()
        self._http: httpx.Client | None = None
        self._http_for: tuple[str, float] | None = None

    @property
    def configured(self) -> bool:
        return self._settings.ndxp_client_configured

    @property
    def member_id(self) -> str:
        return self._settings.ndxp_member_id

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    def _client(self) -> httpx.Client:
        wanted = (self._settings.ndxp_url.rstrip("/"), self._settings.ndxp_timeout_seconds)
        with self._lock:
            if self._http is None or self._http_for != wanted:
                if self._http is not None:
                    self._http.close()
                self._http = httpx.Client(
                    base_url=wanted[0],
                    timeout=wanted[1],
                    transport=self._transport,
                    trust_env=False,
                )
                self._http_for = wanted
            return self._http

    # --- one exchange ----------------------------------------------------------------------------
    def exchange(
        self,
        method: str,
        path: str,
        *,
        service: str,
        payload: Any = None,
        traceparent: str | None = None,
        user_id: str | None = None,
        issue: str | None = None,
    ) -> httpx.Response:
        """Call NDXP at `path`; the answer if it is 2xx, else NdxpUnavailable / NdxpRefused.
        `service` names what was called in the message log (a service id, or `ndxp:<path>`)."""
        if not self.configured:
            raise NdxpUnavailable("NDXP is not configured (FDXP_NDXP_URL, FDXP_NDXP_TOKEN)")
        message_id = str(uuid.uuid4())
        trace = child_traceparent(traceparent)
        body = b"" if payload is None else orjson.dumps(payload)
        headers = {
            "Authorization": f"Bearer {self._settings.ndxp_token}",
            "X-Road-Client": self.member_id,
            "X-Road-Id": message_id,
            "traceparent": trace,
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        if user_id:
            headers["X-Road-UserId"] = user_id
        if issue:
            headers["X-Road-Issue"] = issue
        sent_hash = request_hash(message_id, body)
        started = time.perf_counter()
        response: httpx.Response | None = None
        failure: NdxpFailure | None = None
        try:
            response = self._client().request(method, path, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            failure = NdxpUnavailable(f"NDXP did not answer in time: {type(exc).__name__}")
            failure.type = "platform.timeout"
        except httpx.HTTPError as exc:
            failure = NdxpUnavailable(f"NDXP is unreachable: {type(exc).__name__}: {exc}")
            failure.type = "platform.unreachable"
        else:
            status = response.status_code
            if status >= 400:
                kind = NdxpUnavailable if status >= 500 or status == 429 else NdxpRefused
                error_type = _error_type(response)
                failure = kind(
                    f"{method} {path}: {status} {error_type}: {_error_message(response)}",
                    status=status,
                    type_=error_type,
                )
            else:
                echoed = response.headers.get("X-Road-Request-Hash")
                if echoed is not None and echoed != sent_hash:
                    failure = NdxpRefused(
                        f"{method} {path}: the answer is bound to another request "
                        f"(X-Road-Request-Hash {echoed}, expected {sent_hash})",
                        status=status,
                        type_="platform.request_hash_mismatch",
                    )
        duration_us = int((time.perf_counter() - started) * 1_000_000)
        self._log(
            message_id=message_id,
            service=service,
            method=method,
            path=path,
            user_id=user_id,
            issue=issue,
            request_hash=sent_hash,
            response=response,
            error_type=failure.type if failure else None,
            duration_us=duration_us,
            traceparent=trace,
        )
        if failure is not None:
            raise failure
        assert response is not None
        return response

    def _log(self, *, response: httpx.Response | None, **content: Any) -> None:
        status = response.status_code if response is not None else None
        log.info(
            "ndxp out %s %s -> %s in %.1f ms (message %s, traceparent %s)",
            content["method"],
            content["path"],
            status if status is not None else content["error_type"],
            content["duration_us"] / 1000,
            content["message_id"],
            content["traceparent"],
        )
        try:
            with self._sessions() as session:
                ndxp.append_message(
                    session,
                    at=datetime.now(UTC),
                    direction="out",
                    accepted=True,
                    client=self.member_id,
                    status_code=status,
                    response_hash=body_hash(response.content) if response is not None else None,
                    **content,
                )
                session.commit()
        except SQLAlchemyError:
            log.exception("could not log NDXP message %s", content["message_id"])

    # --- the platform API ------------------------------------------------------------------------
    def register_service(self, *, service_code: str, title: str, openapi: dict[str, Any]) -> str:
        """Register (or find registered) one of the hub's services: "registered" | "exists"."""
        try:
            self.exchange(
                "POST",
                "/services",
                service="ndxp:/services",
                payload={"service_code": service_code, "title": title, "openapi": openapi},
            )
        except NdxpRefused as exc:
            if exc.status == 409:
                return "exists"
            raise
        return "registered"

    def grant(self, *, client: str, service_code: str) -> None:
        self.exchange(
            "POST",
            "/rights",
            service="ndxp:/rights",
            payload={"client": client, "service_code": service_code},
        )

    def revoke(self, *, client: str, service_code: str) -> None:
        try:
            self.exchange(
                "DELETE",
                "/rights",
                service="ndxp:/rights",
                payload={"client": client, "service_code": service_code},
            )
        except NdxpRefused as exc:
            if exc.status != 404:
                raise

    # --- other members' services ------------------------------------------------------------------
    def lookup_enterprises(
        self, tax_codes: Iterable[str], *, traceparent: str | None = None
    ) -> dict[str, tuple[str, str | None]]:
        """`{tax code: (status, name)}` from the national enterprise registry, one batch lookup
        per 1000 codes; a code the registry does not know is `("unknown", None)`."""
        service = self._settings.ndxp_registry_service
        codes = sorted(set(tax_codes))
        found: dict[str, tuple[str, str | None]] = {}
        for start in range(0, len(codes), LOOKUP_CHUNK):
            chunk = codes[start : start + LOOKUP_CHUNK]
            response = self.exchange(
                "POST",
                f"/r/{service}/lookup",
                service=service,
                payload={"tax_codes": chunk},
                traceparent=traceparent,
            )
            try:
                results = orjson.loads(response.content)["results"]
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise NdxpUnavailable(f"the registry's answer is not understood: {exc}") from None
            for code in chunk:
                entry = results.get(code) if isinstance(results, dict) else None
                if isinstance(entry, dict) and entry.get("status") in ENTERPRISE_STATUSES:
                    found[code] = (str(entry["status"]), entry.get("name"))
                else:
                    found[code] = ("unknown", None)
        return found
