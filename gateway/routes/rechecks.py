"""Deferred reference checks of a dataset (gateway/references.py): rows accepted while NDXP was
unreachable, and what their re-check found."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.responses import Response

from catalog import datasets as catalog
from catalog import ndxp
from catalog.clock import iso
from gateway.deps import PrincipalDep, SessionDep
from gateway.policy import Action, authorize
from gateway.responses import ERRORS, json_response

router = APIRouter(prefix="/v1/datasets", tags=["quality"])


@router.get(
    "/{dataset_id}/rechecks",
    responses=ERRORS,
    summary="Records accepted with a deferred reference check, and the re-check's outcome",
    description="`status`: `pending` (NDXP not reached yet), `passed`, or `failed` (with why).",
)
def list_rechecks(
    dataset_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    status: Literal["pending", "passed", "failed"] | None = None,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    dataset = catalog.require_dataset(session, dataset_id)
    authorize(principal, Action.READ_RECHECKS, unit=dataset.owner)
    rows = ndxp.list_rechecks(
        session, dataset_id=dataset_id, status=status, after=after, limit=limit
    )
    items = [
        {
            "id": row.id,
            "batch_id": row.batch_id,
            "seq": row.seq,
            "key": row.record_key,
            "rule": row.rule,
            "field": row.column,
            "value": row.value,
            "status": row.status,
            "reason": row.reason,
            "attempts": row.attempts,
            "traceparent": row.traceparent,
            "created_at": iso(row.created_at),
            "checked_at": iso(row.checked_at) if row.checked_at else None,
        }
        for row in rows
    ]
    return json_response(
        {"dataset_id": dataset_id, "items": items, "next_after": rows[-1].id if rows else after}
    )
