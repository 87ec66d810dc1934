"""Who is calling: a bearer API key resolved to a principal (unit + role). What the principal
may do is decided in gateway/policy.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from catalog import repository
from gateway.errors import Unauthorized

MAX_KEY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    unit: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("malformed Authorization header: expected 'Bearer <key>'")
    if len(token) > MAX_KEY_LENGTH:
        raise Unauthorized("unknown, revoked or expired API key")
    return token


def authenticate_token(session: Session, token: str) -> Principal:
    key = repository.find_active_key(session, plaintext=token, now=datetime.now(UTC))
    if key is None:
        raise Unauthorized("unknown, revoked or expired API key")
    return Principal(key_id=key.id, unit=key.unit_code, role=key.role)


def authenticate(session: Session, authorization: str | None) -> Principal:
    return authenticate_token(session, bearer_token(authorization))
