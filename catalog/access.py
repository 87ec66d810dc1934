"""Who may see what: API keys (create, list, rotate, revoke, expire) and subscriptions
(request, decide, revoke, expire). Functions flush; the caller commits."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog import repository
from catalog.clock import as_utc
from catalog.errors import InvalidError, NotFoundError, TransitionError
from catalog.models import ApiKey, Dataset, Subscription

CHANNELS = ("rest", "kafka")
# Which decisions may follow which subscription status.
DECISIONS: dict[str, dict[str, str]] = {
    "pending": {"approve": "approved", "reject": "rejected"},
    "approved": {"revoke": "revoked"},
    "rejected": {},
    "revoked": {},
    "expired": {},
}


# --- keys --------------------------------------------------------------------------------------
def list_keys(session: Session, *, unit_code: str | None = None) -> Sequence[ApiKey]:
    statement = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if unit_code is not None:
        statement = statement.where(ApiKey.unit_code == unit_code)
    return session.scalars(statement).all()


def require_key(session: Session, key_id: str) -> ApiKey:
    key = repository.get_api_key(session, key_id=key_id)
    if key is None:
        raise NotFoundError(f"key {key_id!r} does not exist")
    return key


def revoke_key(session: Session, *, key_id: str, at: datetime) -> ApiKey:
    key = require_key(session, key_id)
    if key.revoked_at is None:
        key.revoked_at = at
        session.flush()
    return key


def rotate_key(session: Session, *, key_id: str, at: datetime) -> tuple[ApiKey, str]:
    """A new key with the same unit, role and expiry; the old one stops working at once."""
    old = require_key(session, key_id)
    if old.revoked_at is not None:
        raise TransitionError(f"key {key_id} is revoked; create a new key instead")
    new, plaintext = repository.create_api_key(
        session,
        unit_code=old.unit_code,
        role=old.role,
        label=old.label,
        expires_at=old.expires_at,
    )
    new.rotated_from = old.id
    old.revoked_at = at
    session.flush()
    return new, plaintext


# --- subscriptions -----------------------------------------------------------------------------
def effective_status(subscription: Subscription, *, now: datetime) -> str:
    expires = as_utc(subscription.expires_at)
    if subscription.status == "approved" and expires is not None and expires <= now:
        return "expired"
    return subscription.status


def request_subscription(
    session: Session,
    *,
    dataset: Dataset,
    unit_code: str,
    key_id: str,
    purpose: str,
    channel: str,
    fields: list[str] | None,
    expires_at: datetime | None,
    now: datetime,
) -> Subscription:
    """Record a request; a `public` dataset's request is approved at once."""
    problems = []
    if channel not in CHANNELS:
        problems.append({"field": "channel", "rule": "enum", "message": f"one of {CHANNELS}"})
    if fields is not None:
        schema = repository.latest_schema(session, dataset_id=dataset.id)
        known = {f["name"] for f in json.loads(schema.schema_json)["fields"]} if schema else set()
        unknown = [f for f in fields if f not in known]
        if unknown:
            problems.append(
                {
                    "field": "fields",
                    "rule": "exists",
                    "message": f"not fields of {dataset.id}: {', '.join(unknown)}",
                }
            )
        if channel == "kafka":
            problems.append(
                {
                    "field": "fields",
                    "rule": "channel",
                    "message": "a Kafka grant carries whole records; field lists are for REST",
                }
            )
    expires = as_utc(expires_at)
    if expires is not None and expires <= now:
        problems.append({"field": "expires_at", "rule": "future", "message": "already past"})
    if problems:
        raise InvalidError("the subscription request is not valid", errors=problems)
    auto = dataset.classification == "public"
    subscription = Subscription(
        id="sub_" + secrets.token_hex(8),
        dataset_id=dataset.id,
        unit_code=unit_code,
        requested_by=key_id,
        purpose=purpose,
        channel=channel,
        fields=fields,
        status="approved" if auto else "pending",
        expires_at=expires_at,
        decided_by="auto (public dataset)" if auto else None,
        decided_at=now if auto else None,
        created_at=now,
    )
    session.add(subscription)
    session.flush()
    return subscription


def require_subscription(session: Session, subscription_id: str) -> Subscription:
    subscription = session.get(Subscription, subscription_id)
    if subscription is None:
        raise NotFoundError(f"subscription {subscription_id!r} does not exist")
    return subscription


def decide(
    session: Session,
    *,
    subscription_id: str,
    decision: str,
    key_id: str,
    note: str | None,
    now: datetime,
) -> Subscription:
    subscription = require_subscription(session, subscription_id)
    status = effective_status(subscription, now=now)
    target = DECISIONS.get(status, {}).get(decision)
    if target is None:
        allowed = ", ".join(DECISIONS.get(status, {})) or "none"
        raise TransitionError(
            f"subscription {subscription_id} is {status}; possible decisions: {allowed}"
        )
    subscription.status = target
    subscription.decided_by = key_id
    subscription.decided_at = now
    subscription.decision_note = note
    session.flush()
    return subscription


def list_subscriptions(
    session: Session,
    *,
    unit_code: str | None = None,
    dataset_id: str | None = None,
    status: str | None = None,
) -> Sequence[Subscription]:
    statement = select(Subscription).order_by(Subscription.created_at, Subscription.id)
    if unit_code is not None:
        statement = statement.where(Subscription.unit_code == unit_code)
    if dataset_id is not None:
        statement = statement.where(Subscription.dataset_id == dataset_id)
    if status is not None:
        statement = statement.where(Subscription.status == status)
    return session.scalars(statement).all()


def active_grant(
    session: Session, *, unit_code: str, dataset_id: str, channel: str, now: datetime
) -> Subscription | None:
    """The unit's approved, unexpired grant for the dataset on a channel, if any."""
    for subscription in session.scalars(
        select(Subscription).where(
            Subscription.unit_code == unit_code,
            Subscription.dataset_id == dataset_id,
            Subscription.channel == channel,
            Subscription.status == "approved",
        )
    ).all():
        if effective_status(subscription, now=now) == "approved":
            return subscription
    return None
