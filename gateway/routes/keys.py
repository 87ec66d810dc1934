"""API keys (admin): create, list, rotate, revoke. A key is shown once; only its hash is kept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Query

from catalog import access, repository
from catalog.clock import as_utc
from catalog.models import ApiKey
from gateway.api_models import KeyCreate, KeyCreated, KeyPublic
from gateway.deps import PrincipalDep, SessionDep
from gateway.errors import Unprocessable
from gateway.policy import Action, authorize
from gateway.responses import ERRORS

router = APIRouter(prefix="/v1/keys", tags=["keys"])


def key_public(key: ApiKey, *, now: datetime) -> KeyPublic:
    expires = as_utc(key.expires_at)
    status: Literal["active", "revoked", "expired"] = "active"
    if key.revoked_at is not None:
        status = "revoked"
    elif expires is not None and expires <= now:
        status = "expired"
    return KeyPublic(
        id=key.id,
        unit=key.unit_code,
        role=key.role,
        label=key.label,
        created_at=as_utc(key.created_at) or now,
        expires_at=expires,
        revoked_at=as_utc(key.revoked_at),
        rotated_from=key.rotated_from,
        status=status,
    )


def key_created(key: ApiKey, plaintext: str, *, now: datetime) -> KeyCreated:
    return KeyCreated(**key_public(key, now=now).model_dump(), key=plaintext)


@router.post("", response_model=KeyCreated, status_code=201, responses=ERRORS)
def create_key(body: KeyCreate, session: SessionDep, principal: PrincipalDep) -> KeyCreated:
    authorize(principal, Action.MANAGE_KEYS)
    now = datetime.now(UTC)
    if repository.get_unit(session, code=body.unit) is None:
        raise Unprocessable(
            f"unit {body.unit!r} does not exist",
            errors=[{"field": "unit", "rule": "exists", "message": "unknown unit code"}],
        )
    expires = as_utc(body.expires_at)
    if expires is not None and expires <= now:
        raise Unprocessable(
            "expires_at is in the past",
            errors=[{"field": "expires_at", "rule": "future", "message": "already past"}],
        )
    key, plaintext = repository.create_api_key(
        session, unit_code=body.unit, role=body.role, label=body.label, expires_at=expires
    )
    session.commit()
    return key_created(key, plaintext, now=now)


@router.get("", response_model=list[KeyPublic], responses=ERRORS)
def list_keys(
    session: SessionDep,
    principal: PrincipalDep,
    unit: str | None = Query(default=None, max_length=32),
) -> list[KeyPublic]:
    authorize(principal, Action.MANAGE_KEYS)
    now = datetime.now(UTC)
    return [key_public(k, now=now) for k in access.list_keys(session, unit_code=unit)]


@router.get("/{key_id}", response_model=KeyPublic, responses=ERRORS)
def get_key(key_id: str, session: SessionDep, principal: PrincipalDep) -> KeyPublic:
    authorize(principal, Action.MANAGE_KEYS)
    return key_public(access.require_key(session, key_id), now=datetime.now(UTC))


@router.post(
    "/{key_id}/rotate",
    response_model=KeyCreated,
    status_code=201,
    responses=ERRORS,
    summary="Replace a key: a new key is shown once; the old one stops working at once",
)
def rotate_key(key_id: str, session: SessionDep, principal: PrincipalDep) -> KeyCreated:
    authorize(principal, Action.MANAGE_KEYS)
    now = datetime.now(UTC)
    key, plaintext = access.rotate_key(session, key_id=key_id, at=now)
    session.commit()
    return key_created(key, plaintext, now=now)


@router.delete(
    "/{key_id}", response_model=KeyPublic, responses=ERRORS, summary="Revoke a key at once"
)
def revoke_key(key_id: str, session: SessionDep, principal: PrincipalDep) -> KeyPublic:
    authorize(principal, Action.MANAGE_KEYS)
    now = datetime.now(UTC)
    key = access.revoke_key(session, key_id=key_id, at=now)
    session.commit()
    return key_public(key, now=now)
