"""Records of a dataset: publish a batch, page accepted records, page the quarantine."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.responses import Response, StreamingResponse

from catalog import repository
from catalog.models import Record
from gateway.api_models import PublishAnswer, QuarantinePage, RecordsCreate, RecordsPage
from gateway.auth import Principal
from gateway.contracts import (
    Contract,
    UnknownSchemaVersion,
    codec_for_schema_id,
    load_contract,
)
from gateway.deps import Hub, HubDep, PrincipalDep, SessionDep
from gateway.errors import (
    BadRequest,
    Conflict,
    Gone,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
)
from gateway.ingest import IngestAnswer, check_batch, replay_answer, request_hash, store_batch
from gateway.policy import Action, ReadAccess, authorize, read_access
from gateway.responses import ERRORS, json_response
from gateway.tracing import new_traceparent, valid_traceparent
from schemas.codec import AvroCodec

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/datasets", tags=["records"])

ACCEPTING = ("active", "deprecated")


def _parse_records(body: bytes, *, max_records: int) -> list[Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("records"), list):
        raise Unprocessable(
            'the body must be a JSON object {"records": [...]}',
            errors=[{"field": "records", "rule": "required", "message": "a list is required"}],
        )
    extra = sorted(set(parsed) - {"records"})
    if extra:
        raise Unprocessable(
            f"unknown top-level fields: {', '.join(extra)}",
            errors=[{"field": f, "rule": "unknown_field", "message": "not allowed"} for f in extra],
        )
    records: list[Any] = parsed["records"]
    if not records:
        raise Unprocessable(
            "the batch is empty",
            errors=[{"field": "records", "rule": "min_items", "message": "send 1 or more"}],
        )
    if len(records) > max_records:
        raise PayloadTooLarge(
            f"{len(records)} records in one batch; at most {max_records} are accepted"
        )
    return records


def _publish(
    hub: Hub,
    session: Session,
    principal: Principal,
    dataset_id: str,
    body: bytes,
    idempotency_key: str | None,
    traceparent: str,
    source: str | None,
    schema_version: int | None,
) -> tuple[IngestAnswer, Contract]:
    try:
        contract = load_contract(session, dataset_id=dataset_id, schema_version=schema_version)
    except UnknownSchemaVersion as exc:
        raise Unprocessable(
            str(exc),
            errors=[{"field": "schema_version", "rule": "exists", "message": str(exc)}],
        ) from None
    if contract is None:
        raise NotFound(f"dataset {dataset_id!r} does not exist")
    authorize(principal, Action.PUBLISH, unit=contract.owner)
    if contract.status == "retired":
        raise Gone(f"dataset {dataset_id} is retired and accepts no records")
    if contract.status not in ACCEPTING:
        raise Conflict(f"dataset {dataset_id} is {contract.status}; it accepts no records yet")
    records = _parse_records(body, max_records=hub.settings.max_batch_records)
    body_hash = request_hash(records)
    if idempotency_key:
        existing = repository.find_batch_by_idempotency_key(
            session,
            unit_code=principal.unit,
            dataset_id=dataset_id,
            idempotency_key=idempotency_key,
        )
        if existing is not None:
            return replay_answer(existing, body_hash=body_hash), contract
    # End the read snapshot before the slow checks, so the write transaction below starts
    # fresh (SQLite refuses to upgrade a snapshot that another writer has moved past).
    session.commit()
    accepted, errors, rules, deferred = check_batch(
        contract, records, hub.quality, hub.references, traceparent=traceparent
    )
    try:
        answer = store_batch(
            session,
            contract=contract,
            principal=principal,
            records=records,
            accepted=accepted,
            errors=errors,
            rules=rules,
            idempotency_key=idempotency_key,
            body_hash=body_hash,
            traceparent=traceparent,
            source=source,
            deferred=deferred,
        )
        session.commit()
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key committed first.
        session.rollback()
        if not idempotency_key:
            raise
        existing = repository.find_batch_by_idempotency_key(
            session,
            unit_code=principal.unit,
            dataset_id=dataset_id,
            idempotency_key=idempotency_key,
        )
        if existing is None:
            raise
        return replay_answer(existing, body_hash=body_hash), contract
    log.info(
        "batch %s of %s: %d accepted, %d rejected, %d deferred (traceparent %s)",
        answer.body.get("batch_id"),
        dataset_id,
        len(accepted),
        len({e.index for e in errors}),
        len(deferred),
        traceparent,
    )
    return answer, contract


@router.post(
    "/{dataset_id}/records",
    response_model=PublishAnswer,
    responses=ERRORS,
    summary="Publish a batch of records",
    description=(
        "Checks every record against the dataset's contract (Avro schema, then the quality "
        "suite on the whole batch). Good rows are stored and queued for Kafka in one "
        "transaction; bad rows go to quarantine, each with its reasons. All rows rejected: "
        "422 with the same body. A repeated `Idempotency-Key` returns the first answer."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": RecordsCreate.model_json_schema()}},
        }
    },
)
async def publish_records(
    dataset_id: str,
    request: Request,
    hub: HubDep,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
    traceparent: Annotated[str | None, Header(max_length=64)] = None,
    connector: Annotated[
        str | None,
        Header(alias="X-FDXP-Connector", max_length=120, description="the sending connector"),
    ] = None,
    schema_version: Annotated[
        int | None, Query(ge=1, description="pin a schema version; default: the latest")
    ] = None,
) -> Response:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > hub.settings.max_body_bytes:
        raise PayloadTooLarge(f"body of {length} bytes; at most {hub.settings.max_body_bytes}")
    body = await request.body()
    if len(body) > hub.settings.max_body_bytes:
        raise PayloadTooLarge(f"body of {len(body)} bytes; at most {hub.settings.max_body_bytes}")
    # The connector's trace, or a new one: the batch, the audit entry and NDXP calls share it.
    trace = valid_traceparent(traceparent) or new_traceparent()
    request.state.traceparent = trace
    answer, contract = await run_in_threadpool(
        _publish,
        hub,
        session,
        principal,
        dataset_id,
        body,
        idempotency_key,
        trace,
        connector,
        schema_version,
    )
    request.state.audit_records = answer.body.get("accepted")
    headers = {"Location": f"/v1/batches/{answer.body['batch_id']}"}
    if contract.status == "deprecated":
        headers["Deprecation"] = "true"
    if answer.status >= 400:
        headers["X-Request-ID"] = request.state.request_id
        return json_response(
            {**answer.body, "detail": request.state.request_id}, answer.status, headers
        )
    return json_response(answer.body, answer.status, headers)


def _project(data: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    return data if fields is None else {name: data.get(name) for name in fields}


def _record_items(
    session: Session, rows: Sequence[Record], fields: list[str] | None
) -> list[dict[str, Any]]:
    codecs: dict[int, AvroCodec] = {}
    items = []
    for row in rows:
        codec = codecs.get(row.schema_id)
        if codec is None:
            codec = codecs[row.schema_id] = codec_for_schema_id(session, schema_id=row.schema_id)
        items.append(
            {
                "seq": row.seq,
                "id": row.record_id,
                "key": row.record_key,
                "batch_id": row.batch_id,
                "schema_id": row.schema_id,
                "created_at": row.created_at,
                "data": _project(codec.to_json(codec.decode(row.payload)), fields),
            }
        )
    return items


def _readable(
    session: Session, principal: Principal, dataset_id: str, channel: str = "rest"
) -> ReadAccess:
    dataset = repository.get_dataset(session, dataset_id=dataset_id)
    if dataset is None:
        raise NotFound(f"dataset {dataset_id!r} does not exist")
    return read_access(
        session,
        principal,
        dataset_id=dataset_id,
        owner=dataset.owner,
        channel=channel,
        now=datetime.now(UTC),
    )


@router.get(
    "/{dataset_id}/records",
    response_model=RecordsPage,
    responses=ERRORS,
    summary="Page accepted records by sequence (cursor: `after`)",
    description=(
        "Admins and the owner unit read every field; other units need an active REST grant, "
        "and a grant with a field list returns only those fields. `view=latest` keeps only "
        "each key's newest version; `history` (default) returns every version."
    ),
)
def read_records(
    dataset_id: str,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    after: Annotated[int, Query(ge=0, description="return records with seq > after")] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    key: Annotated[str | None, Query(max_length=200, description="one record key")] = None,
    since: Annotated[datetime | None, Query(description="accepted at or after")] = None,
    until: Annotated[datetime | None, Query(description="accepted before")] = None,
    view: Annotated[Literal["history", "latest"], Query()] = "history",
) -> Response:
    grant = _readable(session, principal, dataset_id)
    rows = repository.page_records(
        session,
        dataset_id=dataset_id,
        after=after,
        limit=limit,
        key=key,
        since=since,
        until=until,
        latest_only=view == "latest",
    )
    request.state.audit_records = len(rows)
    return json_response(
        {
            "dataset_id": dataset_id,
            "items": _record_items(session, rows, grant.fields),
            "next_after": rows[-1].seq if rows else after,
        }
    )


@router.get(
    "/{dataset_id}/stream",
    responses={**ERRORS, 200: {"content": {"text/event-stream": {}}}},
    summary="Accepted records as Server-Sent Events, resumable with Last-Event-ID",
    description=(
        "Each event is `id: <seq>`, `event: record`, `data: <record JSON>`. Reconnect with "
        "`Last-Event-ID` (or `after`) to resume. `idle_timeout` ends the stream after that "
        "many seconds without new records (default: never)."
    ),
)
async def stream_records(
    dataset_id: str,
    request: Request,
    hub: HubDep,
    principal: PrincipalDep,
    after: Annotated[int, Query(ge=0)] = 0,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    idle_timeout: Annotated[float | None, Query(gt=0, le=3600)] = None,
) -> StreamingResponse:
    with hub.sessions() as session:
        grant = await run_in_threadpool(_readable, session, principal, dataset_id)
    if last_event_id is not None:
        if not last_event_id.isdigit():
            raise BadRequest("Last-Event-ID must be a record sequence number")
        after = max(after, int(last_event_id))

    def next_page(cursor: int) -> list[dict[str, Any]]:
        with hub.sessions() as session:
            rows = repository.page_records(session, dataset_id=dataset_id, after=cursor, limit=500)
            return _record_items(session, rows, grant.fields)

    async def events() -> AsyncIterator[bytes]:
        cursor = after
        idle_since = time.monotonic()
        last_ping = time.monotonic()
        yield b"retry: 2000\n\n"
        while True:
            if await request.is_disconnected():
                return
            items = await run_in_threadpool(next_page, cursor)
            for item in items:
                yield (
                    f"id: {item['seq']}\nevent: record\ndata: ".encode()
                    + orjson.dumps(item)
                    + b"\n\n"
                )
                cursor = item["seq"]
            now = time.monotonic()
            if items:
                idle_since = now
                continue
            if idle_timeout is not None and now - idle_since >= idle_timeout:
                return
            if now - last_ping >= 15:
                last_ping = now
                yield b": keep-alive\n\n"
            await asyncio.sleep(hub.settings.stream_poll_interval)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/{dataset_id}/quarantine", response_model=QuarantinePage, responses=ERRORS)
def read_quarantine(
    dataset_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    after: Annotated[int, Query(ge=0, description="return rows with id > after")] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> Response:
    dataset = repository.get_dataset(session, dataset_id=dataset_id)
    if dataset is None:
        raise NotFound(f"dataset {dataset_id!r} does not exist")
    authorize(principal, Action.READ_QUARANTINE, unit=dataset.owner)
    rows = repository.page_quarantine(session, dataset_id=dataset_id, after=after, limit=limit)
    items = [
        {
            "id": row.id,
            "batch_id": row.batch_id,
            "row_index": row.row_index,
            "key": row.record_key,
            "raw": row.raw,
            "errors": row.errors,
            "created_at": row.created_at,
        }
        for row in rows
    ]
    return json_response(
        {"dataset_id": dataset_id, "items": items, "next_after": rows[-1].id if rows else after}
    )
