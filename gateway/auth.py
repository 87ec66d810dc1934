"""Who is calling: bearer API keys resolved to a principal (unit + role)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from catalog import repository
from gateway.errors import Forbidden, Unauthorized


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    unit: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def authenticate(session: Session, authorization: str | None) -> Principal:
    if not authorization:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("malformed Authorization header: expected 'Bearer <key>'")
    key = repository.find_active_key(session, plaintext=token.strip())
    if key is None:
        raise Unauthorized("unknown or revoked API key")
    return Principal(key_id=key.id, unit=key.unit_code, role=key.role)


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden(f"this needs the admin role; key {principal.key_id} is {principal.role}")


def require_publisher_of(principal: Principal, *, owner: str, dataset_id: str) -> None:
    """Only the owner unit's publishers (or an admin) may write a dataset."""
    if principal.is_admin:
        return
    if principal.role != "publisher":
        raise Forbidden(f"role {principal.role} may not publish records")
    if principal.unit != owner:
        raise Forbidden(
            f"unit {principal.unit} may not publish to {dataset_id}, which is owned by {owner}"
        )
