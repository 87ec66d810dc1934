"""The stream framework: a source read by cursor, sent to the hub page by page, exactly once
per acknowledged page from the checkpoint's point of view (at-least-once toward the hub, made
idempotent by deterministic idempotency keys)."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, ClassVar, Protocol

from connectors.checkpoint import Checkpoint
from connectors.client import HubClient, PublishResult
from connectors.errors import RetriableError, SkippableRowError
from connectors.health import Heartbeat
from connectors.state import Cursor, CursorState

__all__ = ["Connector", "Page", "Row", "Stream", "SyncSummary", "page_idempotency_key"]

log = logging.getLogger(__name__)

Record = dict[str, Any]
# A source row: its replication-key value and the canonical record, or the reason it was skipped.
Row = tuple[Cursor, Record | SkippableRowError]


@dataclass
class SyncSummary:
    """What one `sync` did; `rejected_by_rule` counts the hub's per-record errors by rule."""

    batches: int = 0
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    skipped: int = 0
    rejected_by_rule: dict[str, int] = field(default_factory=dict)
    cursor: Cursor | None = None
    batch_ids: list[str] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)  # file sources: done/failed/duplicate

    def add(self, result: PublishResult, sent: int) -> None:
        if sent == 0:
            return
        self.batches += 1
        self.sent += sent
        self.accepted += result.accepted
        self.rejected += result.rejected
        self.batch_ids.append(result.batch_id)
        counts = Counter(self.rejected_by_rule)
        counts.update(error.rule for error in result.errors)
        self.rejected_by_rule = dict(counts)


@dataclass(frozen=True, slots=True)
class Page:
    """Rows (after, until] of one stream, sent as one batch under one idempotency key."""

    after: Cursor | None
    rows: list[Row]
    origin: str | None = None

    @property
    def until(self) -> Cursor:
        return self.rows[-1][0]

    @property
    def records(self) -> list[Record]:
        return [record for _, record in self.rows if not isinstance(record, SkippableRowError)]

    @property
    def skipped(self) -> list[SkippableRowError]:
        return [record for _, record in self.rows if isinstance(record, SkippableRowError)]


def page_idempotency_key(
    stream: str,
    dataset_id: str,
    after: Cursor | None,
    until: Cursor,
    count: int,
    origin: str | None = None,
) -> str:
    """Same page of the same stream and checkpoint lineage -> same key, so a re-sent page is
    answered from the hub's first answer, not stored again."""
    material = f"{stream}\x1f{dataset_id}\x1f{origin}\x1f{after!r}\x1f{until!r}\x1f{count}"
    digest = hashlib.sha256(material.encode()).hexdigest()[:32]
    return f"{stream}-{digest}"


class Connector(Protocol):
    """What the runner drives: a cursor `Stream`, or a source of another shape (a drop folder)
    that keeps its own state at the checkpoint path."""

    @property
    def name(self) -> str: ...

    @property
    def dataset_id(self) -> str: ...

    def sync(
        self,
        client: HubClient,
        checkpoint: Checkpoint,
        *,
        batch_size: int = ...,
        max_batches: int | None = ...,
        on_progress: Callable[[SyncSummary], None] | None = ...,
        follow: bool = ...,
        poll_interval: float = ...,
        stop_event: threading.Event | None = ...,
        linger: float = ...,
    ) -> SyncSummary: ...


class Stream(ABC):
    """A source table read in replication-key order; subclasses declare and implement
    `get_records`, and inherit `sync`."""

    name: ClassVar[str]
    dataset_id: ClassVar[str]
    primary_key: ClassVar[str]
    replication_key: ClassVar[str]
    # False for a source whose rows change in place (an API of current states): the framework
    # then keeps the pending page's rows beside the checkpoint and re-sends exactly those.
    replayable: ClassVar[bool] = True

    @abstractmethod
    def get_records(self, state: CursorState, *, limit: int) -> Iterator[Row]:
        """Up to `limit` rows with cursor > state.cursor, in increasing cursor order.

        Must be deterministic for a given (state.cursor, limit) over an append-only source:
        that is what makes a re-read page carry the same idempotency key.
        """

    def read_page(self, state: CursorState, *, batch_size: int) -> Page:
        """The next page; while a page is pending, exactly that page again."""
        if state.pending is None:
            rows = list(islice(self.get_records(state, limit=batch_size), batch_size))
        else:
            until, count = state.pending.until, state.pending.count
            rows = [
                row
                for row in islice(self.get_records(state, limit=count), count)
                if row[0] <= until  # type: ignore[operator]
            ]
        return Page(after=state.cursor, rows=rows, origin=state.origin)

    def idempotency_key(self, page: Page) -> str:
        return page_idempotency_key(
            self.name, self.dataset_id, page.after, page.until, len(page.rows), page.origin
        )

    def lag(self, state: CursorState) -> int | None:
        """How many source rows wait after `state.cursor`, when the source can say cheaply."""
        return None

    def sync(
        self,
        client: HubClient,
        checkpoint: Checkpoint,
        *,
        batch_size: int = 500,
        max_batches: int | None = None,
        on_progress: Callable[[SyncSummary], None] | None = None,
        follow: bool = False,
        poll_interval: float = 1.0,
        stop_event: threading.Event | None = None,
        linger: float = 0.0,
    ) -> SyncSummary:
        """Send every page after the checkpoint, saving the cursor only once the hub answered.

        Once (default): stop when the source has nothing new. Follow: poll every
        `poll_interval` seconds until `stop_event` is set; a hub or a source that stays
        unreachable past the retries is waited for the same way instead of ending the run.
        Batches close by size and by time: in follow mode a page shorter than `batch_size` is
        held back (re-read, so it grows) until `linger` seconds passed since it was first seen.
        A heartbeat goes to the hub after each batch, on each idle poll and on each retry.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        stop = stop_event if stop_event is not None else threading.Event()
        heartbeat = Heartbeat(client, self.name, self.dataset_id)
        summary = SyncSummary()
        state = checkpoint.load()
        if state.origin is None:
            # Saved with the first pending page, i.e. before any key using it reaches the hub.
            state = state.with_origin(uuid.uuid4().hex)
        summary.cursor = state.cursor
        partial_since: float | None = None

        def beat(error: str | None = None) -> None:
            lag = None if error else self._lag_or_none(state)
            heartbeat.beat(
                cursor=state.cursor, lag=lag, last_error=error, records_sent=state.records
            )

        while not stop.is_set():
            if max_batches is not None and summary.batches >= max_batches:
                break
            try:
                page = self._next_page(checkpoint, state, batch_size)
            except RetriableError as exc:
                if not follow:
                    raise
                log.error(
                    "%s: source unavailable (%s); retrying in %.1fs", self.name, exc, poll_interval
                )
                beat(f"source unavailable: {exc}")
                stop.wait(poll_interval)
                continue
            if not page.rows:
                if state.pending is not None:
                    log.warning("%s: pending page is gone from the source; dropping it", self.name)
                    state = state.drop_pending()
                    checkpoint.save(state)
                    continue
                if not follow:
                    break
                beat()
                stop.wait(poll_interval)
                continue
            if state.pending is None and follow and linger > 0 and len(page.rows) < batch_size:
                now = time.monotonic()
                partial_since = now if partial_since is None else partial_since
                if now - partial_since < linger:
                    stop.wait(min(poll_interval, linger - (now - partial_since)))
                    continue
            partial_since = None
            if state.pending is None:
                if not self.replayable:
                    checkpoint.save_spool(_spool_document(page))
                state = state.begin_page(page.until, len(page.rows))
                checkpoint.save(state)
            try:
                result = self._send(client, page)
            except RetriableError as exc:
                if not follow:
                    raise
                log.error(
                    "%s: hub unavailable (%s); retrying in %.1fs", self.name, exc, poll_interval
                )
                beat(f"hub unavailable: {exc}")
                stop.wait(poll_interval)
                continue
            state = state.advance(page.until, len(page.rows))
            checkpoint.save(state)
            summary.add(result, sent=len(page.records))
            summary.skipped += len(page.skipped)
            summary.cursor = state.cursor
            beat()
            if on_progress is not None:
                on_progress(summary)
        if summary.batches:
            beat()  # where the run ended, with the lag as it is now
        return summary

    def _next_page(self, checkpoint: Checkpoint, state: CursorState, batch_size: int) -> Page:
        """The next page; a pending page of a non-replayable source comes from the spool."""
        if state.pending is not None and not self.replayable:
            spooled = _spooled_page(checkpoint.load_spool(), state)
            if spooled is not None:
                return spooled
            log.warning("%s: no spool for the pending page; reading it again", self.name)
        return self.read_page(state, batch_size=batch_size)

    def _lag_or_none(self, state: CursorState) -> int | None:
        try:
            return self.lag(state)
        except Exception as exc:
            log.debug("%s: lag unknown (%s)", self.name, exc)
            return None

    def _send(self, client: HubClient, page: Page) -> PublishResult:
        for skipped in page.skipped:
            log.warning("%s: skipped unmappable row: %s", self.name, skipped)
        records = page.records
        if not records:
            return PublishResult(batch_id="", accepted=0, rejected=0, errors=())
        return client.publish(self.dataset_id, records, self.idempotency_key(page))


def _spool_document(page: Page) -> dict[str, Any]:
    rows = [
        [cursor, {"skipped": str(record)} if isinstance(record, SkippableRowError) else record]
        for cursor, record in page.rows
    ]
    return {"after": page.after, "until": page.until, "count": len(page.rows), "rows": rows}


def _spooled_page(document: dict[str, Any] | None, state: CursorState) -> Page | None:
    """The spooled rows when they are those of `state.pending`, else None."""
    pending = state.pending
    if document is None or pending is None:
        return None
    if (document.get("after"), document.get("until"), document.get("count")) != (
        state.cursor,
        pending.until,
        pending.count,
    ):
        return None
    rows: list[Row] = []
    for cursor, record in document.get("rows") or []:
        if isinstance(record, dict) and set(record) == {"skipped"}:
            rows.append((cursor, SkippableRowError(str(record["skipped"]))))
        else:
            rows.append((cursor, record))
    if len(rows) != pending.count:
        return None
    return Page(after=state.cursor, rows=rows, origin=state.origin)
