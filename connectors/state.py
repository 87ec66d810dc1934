"""Cursor state of one stream: a pure value with no I/O, so its logic is tested on its own.

The cursor is the replication key of the last source row the hub acknowledged. Before a page is
sent, the stream records the page it is about to send as `pending` (its last cursor and its row
count); if the connector dies before the acknowledgement, the next run re-reads exactly that page
and so sends the same idempotency key, even if the source grew meanwhile.

`origin` names the checkpoint's lineage (a random id given on the first sync). It is part of
every idempotency key, because the hub scopes keys by unit and dataset only: two sources (or a
source rebuilt from scratch with a fresh checkpoint) would otherwise produce the same key for the
same id range with different rows, which the hub refuses as a conflict.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

__all__ = ["Cursor", "CursorState", "PendingPage"]

Cursor = int | str
STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class PendingPage:
    """A page sent (or about to be sent) whose acknowledgement is not yet recorded."""

    until: Cursor
    count: int


@dataclass(frozen=True, slots=True)
class CursorState:
    """Where a stream stands: last acknowledged cursor, the in-flight page, running totals."""

    cursor: Cursor | None = None
    pending: PendingPage | None = None
    batches: int = 0
    records: int = 0
    origin: str | None = None

    def with_origin(self, origin: str) -> CursorState:
        if self.origin is not None:
            raise ValueError("the origin of a checkpoint never changes")
        return replace(self, origin=origin)

    def begin_page(self, until: Cursor, count: int) -> CursorState:
        """Mark the page (cursor, until] of `count` rows as in flight."""
        _check_after(self.cursor, until)
        if count < 1:
            raise ValueError("a page holds at least one row")
        return replace(self, pending=PendingPage(until=until, count=count))

    def advance(self, cursor: Cursor, records: int) -> CursorState:
        """The hub acknowledged a page ending at `cursor` holding `records` rows."""
        _check_after(self.cursor, cursor)
        if records < 0:
            raise ValueError("records must be >= 0")
        return replace(
            self,
            cursor=cursor,
            pending=None,
            batches=self.batches + 1,
            records=self.records + records,
        )

    def drop_pending(self) -> CursorState:
        """Forget the in-flight page (the source no longer holds it)."""
        return replace(self, pending=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "cursor": self.cursor,
            "pending": (
                None
                if self.pending is None
                else {"until": self.pending.until, "count": self.pending.count}
            ),
            "batches": self.batches,
            "records": self.records,
            "origin": self.origin,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CursorState:
        """Inverse of `to_dict`; raises ValueError on anything it did not write."""
        if not isinstance(data, dict):
            raise ValueError("state must be a JSON object")
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported state version {data.get('version')!r}")
        cursor = data.get("cursor")
        if cursor is not None and not _is_cursor(cursor):
            raise ValueError(f"bad cursor {cursor!r}")
        raw_pending = data.get("pending")
        pending = None
        if raw_pending is not None:
            until, count = raw_pending.get("until"), raw_pending.get("count")
            if not _is_cursor(until) or not isinstance(count, int) or count < 1:
                raise ValueError(f"bad pending page {raw_pending!r}")
            pending = PendingPage(until=until, count=count)
        batches, records = data.get("batches", 0), data.get("records", 0)
        if not isinstance(batches, int) or not isinstance(records, int):
            raise ValueError("batches and records must be integers")
        origin = data.get("origin")
        if origin is not None and not isinstance(origin, str):
            raise ValueError(f"bad origin {origin!r}")
        return cls(cursor=cursor, pending=pending, batches=batches, records=records, origin=origin)


def _is_cursor(value: object) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _check_after(current: Cursor | None, new: Cursor) -> None:
    if not _is_cursor(new):
        raise TypeError(f"a cursor is an int or a str, not {type(new).__name__}")
    if current is None:
        return
    if type(current) is not type(new):
        raise TypeError(
            f"cursor type changed from {type(current).__name__} to {type(new).__name__}"
        )
    if new <= current:  # type: ignore[operator]
        raise ValueError(f"cursor must move forward: {new!r} <= {current!r}")
