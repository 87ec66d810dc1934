"""Connector health: heartbeats from the units' connectors, and the admin's overview."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from catalog import repository
from catalog.clock import as_utc
from catalog.models import ConnectorStatus
from gateway.deps import HubDep, PrincipalDep, SessionDep
from gateway.errors import Unprocessable
from gateway.policy import Action, authorize
from gateway.responses import ERRORS

router = APIRouter(prefix="/v1/connectors", tags=["connectors"])

ConnectorName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_.-]{0,119}$")]


class HeartbeatCreate(BaseModel):
    dataset_id: str | None = Field(default=None, max_length=120)
    cursor: Any = None
    lag: int | None = Field(
        default=None, ge=0, le=2**63 - 1, description="source rows not yet sent"
    )
    last_error: str | None = Field(default=None, max_length=4000)
    records_sent: int | None = Field(default=None, ge=0, le=2**63 - 1)


class ConnectorPublic(BaseModel):
    name: str
    unit: str
    dataset_id: str | None
    cursor: Any
    lag: int | None
    last_error: str | None
    records_sent: int | None
    first_seen_at: datetime
    last_seen_at: datetime
    status: str = Field(description="healthy, failing (last_error set) or stale (no heartbeat)")


def _public(row: ConnectorStatus, *, stale_after: float) -> ConnectorPublic:
    age = (datetime.now(UTC) - as_utc(row.last_seen_at)).total_seconds()
    status = "stale" if age > stale_after else ("failing" if row.last_error else "healthy")
    return ConnectorPublic(
        name=row.name,
        unit=row.unit_code,
        dataset_id=row.dataset_id,
        cursor=row.cursor,
        lag=row.lag,
        last_error=row.last_error,
        records_sent=row.records_sent,
        first_seen_at=as_utc(row.first_seen_at),
        last_seen_at=as_utc(row.last_seen_at),
        status=status,
    )


@router.post("/{name}/heartbeat", response_model=ConnectorPublic, responses=ERRORS)
def heartbeat(
    name: ConnectorName,
    body: HeartbeatCreate,
    session: SessionDep,
    principal: PrincipalDep,
    hub: HubDep,
) -> ConnectorPublic:
    existing = session.get(ConnectorStatus, name)
    if existing is not None:
        authorize(principal, Action.REPORT_CONNECTOR, unit=existing.unit_code)
    else:
        authorize(principal, Action.REPORT_CONNECTOR, unit=principal.unit)
    if body.dataset_id is not None:
        dataset = repository.get_dataset(session, dataset_id=body.dataset_id)
        if dataset is None:
            raise Unprocessable(
                f"dataset {body.dataset_id!r} does not exist",
                errors=[{"field": "dataset_id", "rule": "exists", "message": "unknown dataset"}],
            )
        authorize(principal, Action.REPORT_CONNECTOR, unit=dataset.owner)
    row = repository.record_heartbeat(
        session,
        name=name,
        unit_code=existing.unit_code if existing else principal.unit,
        dataset_id=body.dataset_id,
        cursor=body.cursor,
        lag=body.lag,
        last_error=body.last_error,
        records_sent=body.records_sent,
        at=datetime.now(UTC),
    )
    session.commit()
    return _public(row, stale_after=hub.settings.connector_stale_seconds)


@router.get("", response_model=list[ConnectorPublic], responses=ERRORS)
def list_connectors(
    session: SessionDep, principal: PrincipalDep, hub: HubDep
) -> list[ConnectorPublic]:
    authorize(principal, Action.READ_CONNECTORS)
    return [
        _public(row, stale_after=hub.settings.connector_stale_seconds)
        for row in repository.list_connector_status(session)
    ]
