"""Ingest batches: what happened to one POST of records."""

from __future__ import annotations

from fastapi import APIRouter

from catalog import repository
from gateway.api_models import BatchPublic
from gateway.deps import PrincipalDep, SessionDep
from gateway.errors import NotFound
from gateway.policy import Action, authorize
from gateway.responses import ERRORS

router = APIRouter(prefix="/v1/batches", tags=["batches"])


@router.get("/{batch_id}", response_model=BatchPublic, responses=ERRORS)
def get_batch(batch_id: str, session: SessionDep, principal: PrincipalDep) -> BatchPublic:
    batch = repository.get_batch(session, batch_id=batch_id)
    if batch is None:
        raise NotFound(f"batch {batch_id!r} does not exist")
    authorize(principal, Action.READ_BATCH, unit=batch.unit_code)
    return BatchPublic(
        id=batch.id,
        dataset_id=batch.dataset_id,
        unit=batch.unit_code,
        idempotency_key=batch.idempotency_key,
        schema_id=batch.schema_id,
        received=batch.received,
        accepted=batch.accepted,
        rejected=batch.rejected,
        first_seq=batch.first_seq,
        last_seq=batch.last_seq,
        created_at=batch.created_at,
        answer=batch.response["body"],
        traceparent=batch.traceparent,
    )
