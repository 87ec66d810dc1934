"""Times as the catalog stores them: UTC. SQLite hands timezone-aware columns back naive (they
were written as UTC), PostgreSQL hands them back aware; `as_utc` makes both the same."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def as_utc(at: datetime) -> datetime: ...
@overload
def as_utc(at: None) -> None: ...
def as_utc(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def iso(at: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, as the API and Kafka headers show times."""
    return as_utc(at).isoformat().replace("+00:00", "Z")
