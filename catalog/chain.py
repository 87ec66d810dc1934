"""Hash-chained, append-only tables (the audit log, the NDXP message log).

Each entry's hash is sha256 over the previous entry's hash and the entry's canonical content
(its chained fields, in a fixed order, as JSON). A one-row head table holds the last id and
hash: appending updates it first, which serialises appends across requests and processes.
`verify` recomputes the chain and names the first entry that does not match, so an edited,
inserted or deleted row is detected.

Fields added to a table after it held entries are "optional": they join an entry's hash only
when they are set, so entries written before the field existed keep their hash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from catalog.clock import as_utc

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class Verification:
    valid: bool
    checked: int
    first_bad_id: int | None
    reason: str | None


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat(timespec="microseconds")
    return value


class HashChain:
    """The chain over `entry` (columns id, prev_hash, hash + the chained fields) and its
    one-row `head` (columns id = 1, last_id, hash)."""

    def __init__(
        self,
        *,
        entry: Any,
        head: Any,
        fields: tuple[str, ...],
        optional_fields: tuple[str, ...] = (),
    ) -> None:
        self.entry = entry
        self.head = head
        self.fields = fields
        self.optional_fields = optional_fields

    def entry_hash(self, prev_hash: str, content: dict[str, Any]) -> str:
        values: list[Any] = [_canonical(content.get(name)) for name in self.fields]
        extras = {
            name: _canonical(content[name])
            for name in self.optional_fields
            if content.get(name) is not None
        }
        if extras:
            values.append(extras)
        return hashlib.sha256(prev_hash.encode() + orjson.dumps(values)).hexdigest()

    def append(self, session: Session, **content: Any) -> Any:
        """Append one entry. Locks the chain head (UPDATE) until the caller commits, so entries
        from concurrent requests and processes chain in one line."""
        head = self.head
        row = session.execute(
            update(head)
            .where(head.id == 1)
            .values(last_id=head.last_id + 1)
            .returning(head.last_id, head.hash)
        ).one()
        entry_id, prev_hash = int(row.last_id), str(row.hash)
        content = {**content, "id": entry_id, "at": as_utc(content.get("at") or datetime.now(UTC))}
        digest = self.entry_hash(prev_hash, content)
        entry = self.entry(**content, prev_hash=prev_hash, hash=digest)
        session.add(entry)
        session.execute(update(head).where(head.id == 1).values(hash=digest))
        session.flush()
        return entry

    def verify(self, session: Session, *, chunk: int = 5000) -> Verification:
        """Recompute every hash in order; also check that ids are gap-free and the head
        matches the last entry."""
        model = self.entry
        names = self.fields + self.optional_fields
        prev_hash = GENESIS
        expected_id = 1
        checked = 0
        after = 0
        while True:
            rows = session.scalars(
                select(model).where(model.id > after).order_by(model.id).limit(chunk)
            ).all()
            if not rows:
                break
            for row in rows:
                if row.id != expected_id:
                    return Verification(False, checked, expected_id, "an entry is missing")
                content = {name: getattr(row, name) for name in names}
                if row.prev_hash != prev_hash or self.entry_hash(prev_hash, content) != row.hash:
                    return Verification(False, checked, row.id, "the entry does not match its hash")
                prev_hash = row.hash
                expected_id += 1
                checked += 1
            after = rows[-1].id
        head = session.get_one(self.head, 1)
        if head.last_id != checked or head.hash != prev_hash:
            return Verification(
                False, checked, checked + 1, "entries after the last one are missing"
            )
        return Verification(True, checked, None, None)
