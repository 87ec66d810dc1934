"""The customs connector: the VNACCS declarations API -> `customs.declaration`.

Native quirks it copes with:
- `updated_since` is inclusive and several declarations may share one `ngayCapNhat`, so the
  cursor is the pair (`ngayCapNhat`, `soToKhai`) written `"<ngayCapNhat>|<soToKhai>"`; the
  connector asks from the cursor's time and skips what is not after the cursor;
- the API returns *current* states: a declaration that changed comes back later in the listing
  with its new state, which the connector publishes as a new version of the same key (the hub
  keeps every version). Because a page cannot be read again as it was, the stream is not
  replayable: the framework spools the pending page's rows beside the checkpoint;
- local times (UTC+7) without an offset, dd/mm/yyyy registration times, channel and status
  codes, amounts as JSON numbers (sometimes floats);
- faults: 429 with Retry-After (honoured), 5xx, slow and hanging pages (timeouts): retried with
  exponential backoff and jitter (tenacity) for up to `max_wait` seconds, then RetriableError
  (the runner waits and tries again in follow mode). A refused token is fatal.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
)
from tenacity.stop import stop_base

from connectors.base import Row, Stream
from connectors.errors import FatalError, RetriableError
from connectors.retry import backoff_wait, log_retry, retry_after_seconds
from connectors.state import CursorState

__all__ = ["API_PATH", "CustomsDeclarationStream", "map_declaration"]

log = logging.getLogger(__name__)

API_PATH = "/vnaccs/v1/to-khai"
VN = timezone(timedelta(hours=7))
CHANNELS = {"1": "green", "2": "yellow", "3": "red"}
STATUSES = {"DK": "registered", "TQ": "cleared", "HUY": "cancelled"}
SEPARATOR = "|"


class CustomsDeclarationStream(Stream):
    """Reads the declarations API in (ngayCapNhat, soToKhai) order."""

    name = "customs"
    dataset_id = "customs.declaration"
    primary_key = "declaration_no"
    replication_key = "ngayCapNhat|soToKhai"
    replayable = False

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 10.0,
        page_size: int = 200,
        max_wait: float = 300.0,
        max_attempts: int | None = None,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        max_retry_after: float = 120.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if not token:
            raise FatalError("the customs connector needs the VNACCS API token (source token)")
        self.page_size = page_size
        self.max_wait = max_wait
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._jitter = jitter
        self._remaining: int | None = None
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def lag(self, state: CursorState) -> int | None:
        """Declarations the last listing still had after what was read (an estimate)."""
        return self._remaining

    def get_records(self, state: CursorState, *, limit: int) -> Iterator[Row]:
        cursor = state.cursor
        if cursor is not None and not isinstance(cursor, str):
            raise FatalError(f"the customs stream's cursor is '<time>|<number>', not {cursor!r}")
        since = cursor.split(SEPARATOR, 1)[0] if cursor else None
        token: str | None = None
        yielded = 0
        while True:
            page = self.fetch_page(since, token, min(self.page_size, max(limit, 1)))
            items = page.get("items") or []
            total = page.get("total")
            for position, item in enumerate(items):
                at = f"{item.get('ngayCapNhat')}{SEPARATOR}{item.get('soToKhai')}"
                if cursor is not None and at <= cursor:
                    continue
                yield at, map_declaration(item)
                yielded += 1
                if yielded >= limit:
                    if isinstance(total, int):
                        self._remaining = max(0, total - position - 1)
                    return
            token = page.get("next_page_token")
            if not token:
                self._remaining = 0
                return
            if isinstance(total, int):
                self._remaining = max(0, total - len(items))

    def fetch_page(self, since: str | None, token: str | None, limit: int) -> dict[str, Any]:
        """One page of the listing, retried through the source's faults."""
        params: dict[str, Any] = {"limit": limit}
        if since is not None:
            params["updated_since"] = since
        if token is not None:
            params["page_token"] = token
        stop: stop_base = stop_after_delay(self.max_wait)
        if self.max_attempts is not None:
            stop = stop | stop_after_attempt(self.max_attempts)
        retrying = Retrying(
            stop=stop,
            retry=retry_if_exception_type(RetriableError),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=log_retry("customs"),
            reraise=True,
        )
        return retrying(self._get, params)

    def _get(self, params: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._http.get(API_PATH, params=params)
        except httpx.TransportError as exc:  # refused, reset, timed out
            raise RetriableError(f"customs API: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status == 200:
            try:
                data = response.json()
            except ValueError as exc:
                raise RetriableError(f"customs API: a page that is not JSON: {exc}") from exc
            if not isinstance(data, dict) or not isinstance(data.get("items"), list):
                raise FatalError(f"customs API: unexpected page shape {response.text[:200]!r}")
            return data
        text = f"customs API {status}: {response.text[:200]}"
        if status == 429 or status == 408 or status >= 500:
            raise RetriableError(
                text,
                status_code=status,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if status in (401, 403):
            raise FatalError(text + " — check the VNACCS API token", status_code=status)
        raise FatalError(text, status_code=status)

    def _wait(self, retry_state: RetryCallState) -> float:
        return backoff_wait(
            retry_state,
            initial=self.backoff_initial,
            cap=self.backoff_max,
            max_retry_after=self.max_retry_after,
            jitter=self._jitter,
        )


def map_declaration(item: dict[str, Any]) -> dict[str, Any]:
    """One native declaration (one state of it) -> one canonical record (JSON-ready)."""
    channel = _text(item.get("maPhanLuong"))
    status = _text(item.get("trangThai"))
    return {
        "declaration_no": _text(item.get("soToKhai")),
        "type_code": _text(item.get("maLoaiHinh")),
        "customs_office": _text(item.get("maHQ")),
        "declared_at": _local_time(item.get("ngayDangKy"), "%d/%m/%Y %H:%M:%S"),
        "trader_tax_code": _text(item.get("maSoThue")),
        "hs_code": _text(item.get("maHS")),
        "origin_country": _text(item.get("nuocXuatXu")),
        "customs_value_vnd": _decimal(item.get("triGiaTinhThue")),
        "import_duty": _decimal(item.get("thueNK")),
        "import_vat": _decimal(item.get("thueGTGT")),
        "channel": CHANNELS.get(channel or "", channel),
        "status": STATUSES.get(status or "", status),
        "updated_at": _local_time(item.get("ngayCapNhat"), "%Y-%m-%d %H:%M:%S.%f"),
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value).strip()


def _local_time(value: Any, layout: str) -> str | None:
    """Local (UTC+7) text -> ISO 8601 with its offset; anything else goes through raw."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        return datetime.strptime(text, layout).replace(tzinfo=VN).isoformat()
    except ValueError:
        return text


def _decimal(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(Decimal(repr(value)))
    text = str(value).strip()
    try:
        return str(Decimal(text))
    except InvalidOperation:
        return text
