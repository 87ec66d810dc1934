"""Replay: rebuild a dataset's topic from the database, the source of truth.

The accepted records of a seq range are queued on the outbox again, so the relay publishes
them once more with their original `ce_id` and `fdxp_seq` (at-least-once: consumers dedupe on
`ce_id`). Used after a broker lost its topics, or to feed a new consumer from the start.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field
from sqlalchemy import DateTime, insert, literal, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from catalog import repository
from catalog.models import OutboxEntry, Record
from gateway.deps import PrincipalDep, SessionDep
from gateway.errors import NotFound, Unprocessable
from gateway.policy import Action, authorize
from gateway.responses import ERRORS, json_response

router = APIRouter(prefix="/v1/datasets", tags=["records"])
MAX_SEQ = 2**63 - 1  # a BIGINT


class ReplayCreate(BaseModel):
    model_config = {"extra": "forbid"}

    from_seq: int | None = Field(default=None, ge=1, le=MAX_SEQ, description="first; default 1")
    to_seq: int | None = Field(
        default=None, ge=1, le=MAX_SEQ, description="last (inclusive); default the dataset's last"
    )


class ReplayAnswer(BaseModel):
    dataset_id: str
    queued: int = Field(description="records queued for the relay")
    from_seq: int
    to_seq: int


def requeue_records(
    session: Session, *, dataset_id: str, from_seq: int, to_seq: int, at: datetime
) -> int:
    """Insert one outbox row per stored record in the range, in one INSERT ... SELECT."""
    rows = (
        select(
            literal("record"),
            Record.dataset_id,
            Record.seq,
            literal(at, DateTime(timezone=True)),
        )
        .where(Record.dataset_id == dataset_id, Record.seq.between(from_seq, to_seq))
        .order_by(Record.seq)
    )
    statement = insert(OutboxEntry).from_select(["kind", "dataset_id", "seq", "created_at"], rows)
    # SQLAlchemy keeps an INSERT's rowcount only when asked to (psycopg answers -1 otherwise).
    result = session.connection().execute(statement.execution_options(preserve_rowcount=True))
    return int(result.rowcount)


@router.post(
    "/{dataset_id}/replay",
    status_code=202,
    response_model=ReplayAnswer,
    responses=ERRORS,
    summary="Publish a dataset's stored records to its topic again (admin)",
    description=(
        "Queues the accepted records with `from_seq <= seq <= to_seq` (default: all) for the "
        "relay, which publishes them again with their original `ce_id` and `fdxp_seq`. "
        "Consumers that dedupe on `ce_id` see each record once."
    ),
)
def replay(
    dataset_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    body: Annotated[ReplayCreate | None, Body()] = None,
) -> Response:
    authorize(principal, Action.MANAGE_CATALOG)
    dataset = repository.get_dataset(session, dataset_id=dataset_id)
    if dataset is None:
        raise NotFound(f"dataset {dataset_id!r} does not exist")
    wanted = body or ReplayCreate()
    from_seq = wanted.from_seq or 1
    to_seq = wanted.to_seq if wanted.to_seq is not None else dataset.last_seq
    if wanted.to_seq is not None and to_seq < from_seq:
        raise Unprocessable(
            f"from_seq {from_seq} is after to_seq {to_seq}",
            errors=[{"field": "to_seq", "rule": "range", "message": "to_seq must be >= from_seq"}],
        )
    queued = requeue_records(
        session, dataset_id=dataset_id, from_seq=from_seq, to_seq=to_seq, at=datetime.now(UTC)
    )
    session.commit()
    return json_response(
        {"dataset_id": dataset_id, "queued": queued, "from_seq": from_seq, "to_seq": to_seq},
        202,
    )
