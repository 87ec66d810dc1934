"""Subscriptions: a consumer unit asks for a dataset (purpose, channel, fields, expiry); public
datasets are granted at once, the others wait for an admin's decision."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from catalog import access
from catalog import datasets as catalog
from catalog.clock import as_utc
from catalog.models import Subscription
from gateway.deps import HubDep, PrincipalDep, SessionDep
from gateway.errors import Conflict
from gateway.policy import Action, authorize
from gateway.responses import ERRORS

router = APIRouter(prefix="/v1/subscriptions", tags=["subscriptions"])


class SubscriptionCreate(BaseModel):
    model_config = {"extra": "forbid"}

    dataset_id: str = Field(max_length=120)
    purpose: str = Field(min_length=10, max_length=2000, description="why the data is needed")
    channel: Literal["rest", "kafka"] = "rest"
    fields: list[Annotated[str, Field(max_length=120)]] | None = Field(
        default=None, max_length=500, description="REST only: the fields the purpose needs"
    )
    expires_at: datetime | None = None


class Decision(BaseModel):
    model_config = {"extra": "forbid"}

    note: str | None = Field(default=None, max_length=2000)


class SubscriptionPublic(BaseModel):
    id: str
    dataset_id: str
    unit: str
    requested_by: str
    purpose: str
    channel: str
    fields: list[str] | None
    status: str
    expires_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    created_at: datetime


def public(subscription: Subscription, *, now: datetime) -> SubscriptionPublic:
    return SubscriptionPublic(
        id=subscription.id,
        dataset_id=subscription.dataset_id,
        unit=subscription.unit_code,
        requested_by=subscription.requested_by,
        purpose=subscription.purpose,
        channel=subscription.channel,
        fields=subscription.fields,
        status=access.effective_status(subscription, now=now),
        expires_at=as_utc(subscription.expires_at),
        decided_by=subscription.decided_by,
        decided_at=as_utc(subscription.decided_at),
        decision_note=subscription.decision_note,
        created_at=as_utc(subscription.created_at) or now,
    )


@router.post("", response_model=SubscriptionPublic, status_code=201, responses=ERRORS)
def request_access(
    body: SubscriptionCreate, session: SessionDep, principal: PrincipalDep
) -> SubscriptionPublic:
    authorize(principal, Action.REQUEST_GRANT)
    dataset = catalog.require_dataset(session, body.dataset_id)
    if dataset.status not in ("active", "deprecated"):
        raise Conflict(f"{dataset.id} is {dataset.status}; it cannot be subscribed to")
    now = datetime.now(UTC)
    subscription = access.request_subscription(
        session,
        dataset=dataset,
        unit_code=principal.unit,
        key_id=principal.key_id,
        purpose=body.purpose,
        channel=body.channel,
        fields=body.fields,
        expires_at=as_utc(body.expires_at),
        now=now,
    )
    session.commit()
    return public(subscription, now=now)


@router.get("", response_model=list[SubscriptionPublic], responses=ERRORS)
def list_subscriptions(
    session: SessionDep,
    principal: PrincipalDep,
    dataset_id: Annotated[str | None, Query(max_length=120)] = None,
    status: Annotated[Literal["pending", "approved", "rejected", "revoked"] | None, Query()] = None,
) -> list[SubscriptionPublic]:
    """Admins see every subscription; other keys see their own unit's."""
    now = datetime.now(UTC)
    rows = access.list_subscriptions(
        session,
        unit_code=None if principal.is_admin else principal.unit,
        dataset_id=dataset_id,
        status=status,
    )
    return [public(row, now=now) for row in rows]


@router.get("/{subscription_id}", response_model=SubscriptionPublic, responses=ERRORS)
def get_subscription(
    subscription_id: str, session: SessionDep, principal: PrincipalDep
) -> SubscriptionPublic:
    subscription = access.require_subscription(session, subscription_id)
    authorize(principal, Action.READ_GRANT, unit=subscription.unit_code)
    return public(subscription, now=datetime.now(UTC))


def _decide(
    decision: str, subscription_id: str, body: Decision | None, session: Any, principal: Any
) -> SubscriptionPublic:
    authorize(principal, Action.DECIDE_GRANTS)
    now = datetime.now(UTC)
    subscription = access.decide(
        session,
        subscription_id=subscription_id,
        decision=decision,
        key_id=principal.key_id,
        note=body.note if body else None,
        now=now,
    )
    session.commit()
    return public(subscription, now=now)


@router.post("/{subscription_id}/approve", response_model=SubscriptionPublic, responses=ERRORS)
def approve(
    subscription_id: str, session: SessionDep, principal: PrincipalDep, body: Decision | None = None
) -> SubscriptionPublic:
    return _decide("approve", subscription_id, body, session, principal)


@router.post("/{subscription_id}/reject", response_model=SubscriptionPublic, responses=ERRORS)
def reject(
    subscription_id: str, session: SessionDep, principal: PrincipalDep, body: Decision | None = None
) -> SubscriptionPublic:
    return _decide("reject", subscription_id, body, session, principal)


@router.post("/{subscription_id}/revoke", response_model=SubscriptionPublic, responses=ERRORS)
def revoke(
    subscription_id: str, session: SessionDep, principal: PrincipalDep, body: Decision | None = None
) -> SubscriptionPublic:
    return _decide("revoke", subscription_id, body, session, principal)


class KafkaAccess(BaseModel):
    subscription_id: str
    dataset_id: str
    topic: str
    consumer_group: str = Field(description="use this group id; offsets are kept per grant")
    bootstrap_servers: str | None
    registry_url: str = Field(description="Confluent-compatible schema registry")
    subject: str
    value_format: str


@router.get("/{subscription_id}/kafka", response_model=KafkaAccess, responses=ERRORS)
def kafka_access(
    subscription_id: str,
    request: Request,
    session: SessionDep,
    hub: HubDep,
    principal: PrincipalDep,
) -> KafkaAccess:
    """Where and how a Kafka grant reads: topic, consumer group, registry."""
    subscription = access.require_subscription(session, subscription_id)
    authorize(principal, Action.READ_GRANT, unit=subscription.unit_code)
    status = access.effective_status(subscription, now=datetime.now(UTC))
    if subscription.channel != "kafka":
        raise Conflict(f"{subscription_id} is a {subscription.channel} grant, not a Kafka one")
    if status != "approved":
        raise Conflict(f"{subscription_id} is {status}; Kafka access needs an approved grant")
    base = str(request.base_url).rstrip("/")
    return KafkaAccess(
        subscription_id=subscription.id,
        dataset_id=subscription.dataset_id,
        topic=hub.settings.topic(subscription.dataset_id),
        consumer_group=f"fdxp.{subscription.unit_code.lower()}.{subscription.id}",
        bootstrap_servers=hub.broker_bootstrap,
        registry_url=f"{base}/registry",
        subject=f"{hub.settings.topic_prefix}.{subscription.dataset_id}-value",
        value_format="Confluent wire format: 0x00, 4-byte schema id, Avro binary",
    )
