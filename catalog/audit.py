"""The audit log: append-only, hash-chained (catalog/chain.py). Each entry's hash is sha256
over the previous hash and the entry's canonical content; `verify_chain` recomputes the chain
and names the first entry that does not match, so an edited, inserted or deleted row is
detected."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from catalog.chain import GENESIS, HashChain, Verification
from catalog.models import AuditEntry, AuditHead

__all__ = ["CHAINED_FIELDS", "GENESIS", "Verification", "append", "query", "verify_chain"]

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
# Added by migration 0004: hashed only when set, so older entries keep their hash.
OPTIONAL_FIELDS = ("traceparent",)
CHAIN = HashChain(
    entry=AuditEntry, head=AuditHead, fields=CHAINED_FIELDS, optional_fields=OPTIONAL_FIELDS
)


def entry_hash(prev_hash: str, content: dict[str, Any]) -> str:
    return CHAIN.entry_hash(prev_hash, content)


def append(session: Session, **content: Any) -> AuditEntry:
    """Append one entry; the chain head stays locked until the caller commits."""
    entry: AuditEntry = CHAIN.append(session, **content)
    return entry


def verify_chain(session: Session, *, chunk: int = 5000) -> Verification:
    """Recompute every hash in order; also check that ids are gap-free and the head matches."""
    return CHAIN.verify(session, chunk=chunk)


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
