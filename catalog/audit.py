"""The audit log: append-only, hash-chained. Each entry's hash is sha256 over the previous
hash and the entry's canonical content; `verify_chain` recomputes the chain and names the
first entry that does not match, so an edited, inserted or deleted row is detected."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from catalog.models import AuditEntry, AuditHead

GENESIS = "0" * 64
CHAINED_FIELDS = (
    "id",
    "at",
    "key_id",
    "unit_code",
    "role",
    "action",
    "dataset_id",
    "record_count",
    "status_code",
    "outcome",
    "request_id",
    "client",
)


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def entry_hash(prev_hash: str, content: dict[str, Any]) -> str:
    canonical = dict(content)
    canonical["at"] = _utc(canonical["at"]).isoformat(timespec="microseconds")
    payload = orjson.dumps([canonical.get(name) for name in CHAINED_FIELDS])
    return hashlib.sha256(prev_hash.encode() + payload).hexdigest()


def append(session: Session, **content: Any) -> AuditEntry:
    """Append one entry. Locks the chain head (UPDATE) until the caller commits, so entries
    from concurrent requests and processes chain in one line."""
    head = session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(last_id=AuditHead.last_id + 1)
        .returning(AuditHead.last_id, AuditHead.hash)
    ).one()
    entry_id, prev_hash = int(head.last_id), str(head.hash)
    content = {**content, "id": entry_id, "at": _utc(content.get("at") or datetime.now(UTC))}
    digest = entry_hash(prev_hash, content)
    entry = AuditEntry(**content, prev_hash=prev_hash, hash=digest)
    session.add(entry)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=digest))
    session.flush()
    return entry


@dataclass(frozen=True, slots=True)
class Verification:
    valid: bool
    checked: int
    first_bad_id: int | None
    reason: str | None


def verify_chain(session: Session, *, chunk: int = 5000) -> Verification:
    """Recompute every hash in order; also check that ids are gap-free and the head matches."""
    prev_hash = GENESIS
    expected_id = 1
    checked = 0
    after = 0
    while True:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.id > after).order_by(AuditEntry.id).limit(chunk)
        ).all()
        if not rows:
            break
        for row in rows:
            if row.id != expected_id:
                return Verification(False, checked, expected_id, "an entry is missing")
            content = {name: getattr(row, name) for name in CHAINED_FIELDS}
            if row.prev_hash != prev_hash or entry_hash(prev_hash, content) != row.hash:
                return Verification(False, checked, row.id, "the entry does not match its hash")
            prev_hash = row.hash
            expected_id += 1
            checked += 1
        after = rows[-1].id
    head = session.get_one(AuditHead, 1)
    if head.last_id != checked or head.hash != prev_hash:
        return Verification(False, checked, checked + 1, "entries after the last one are missing")
    return Verification(True, checked, None, None)


def query(
    session: Session,
    *,
    unit_code: str | None = None,
    key_id: str | None = None,
    dataset_id: str | None = None,
    outcome: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: int = 0,
    limit: int = 100,
) -> Sequence[AuditEntry]:
    conditions: list[ColumnElement[bool]] = [AuditEntry.id > after]
    for column, value in (
        (AuditEntry.unit_code, unit_code),
        (AuditEntry.key_id, key_id),
        (AuditEntry.dataset_id, dataset_id),
        (AuditEntry.outcome, outcome),
        (AuditEntry.action, action),
    ):
        if value is not None:
            conditions.append(column == value)
    if since is not None:
        conditions.append(AuditEntry.at >= since)
    if until is not None:
        conditions.append(AuditEntry.at < until)
    return session.scalars(
        select(AuditEntry).where(*conditions).order_by(AuditEntry.id).limit(limit)
    ).all()
