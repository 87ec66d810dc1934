"""The audit log (admin): query with filters and paging, and verify the hash chain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.responses import Response

from catalog import audit
from catalog.clock import iso
from gateway.deps import PrincipalDep, SessionDep
from gateway.policy import Action, authorize
from gateway.responses import ERRORS, json_response

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("", responses=ERRORS, summary="Audit entries, oldest first, paged by id")
def query_audit(
    session: SessionDep,
    principal: PrincipalDep,
    unit: Annotated[str | None, Query(max_length=32)] = None,
    key_id: Annotated[str | None, Query(max_length=40)] = None,
    dataset_id: Annotated[str | None, Query(max_length=120)] = None,
    action: Annotated[str | None, Query(max_length=200, description="e.g. 'GET /v1/keys'")] = None,
    outcome: Literal["ok", "denied", "error"] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    authorize(principal, Action.READ_AUDIT)
    rows = audit.query(
        session,
        unit_code=unit,
        key_id=key_id,
        dataset_id=dataset_id,
        outcome=outcome,
        action=action,
        since=since,
        until=until,
        after=after,
        limit=limit,
    )
    items = [
        {
            "id": row.id,
            "at": iso(row.at),
            "key_id": row.key_id,
            "unit": row.unit_code,
            "role": row.role,
            "action": row.action,
            "dataset_id": row.dataset_id,
            "record_count": row.record_count,
            "status_code": row.status_code,
            "outcome": row.outcome,
            "request_id": row.request_id,
            "client": row.client,
            "traceparent": row.traceparent,
            "hash": row.hash,
        }
        for row in rows
    ]
    return json_response({"items": items, "next_after": rows[-1].id if rows else after})


@router.get("/verify", responses=ERRORS, summary="Recompute the hash chain")
def verify(session: SessionDep, principal: PrincipalDep) -> Response:
    authorize(principal, Action.READ_AUDIT)
    result = audit.verify_chain(session)
    return json_response(
        {
            "valid": result.valid,
            "checked": result.checked,
            "first_bad_id": result.first_bad_id,
            "reason": result.reason,
        }
    )
