"""HTTP client of the hub's gateway: publish batches, retrying what is worth retrying."""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
)

from connectors.errors import FatalError, RetriableError
from connectors.retry import backoff_wait, log_retry, retry_after_seconds

__all__ = ["CONNECTOR_HEADER", "HubClient", "PublishResult", "RecordError"]

log = logging.getLogger(__name__)

RETRIABLE_STATUS = frozenset({408, 429})
CONNECTOR_HEADER = "X-FDXP-Connector"


@dataclass(frozen=True, slots=True)
class RecordError:
    """Why the hub rejected one record of a batch."""

    index: int
    key: str | None
    field: str | None
    rule: str
    message: str


@dataclass(frozen=True, slots=True)
class PublishResult:
    """The hub's answer to one batch (the same answer again for a repeated idempotency key)."""

    batch_id: str
    accepted: int
    rejected: int
    errors: tuple[RecordError, ...]
    replayed: bool = False  # the hub answered from an earlier request with the same key


def new_traceparent() -> str:
    """A W3C trace context header for a new trace: version 00, trace id, span id, sampled."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


class HubClient:
    """Talks to `/v1/...` of one hub with one unit key; use as a context manager or `close()`."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        max_attempts: int = 5,
        transport: httpx.BaseTransport | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        max_retry_after: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        connector: str | None = None,
        heartbeat_timeout: float = 5.0,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._jitter = jitter
        self.heartbeat_timeout = heartbeat_timeout
        headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        if connector:
            # The hub records which connector sent each batch (lineage).
            headers[CONNECTOR_HEADER] = connector
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport, headers=headers
        )

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def publish(
        self, dataset_id: str, records: list[dict[str, Any]], idempotency_key: str
    ) -> PublishResult:
        """POST one batch; retries RetriableError with backoff, raises FatalError at once."""
        body = orjson.dumps({"records": records})
        # The batch's trace starts here: the hub keeps it with the batch and passes it on (Kafka
        # headers, audit, NDXP calls). One trace per batch, the same across its retries.
        traceparent = new_traceparent()
        headers = {
            "Idempotency-Key": idempotency_key,
            "Content-Type": "application/json",
            "traceparent": traceparent,
        }
        url = f"/v1/datasets/{dataset_id}/records"
        log.info(
            "publishing %d records to %s (idempotency key %s, traceparent %s)",
            len(records), dataset_id, idempotency_key, traceparent,
        )  # fmt: skip

        def attempt() -> PublishResult:
            response = self._send("POST", url, content=body, headers=headers)
            return _parse_publish(response)

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            retry=retry_if_exception_type(RetriableError),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=log_retry("hub"),
            reraise=True,
        )
        return retrying(attempt)

    def heartbeat(
        self,
        name: str,
        *,
        dataset_id: str,
        cursor: Any,
        lag: int | None = None,
        last_error: str | None = None,
        records_sent: int | None = None,
    ) -> dict[str, Any]:
        """POST `/v1/connectors/{name}/heartbeat` once (no retries: the next beat is the retry).

        Raises RetriableError/FatalError like `publish`; callers that must not stop on a failed
        beat use `connectors.health.Heartbeat`, which logs and carries on.
        """
        body = orjson.dumps(
            {
                "dataset_id": dataset_id,
                "cursor": cursor,
                "lag": lag,
                "last_error": last_error,
                "records_sent": records_sent,
            }
        )
        response = self._send(
            "POST",
            f"/v1/connectors/{name}/heartbeat",
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=self.heartbeat_timeout,
        )
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            answer = None
        return answer if isinstance(answer, dict) else {}

    def health(self) -> bool:
        """True when `GET /healthz` answers 200; never raises."""
        try:
            return self._http.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:  # connect/read/write errors and timeouts
            raise RetriableError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
        if response.is_success or _is_batch_answer(response):
            return response
        raise _error_from_response(method, url, response)

    def _wait(self, retry_state: RetryCallState) -> float:
        return backoff_wait(
            retry_state,
            initial=self.backoff_initial,
            cap=self.backoff_max,
            max_retry_after=self.max_retry_after,
            jitter=self._jitter,
        )


def _is_batch_answer(response: httpx.Response) -> bool:
    """The hub answers 422 *with the batch body* when it rejected every record of a batch:
    that is a result (the rows are in quarantine), not an error to stop on."""
    if response.status_code != 422:
        return False
    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return False
    return isinstance(data, dict) and {"batch_id", "accepted", "rejected"} <= data.keys()


def _parse_publish(response: httpx.Response) -> PublishResult:
    try:
        data = orjson.loads(response.content)
        errors = tuple(
            RecordError(
                index=int(item["index"]),
                key=None if item.get("key") is None else str(item["key"]),
                field=None if item.get("field") is None else str(item["field"]),
                rule=str(item.get("rule") or "unknown"),
                message=str(item.get("message") or ""),
            )
            for item in data.get("errors") or []
        )
        return PublishResult(
            batch_id=str(data["batch_id"]),
            accepted=int(data["accepted"]),
            rejected=int(data["rejected"]),
            errors=errors,
            replayed=bool(data.get("replayed", False)),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FatalError(
            f"unexpected answer from the hub ({response.status_code}): {response.text[:200]!r}",
            status_code=response.status_code,
        ) from exc


def _error_from_response(method: str, url: str, response: httpx.Response) -> Exception:
    status = response.status_code
    error_type, message, detail, errors = None, response.reason_phrase, None, None
    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        error_type = data.get("type")
        message = str(data.get("message") or message)
        detail = data.get("detail")
        errors = data.get("errors") if isinstance(data.get("errors"), list) else None
    text = f"{method} {url} -> {status}"
    text += f" {error_type}: {message}" if error_type else f": {message}"
    if detail:
        text += f" (detail {detail})"
    common: dict[str, Any] = {
        "status_code": status,
        "error_type": error_type,
        "detail": detail,
        "errors": errors,
    }
    if status >= 500 or status in RETRIABLE_STATUS or _in_flight(status, error_type, response):
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        return RetriableError(text, retry_after=retry_after, **common)
    if status in (401, 403):
        text += " — check the connector's API key and that its unit owns the dataset"
    elif status == 404:
        text += " — is the dataset registered and active in the hub's catalog?"
    elif status == 409:
        text += " — if the key was reused with another body, did source rows change in place?"
    return FatalError(text, **common)


def _in_flight(status: int, error_type: str | None, response: httpx.Response) -> bool:
    """A 409 is worth retrying only while the hub still works on the same key; a key reused
    with a different body (or a dataset not accepting records) is for a human to look at."""
    if status != 409:
        return False
    kind = (error_type or "").lower()
    return "in_flight" in kind or "in_progress" in kind or "Retry-After" in response.headers
