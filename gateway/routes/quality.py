"""Quality suites: read and replace a dataset's rules, try records against the contract
without storing them, and the per-batch results over time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.responses import Response

from catalog import datasets as catalog
from catalog import repository
from catalog.models import Batch, QualityRun
from gateway.contracts import load_contract
from gateway.deps import HubDep, PrincipalDep, SessionDep
from gateway.ingest import check_batch
from gateway.policy import Action, authorize
from gateway.responses import ERRORS, json_response

router = APIRouter(prefix="/v1/datasets", tags=["quality"])


class QualitySuiteUpdate(BaseModel):
    expectations: list[dict[str, Any]] = Field(
        description="Great Expectations configs: {type, kwargs}", max_length=200
    )


@router.get("/{dataset_id}/quality", responses=ERRORS, summary="The current quality suite")
def get_quality(dataset_id: str, session: SessionDep, _: PrincipalDep) -> Response:
    catalog.require_dataset(session, dataset_id)
    suite = repository.latest_quality_suite(session, dataset_id=dataset_id)
    return json_response(
        {
            "dataset_id": dataset_id,
            "version": suite.version if suite else 0,
            "expectations": suite.expectations if suite else [],
        }
    )


@router.put("/{dataset_id}/quality", responses=ERRORS, summary="Replace the quality suite")
def put_quality(
    dataset_id: str, body: QualitySuiteUpdate, session: SessionDep, principal: PrincipalDep
) -> Response:
    dataset = catalog.require_dataset(session, dataset_id)
    authorize(principal, Action.MANAGE_QUALITY, unit=dataset.owner)
    suite = catalog.put_quality_suite(
        session, dataset_id=dataset_id, expectations=body.expectations
    )
    session.commit()
    return json_response(
        {"dataset_id": dataset_id, "version": suite.version, "expectations": suite.expectations}
    )


class ValidateRequest(BaseModel):
    records: list[Any] = Field(min_length=1, max_length=10_000)


@router.post(
    "/{dataset_id}/validate",
    responses=ERRORS,
    summary="Check sample records against the contract; nothing is stored",
)
async def validate(
    dataset_id: str,
    body: ValidateRequest,
    session: SessionDep,
    hub: HubDep,
    principal: PrincipalDep,
    schema_version: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    def run() -> dict[str, Any]:
        contract = load_contract(session, dataset_id=dataset_id, schema_version=schema_version)
        if contract is None:
            catalog.require_dataset(session, dataset_id)
            raise AssertionError("unreachable: dataset without schema")
        authorize(principal, Action.VALIDATE, unit=contract.owner)
        session.commit()  # reference checks write the registry cache in sessions of their own
        accepted, errors, rules, deferred = check_batch(
            contract, body.records, hub.quality, hub.references
        )
        return {
            "dataset_id": dataset_id,
            "schema_version": contract.schema_version,
            "quality_version": contract.suite_version,
            "valid": len(accepted),
            "invalid": len({e.index for e in errors}),
            "deferred": len({d.index for d in deferred}),
            "errors": [e.as_dict() for e in errors],
            "rules": rules,
        }

    return json_response(await run_in_threadpool(run))


@router.get(
    "/{dataset_id}/quality/runs",
    responses=ERRORS,
    summary="Quality results per ingest batch, newest first",
)
def quality_runs(
    dataset_id: str,
    session: SessionDep,
    _: PrincipalDep,
    since: Annotated[datetime | None, Query(description="only batches after this time")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="batches per page")] = 50,
    before: Annotated[
        str | None, Query(description="the `next_before` of the previous page")
    ] = None,
) -> Response:
    catalog.require_dataset(session, dataset_id)
    batches = select(Batch.id, Batch.created_at).where(Batch.dataset_id == dataset_id)
    if since is not None:
        batches = batches.where(Batch.created_at > since)
    if before is not None:
        created, _sep, batch_id = before.partition("|")
        batches = batches.where(
            (Batch.created_at < datetime.fromisoformat(created))
            | ((Batch.created_at == datetime.fromisoformat(created)) & (Batch.id < batch_id))
        )
    page = session.execute(
        batches.order_by(Batch.created_at.desc(), Batch.id.desc()).limit(limit)
    ).all()
    ids = [row.id for row in page]
    runs: dict[str, list[dict[str, Any]]] = {batch_id: [] for batch_id in ids}
    suite_of: dict[str, int] = {}
    for run in session.scalars(
        select(QualityRun).where(QualityRun.batch_id.in_(ids)).order_by(QualityRun.id)
    ).all():
        runs[run.batch_id].append(
            {"rule": run.rule, "column": run.column, "passed": run.passed, "failed": run.failed}
        )
        suite_of[run.batch_id] = run.suite_version
    items = [
        {
            "batch_id": row.id,
            "created_at": row.created_at,
            "suite_version": suite_of.get(row.id),
            "rules": runs[row.id],
        }
        for row in page
    ]
    next_before = f"{page[-1].created_at.isoformat()}|{page[-1].id}" if len(page) == limit else None
    return json_response({"dataset_id": dataset_id, "items": items, "next_before": next_before})
