"""API keys and units (admin)."""

from __future__ import annotations

from fastapi import APIRouter

from catalog import repository
from gateway.api_models import KeyCreate, KeyCreated, UnitPublic
from gateway.auth import require_admin
from gateway.deps import PrincipalDep, SessionDep
from gateway.errors import Unprocessable
from gateway.routes.datasets import ERRORS

router = APIRouter(tags=["keys"])


@router.post("/v1/keys", response_model=KeyCreated, status_code=201, responses=ERRORS)
def create_key(body: KeyCreate, session: SessionDep, principal: PrincipalDep) -> KeyCreated:
    require_admin(principal)
    if repository.get_unit(session, code=body.unit) is None:
        raise Unprocessable(
            f"unit {body.unit!r} does not exist",
            errors=[{"field": "unit", "rule": "exists", "message": "unknown unit code"}],
        )
    key, plaintext = repository.create_api_key(
        session, unit_code=body.unit, role=body.role, label=body.label
    )
    session.commit()
    return KeyCreated(
        id=key.id,
        key=plaintext,
        unit=key.unit_code,
        role=key.role,
        label=key.label,
        created_at=key.created_at,
    )


@router.get("/v1/units", response_model=list[UnitPublic], responses=ERRORS)
def list_units(session: SessionDep, _: PrincipalDep) -> list[UnitPublic]:
    return [UnitPublic(code=u.code, name=u.name) for u in repository.list_units(session)]
