"""The stream framework: a source read by cursor, sent to the hub page by page, exactly once
per acknowledged page from the checkpoint's point of view (at-least-once toward the hub, made
idempotent by deterministic idempotency keys)."""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, ClassVar

from connectors.checkpoint import Checkpoint
from connectors.client import HubClient, PublishResult
from connectors.errors import RetriableError, SkippableRowError
from connectors.state import Cursor, CursorState

__all__ = ["Page", "Row", "Stream", "SyncSummary", "page_idempotency_key"]

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


class Stream(ABC):
    """A source table read in replication-key order; subclasses declare and implement
    `get_records`, and inherit `sync`."""

    name: ClassVar[str]
    dataset_id: ClassVar[str]
    primary_key: ClassVar[str]
    replication_key: ClassVar[str]

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
    ) -> SyncSummary:
        """Send every page after the checkpoint, saving the cursor only once the hub answered.

        Once (default): stop when the source has nothing new. Follow: poll every
        `poll_interval` seconds until `stop_event` is set; a hub that stays unreachable past the
        client's retries is waited for the same way instead of ending the run.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        stop = stop_event if stop_event is not None else threading.Event()
        summary = SyncSummary()
        state = checkpoint.load()
        if state.origin is None:
            # Saved with the first pending page, i.e. before any key using it reaches the hub.
            state = state.with_origin(uuid.uuid4().hex)
        summary.cursor = state.cursor
        while not stop.is_set():
            if max_batches is not None and summary.batches >= max_batches:
                break
            page = self.read_page(state, batch_size=batch_size)
            if not page.rows:
                if state.pending is not None:
                    log.warning("%s: pending page is gone from the source; dropping it", self.name)
                    state = state.drop_pending()
                    checkpoint.save(state)
                    continue
                if not follow:
                    break
                stop.wait(poll_interval)
                continue
            if state.pending is None:
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
                stop.wait(poll_interval)
                continue
            state = state.advance(page.until, len(page.rows))
            checkpoint.save(state)
            summary.add(result, sent=len(page.records))
            summary.skipped += len(page.skipped)
            summary.cursor = state.cursor
            if on_progress is not None:
                on_progress(summary)
        return summary

    def _send(self, client: HubClient, page: Page) -> PublishResult:
        for skipped in page.skipped:
            log.warning("%s: skipped unmappable row: %s", self.name, skipped)
        records = page.records
        if not records:
            return PublishResult(batch_id="", accepted=0, rejected=0, errors=())
        return client.publish(self.dataset_id, records, self.idempotency_key(page))
