"""Units: the ministry's organisations that own datasets and hold keys (admin manages)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from catalog import repository
from catalog.errors import AlreadyExistsError, NotFoundError
from gateway.api_models import UnitPublic
from gateway.deps import PrincipalDep, SessionDep
from gateway.policy import Action, authorize
from gateway.responses import ERRORS

router = APIRouter(tags=["units"])


@router.get("/v1/units", response_model=list[UnitPublic], responses=ERRORS)
def list_units(session: SessionDep, _: PrincipalDep) -> list[UnitPublic]:
    return [UnitPublic(code=u.code, name=u.name) for u in repository.list_units(session)]


class UnitCreate(BaseModel):
    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,31}$", description="e.g. UBCKNN")
    name: str = Field(min_length=1, max_length=200)


class UnitUpdate(BaseModel):
    name: str = Field(min_length=1, max_length=200)


@router.post("/v1/units", response_model=UnitPublic, status_code=201, responses=ERRORS)
def create_unit(body: UnitCreate, session: SessionDep, principal: PrincipalDep) -> UnitPublic:
    authorize(principal, Action.MANAGE_UNITS)
    if repository.get_unit(session, code=body.code) is not None:
        raise AlreadyExistsError(f"unit {body.code} already exists")
    unit = repository.ensure_unit(session, code=body.code, name=body.name)
    session.commit()
    return UnitPublic(code=unit.code, name=unit.name)


@router.get("/v1/units/{code}", response_model=UnitPublic, responses=ERRORS)
def get_unit(code: str, session: SessionDep, _: PrincipalDep) -> UnitPublic:
    unit = repository.get_unit(session, code=code)
    if unit is None:
        raise NotFoundError(f"unit {code!r} does not exist")
    return UnitPublic(code=unit.code, name=unit.name)


@router.patch("/v1/units/{code}", response_model=UnitPublic, responses=ERRORS)
def update_unit(
    code: str, body: UnitUpdate, session: SessionDep, principal: PrincipalDep
) -> UnitPublic:
    authorize(principal, Action.MANAGE_UNITS)
    unit = repository.get_unit(session, code=code)
    if unit is None:
        raise NotFoundError(f"unit {code!r} does not exist")
    unit.name = body.name
    session.commit()
    return UnitPublic(code=unit.code, name=unit.name)
