"""The hub's NDXP state: members' access rights, the hash-chained message log, the enterprise
registry cache and deferred reference checks. Functions flush; the caller commits."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from catalog import repository
from catalog.chain import HashChain, Verification
from catalog.clock import as_utc
from catalog.errors import InvalidError, NotFoundError
from catalog.models import (
    EnterpriseCache,
    NdxpMessage,
    NdxpMessageHead,
    NdxpRight,
    ReferenceRecheck,
)

__all__ = [
    "MESSAGE_CHAIN",
    "add_rechecks",
    "append_message",
    "cached_enterprises",
    "forget_enterprises",
    "get_right",
    "grant_right",
    "list_rechecks",
    "list_rights",
    "message_seen",
    "messages_by_id",
    "pending_rechecks",
    "put_enterprises",
    "query_messages",
    "resolve_rechecks",
    "revoke_right",
    "verify_messages",
]

MESSAGE_FIELDS = (
    "id",
    "at",
    "direction",
    "message_id",
    "accepted",
    "client",
    "service",
    "method",
    "path",
    "user_id",
    "issue",
    "request_hash",
    "response_hash",
    "status_code",
    "error_type",
    "duration_us",
    "traceparent",
)
MESSAGE_CHAIN = HashChain(entry=NdxpMessage, head=NdxpMessageHead, fields=MESSAGE_FIELDS)


# --- access rights -----------------------------------------------------------------------------
def grant_right(
    session: Session,
    *,
    client: str,
    dataset_id: str,
    fields: list[str] | None,
    granted_by: str,
    now: datetime,
) -> NdxpRight:
    """Give `client` (a member id) the right to read `dataset_id`; again: replace the fields."""
    dataset = repository.get_dataset(session, dataset_id=dataset_id)
    if dataset is None:
        raise NotFoundError(f"dataset {dataset_id!r} does not exist")
    problems = []
    if not dataset.ndxp:
        problems.append(
            {
                "field": "dataset_id",
                "rule": "ndxp",
                "message": f"{dataset_id} is not shared with NDXP (its descriptor has ndxp: false)",
            }
        )
    if fields is not None:
        schema = repository.latest_schema(session, dataset_id=dataset_id)
        known = {f["name"] for f in json.loads(schema.schema_json)["fields"]} if schema else set()
        unknown = [f for f in fields if f not in known]
        if unknown or not fields:
            problems.append(
                {
                    "field": "fields",
                    "rule": "exists",
                    "message": f"not fields of {dataset_id}: {', '.join(unknown)}"
                    if unknown
                    else "an empty field list grants nothing; omit it for every field",
                }
            )
    if problems:
        raise InvalidError("the access right is not valid", errors=problems)
    right = get_right(session, client=client, dataset_id=dataset_id)
    if right is None:
        right = NdxpRight(
            client=client,
            dataset_id=dataset_id,
            fields=fields,
            granted_by=granted_by,
            created_at=now,
        )
        session.add(right)
    else:
        right.fields = fields
        right.granted_by = granted_by
    session.flush()
    return right


def get_right(session: Session, *, client: str, dataset_id: str) -> NdxpRight | None:
    return session.scalars(
        select(NdxpRight).where(NdxpRight.client == client, NdxpRight.dataset_id == dataset_id)
    ).first()


def list_rights(
    session: Session, *, client: str | None = None, dataset_id: str | None = None
) -> Sequence[NdxpRight]:
    statement = select(NdxpRight).order_by(NdxpRight.id)
    if client is not None:
        statement = statement.where(NdxpRight.client == client)
    if dataset_id is not None:
        statement = statement.where(NdxpRight.dataset_id == dataset_id)
    return session.scalars(statement).all()


def revoke_right(session: Session, *, client: str, dataset_id: str) -> None:
    right = get_right(session, client=client, dataset_id=dataset_id)
    if right is None:
        raise NotFoundError(f"{client} holds no NDXP right for {dataset_id}")
    session.delete(right)
    session.flush()


# --- message log -------------------------------------------------------------------------------
def append_message(session: Session, **content: Any) -> NdxpMessage:
    """Append one exchange to the chain. An accepted inbound message id seen before raises
    IntegrityError at flush: that is the replay guard."""
    entry: NdxpMessage = MESSAGE_CHAIN.append(session, **content)
    return entry


def message_seen(session: Session, *, direction: str, message_id: str) -> bool:
    found = session.scalar(
        select(NdxpMessage.id).where(
            NdxpMessage.direction == direction,
            NdxpMessage.message_id == message_id,
            NdxpMessage.accepted.is_(True),
        )
    )
    return found is not None


def messages_by_id(session: Session, *, message_id: str) -> Sequence[NdxpMessage]:
    return session.scalars(
        select(NdxpMessage).where(NdxpMessage.message_id == message_id).order_by(NdxpMessage.id)
    ).all()


def query_messages(
    session: Session,
    *,
    direction: str | None = None,
    client: str | None = None,
    service: str | None = None,
    status_code: int | None = None,
    error_type: str | None = None,
    traceparent: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: int = 0,
    limit: int = 100,
) -> Sequence[NdxpMessage]:
    conditions: list[ColumnElement[bool]] = [NdxpMessage.id > after]
    for column, value in (
        (NdxpMessage.direction, direction),
        (NdxpMessage.client, client),
        (NdxpMessage.service, service),
        (NdxpMessage.status_code, status_code),
        (NdxpMessage.error_type, error_type),
        (NdxpMessage.traceparent, traceparent),
    ):
        if value is not None:
            conditions.append(column == value)
    if since is not None:
        conditions.append(NdxpMessage.at >= since)
    if until is not None:
        conditions.append(NdxpMessage.at < until)
    return session.scalars(
        select(NdxpMessage).where(*conditions).order_by(NdxpMessage.id).limit(limit)
    ).all()


def verify_messages(session: Session) -> Verification:
    return MESSAGE_CHAIN.verify(session)


# --- enterprise registry cache ------------------------------------------------------------------
def cached_enterprises(
    session: Session, *, tax_codes: Iterable[str], now: datetime
) -> dict[str, EnterpriseCache]:
    """The unexpired cache entries among `tax_codes`."""
    codes = sorted(set(tax_codes))
    found: dict[str, EnterpriseCache] = {}
    for start in range(0, len(codes), 500):
        for entry in session.scalars(
            select(EnterpriseCache)
            .where(EnterpriseCache.tax_code.in_(codes[start : start + 500]))
            .execution_options(populate_existing=True)  # upserts bypass the identity map
        ):
            if as_utc(entry.expires_at) > now:
                found[entry.tax_code] = entry
    return found


def put_enterprises(
    session: Session,
    *,
    entries: dict[str, tuple[str, str | None]],
    now: datetime,
    ttl: timedelta,
) -> None:
    """Cache `{tax_code: (status, name)}` until now + ttl (insert or replace)."""
    if not entries:
        return
    rows = [
        {
            "tax_code": code,
            "status": status,
            "name": (name or None) and name[:300],
            "checked_at": now,
            "expires_at": now + ttl,
        }
        for code, (status, name) in entries.items()
    ]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(EnterpriseCache)
    statement = statement.on_conflict_do_update(
        index_elements=[EnterpriseCache.tax_code],
        set_={
            "status": statement.excluded.status,
            "name": statement.excluded.name,
            "checked_at": statement.excluded.checked_at,
            "expires_at": statement.excluded.expires_at,
        },
    )
    session.execute(statement, rows)
    session.flush()


# --- deferred reference checks ------------------------------------------------------------------
def add_rechecks(session: Session, *, rows: list[dict[str, Any]]) -> None:
    repository.insert_rows(session, ReferenceRecheck, rows)


def pending_rechecks(session: Session, *, limit: int) -> Sequence[ReferenceRecheck]:
    return session.scalars(
        select(ReferenceRecheck)
        .where(ReferenceRecheck.status == "pending")
        .order_by(ReferenceRecheck.id)
        .limit(limit)
    ).all()


def resolve_rechecks(
    session: Session,
    *,
    outcomes: dict[int, tuple[str, str | None]],
    still_pending: Sequence[int],
    now: datetime,
) -> None:
    """Record `{recheck id: (passed|failed, reason)}`; count one more attempt for the rest."""
    for recheck_id, (status, reason) in outcomes.items():
        session.execute(
            update(ReferenceRecheck)
            .where(ReferenceRecheck.id == recheck_id, ReferenceRecheck.status == "pending")
            .values(
                status=status,
                reason=reason,
                checked_at=now,
                attempts=ReferenceRecheck.attempts + 1,
            )
        )
    if still_pending:
        session.execute(
            update(ReferenceRecheck)
            .where(ReferenceRecheck.id.in_(list(still_pending)))
            .values(attempts=ReferenceRecheck.attempts + 1, checked_at=now)
        )
    session.flush()


def list_rechecks(
    session: Session,
    *,
    dataset_id: str,
    status: str | None = None,
    after: int = 0,
    limit: int = 100,
) -> Sequence[ReferenceRecheck]:
    statement = select(ReferenceRecheck).where(
        ReferenceRecheck.dataset_id == dataset_id, ReferenceRecheck.id > after
    )
    if status is not None:
        statement = statement.where(ReferenceRecheck.status == status)
    return session.scalars(statement.order_by(ReferenceRecheck.id).limit(limit)).all()


def forget_enterprises(session: Session) -> None:
    """Empty the registry cache (an admin's lever when the registry's answers changed)."""
    session.execute(delete(EnterpriseCache))
    session.flush()
