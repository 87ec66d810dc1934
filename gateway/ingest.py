"""The ingest pipeline for one batch: conform (Avro) -> quality (GX) -> reference checks (NDXP,
gateway/references.py) -> store, in one transaction.

Per batch, never per record: the codec is compiled once per schema version, the quality suite
runs once over the whole batch, and rows are written with executemany.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy.orm import Session

from catalog import ndxp, repository
from catalog.models import Batch, OutboxEntry, QualityRun, QuarantinedRow, Record
from gateway.auth import Principal
from gateway.contracts import Contract, QualityChecker
from gateway.errors import Conflict
from gateway.references import Deferral, ReferenceChecker
from gateway.tracing import new_traceparent
from schemas.results import BATCH_LEVEL, RowError, passing


@dataclass(frozen=True, slots=True)
class IngestAnswer:
    status: int
    body: dict[str, Any]


def request_hash(records: list[Any]) -> str:
    return hashlib.sha256(orjson.dumps(records, option=orjson.OPT_SORT_KEYS)).hexdigest()


def replay_answer(batch: Batch, *, body_hash: str) -> IngestAnswer:
    """The first answer for a repeated Idempotency-Key; a different body is a conflict."""
    if batch.request_hash != body_hash:
        raise Conflict(
            f"Idempotency-Key {batch.idempotency_key!r} was already used for batch {batch.id} "
            "with a different body"
        )
    stored = batch.response
    return IngestAnswer(status=int(stored["status"]), body={**stored["body"], "replayed": True})


class BatchCheck(NamedTuple):
    accepted: list[tuple[int, dict[str, Any]]]
    errors: list[RowError]
    rules: list[dict[str, Any]]
    deferred: list[Deferral]  # accepted rows whose reference check waits for NDXP


def check_batch(
    contract: Contract,
    records: list[Any],
    quality: QualityChecker,
    references: ReferenceChecker | None = None,
    *,
    traceparent: str | None = None,
) -> BatchCheck:
    """Split a batch into accepted rows and row errors; also the per-rule quality summary."""
    conformed, errors = contract.codec.conform(records, contract.key_field)
    quality_errors, rules = quality.check(contract, conformed)
    if quality_errors:
        conformed = passing(conformed, quality_errors)
        errors = errors + quality_errors
    deferred: list[Deferral] = []
    if contract.reference_rules and conformed:
        if references is None:
            raise RuntimeError(f"{contract.dataset_id} has reference rules but no checker")
        outcome = references.check(
            contract.reference_rules, contract.key_field, conformed, traceparent=traceparent
        )
        if outcome.errors:
            conformed = passing(conformed, outcome.errors)
            errors = errors + outcome.errors
        rules = rules + outcome.rules
        deferred = outcome.deferred
    errors.sort(key=lambda e: e.index)
    return BatchCheck(conformed, errors, [r.as_dict() for r in rules], deferred)


def store_batch(
    session: Session,
    *,
    contract: Contract,
    principal: Principal,
    records: list[Any],
    accepted: list[tuple[int, dict[str, Any]]],
    errors: list[RowError],
    rules: list[dict[str, Any]],
    idempotency_key: str | None,
    body_hash: str,
    traceparent: str | None,
    source: str | None = None,
    deferred: Sequence[Deferral] = (),
) -> IngestAnswer:
    """Write the batch row, accepted records, quarantine and outbox; the caller commits."""
    traceparent = traceparent or new_traceparent()
    now = datetime.now(UTC)
    batch_id = str(uuid.uuid4())
    first_seq = None
    if accepted:
        # Takes the dataset's row lock until commit (see reserve_seqs).
        first_seq = repository.reserve_seqs(
            session, dataset_id=contract.dataset_id, count=len(accepted)
        )
    if idempotency_key and first_seq is not None:
        # Re-checked under the dataset lock: a concurrent twin may have committed meanwhile.
        # (Without accepted rows there is no lock to hold; the batches table's unique key
        # catches the twin and the route answers with the first answer.)
        existing = repository.find_batch_by_idempotency_key(
            session,
            unit_code=principal.unit,
            dataset_id=contract.dataset_id,
            idempotency_key=idempotency_key,
        )
        if existing is not None:
            session.rollback()
            return replay_answer(existing, body_hash=body_hash)

    # Every row not accepted: rows with their own errors, and all of them when an error
    # concerns the whole batch (index -1, see schemas.results.passing).
    accepted_indexes = {index for index, _ in accepted}
    rejected_rows = [i for i in range(len(records)) if i not in accepted_indexes]
    body: dict[str, Any] = {
        "batch_id": batch_id,
        "dataset_id": contract.dataset_id,
        "schema_id": contract.schema_id,
        "schema_version": contract.schema_version,
        "accepted": len(accepted),
        "rejected": len(rejected_rows),
        "first_seq": first_seq,
        "last_seq": first_seq + len(accepted) - 1 if first_seq is not None else None,
        "errors": [e.as_dict() for e in errors],
        "quality": rules,
        "deferred": len({d.index for d in deferred}),
    }
    status = 200
    if not accepted and rejected_rows:
        status = 422
        body = {
            "type": "validation_error",
            "message": f"all {len(rejected_rows)} records were rejected; see errors",
            **body,
        }
    repository.insert_rows(
        session,
        Batch,
        [
            {
                "id": batch_id,
                "dataset_id": contract.dataset_id,
                "unit_code": principal.unit,
                "key_id": principal.key_id,
                "idempotency_key": idempotency_key,
                "request_hash": body_hash,
                "schema_id": contract.schema_id,
                "received": len(records),
                "accepted": len(accepted),
                "rejected": len(rejected_rows),
                "first_seq": body["first_seq"],
                "last_seq": body["last_seq"],
                "traceparent": traceparent,
                "source": source,
                "response": {"status": status, "body": body},
                "created_at": now,
            }
        ],
    )
    repository.insert_rows(
        session,
        QualityRun,
        [
            {
                "dataset_id": contract.dataset_id,
                "batch_id": batch_id,
                "suite_version": contract.suite_version,
                "rule": rule["rule"],
                "column": rule["column"],
                "passed": rule["passed"],
                "failed": rule["failed"],
                "created_at": now,
            }
            for rule in rules
        ],
    )
    if accepted:
        assert first_seq is not None
        key_field = contract.key_field
        payloads = contract.codec.encode_many([datum for _, datum in accepted])
        record_rows = []
        outbox_rows = []
        for offset, ((_, datum), payload) in enumerate(zip(accepted, payloads, strict=True)):
            seq = first_seq + offset
            record_rows.append(
                {
                    "dataset_id": contract.dataset_id,
                    "seq": seq,
                    "record_id": str(uuid.uuid4()),
                    "record_key": str(datum[key_field]),
                    "batch_id": batch_id,
                    "schema_id": contract.schema_id,
                    "payload": payload,
                    "created_at": now,
                }
            )
            outbox_rows.append(
                {"kind": "record", "dataset_id": contract.dataset_id, "seq": seq, "created_at": now}
            )
        repository.insert_rows(session, Record, record_rows)
        repository.insert_rows(session, OutboxEntry, outbox_rows)
        if deferred:
            position = {index: offset for offset, (index, _) in enumerate(accepted)}
            ndxp.add_rechecks(
                session,
                rows=[
                    {
                        "dataset_id": contract.dataset_id,
                        "batch_id": batch_id,
                        "seq": first_seq + position[d.index],
                        "record_key": record_rows[position[d.index]]["record_key"],
                        "rule": d.rule,
                        "column": d.column,
                        "value": d.value,
                        "traceparent": traceparent,
                        "status": "pending",
                        "attempts": 0,
                        "created_at": now,
                    }
                    for d in deferred
                ],
            )
    if rejected_rows:
        reasons: dict[int, list[dict[str, Any]]] = {}
        keys: dict[int, str | None] = {}
        for error in errors:
            reasons.setdefault(error.index, []).append(error.as_dict())
            keys.setdefault(error.index, error.key)
        batch_level = reasons.pop(BATCH_LEVEL, [])
        repository.insert_rows(
            session,
            QuarantinedRow,
            [
                {
                    "dataset_id": contract.dataset_id,
                    "batch_id": batch_id,
                    "row_index": index,
                    "record_key": keys.get(index),
                    "raw": records[index],
                    "errors": reasons.get(index, []) + batch_level,
                    "created_at": now,
                }
                for index in rejected_rows
            ],
        )
        repository.insert_rows(
            session,
            OutboxEntry,
            [
                {
                    "kind": "dead_letter",
                    "dataset_id": contract.dataset_id,
                    "batch_id": batch_id,
                    "row_index": index,
                    "created_at": now,
                }
                for index in rejected_rows
            ],
        )
    return IngestAnswer(status=status, body=body)
