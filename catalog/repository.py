"""Catalog queries. Keyword-only after the session; functions flush, the caller commits."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased

from catalog.models import (
    ApiKey,
    Batch,
    ConnectorStatus,
    Dataset,
    OutboxEntry,
    QualitySuite,
    QuarantinedRow,
    Record,
    SchemaVersion,
    Unit,
)

ROLES = ("admin", "publisher", "consumer")


# --- units -------------------------------------------------------------------------------------
def get_unit(session: Session, *, code: str) -> Unit | None:
    return session.get(Unit, code)


def list_units(session: Session) -> Sequence[Unit]:
    return session.scalars(select(Unit).order_by(Unit.code)).all()


def ensure_unit(session: Session, *, code: str, name: str) -> Unit:
    """Create the unit if it does not exist yet; an existing unit is left as it is."""
    unit = session.get(Unit, code)
    if unit is None:
        unit = Unit(code=code, name=name)
        session.add(unit)
        session.flush()
    return unit


# --- API keys ----------------------------------------------------------------------------------
def hash_key(plaintext: str) -> str:
    # Keys are 256-bit random tokens, so a plain SHA-256 is enough (no password stretching).
    return hashlib.sha256(plaintext.encode()).hexdigest()


def new_key_plaintext() -> str:
    return "fdxp_" + secrets.token_urlsafe(32)


def create_api_key(
    session: Session,
    *,
    unit_code: str,
    role: str,
    label: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the plaintext, which is never stored."""
    plaintext = new_key_plaintext()
    key = ApiKey(
        id="key_" + secrets.token_hex(8),
        unit_code=unit_code,
        role=role,
        key_hash=hash_key(plaintext),
        label=label,
        expires_at=expires_at,
    )
    session.add(key)
    session.flush()
    return key, plaintext


def put_api_key(
    session: Session, *, key_id: str, unit_code: str, role: str, plaintext: str, label: str
) -> ApiKey:
    """Create or replace a key with a known id (the bootstrap admin key)."""
    key = session.get(ApiKey, key_id)
    if key is None:
        key = ApiKey(id=key_id, unit_code=unit_code, role=role, key_hash="", label=label)
        session.add(key)
    key.key_hash = hash_key(plaintext)
    key.role = role
    key.unit_code = unit_code
    key.revoked_at = None
    session.flush()
    return key


def get_api_key(session: Session, *, key_id: str) -> ApiKey | None:
    return session.get(ApiKey, key_id)


def find_active_key(
    session: Session, *, plaintext: str, now: datetime | None = None
) -> ApiKey | None:
    """The key with this plaintext, unless it is revoked or expired."""
    now = now or datetime.now(UTC)
    return session.scalars(
        select(ApiKey).where(
            ApiKey.key_hash == hash_key(plaintext),
            ApiKey.revoked_at.is_(None),
            or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
        )
    ).first()


# --- datasets, schemas, quality suites ---------------------------------------------------------
def get_dataset(session: Session, *, dataset_id: str) -> Dataset | None:
    return session.get(Dataset, dataset_id)


def list_datasets(session: Session) -> Sequence[Dataset]:
    return session.scalars(select(Dataset).order_by(Dataset.id)).all()


def schema_fingerprint(schema: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()


def register_dataset(
    session: Session,
    *,
    dataset_id: str,
    title: str,
    description: str,
    owner: str,
    domain: str,
    classification: str,
    key_field: str,
    compatibility: str,
    schema: dict[str, Any],
    expectations: list[dict[str, Any]],
    tags: list[str],
    sla: dict[str, Any],
    ndxp: bool,
    status: str = "active",
) -> Dataset:
    """Register a dataset with schema version 1 and quality suite version 1."""
    dataset = Dataset(
        id=dataset_id,
        title=title,
        description=description,
        owner=owner,
        domain=domain,
        classification=classification,
        key_field=key_field,
        compatibility=compatibility,
        status=status,
        tags=tags,
        sla=sla,
        ndxp=ndxp,
        last_seq=0,
    )
    session.add(dataset)
    session.flush()
    session.add(
        SchemaVersion(
            dataset_id=dataset_id,
            version=1,
            schema_json=json.dumps(schema, separators=(",", ":")),
            fingerprint=schema_fingerprint(schema),
        )
    )
    session.add(QualitySuite(dataset_id=dataset_id, version=1, expectations=expectations))
    session.flush()
    return dataset


def latest_schema(session: Session, *, dataset_id: str) -> SchemaVersion | None:
    return session.scalars(
        select(SchemaVersion)
        .where(SchemaVersion.dataset_id == dataset_id)
        .order_by(SchemaVersion.version.desc())
        .limit(1)
    ).first()


def get_schema_version(session: Session, *, dataset_id: str, version: int) -> SchemaVersion | None:
    return session.scalars(
        select(SchemaVersion).where(
            SchemaVersion.dataset_id == dataset_id, SchemaVersion.version == version
        )
    ).first()


def get_schema(session: Session, *, schema_id: int) -> SchemaVersion | None:
    return session.get(SchemaVersion, schema_id)


def latest_quality_suite(session: Session, *, dataset_id: str) -> QualitySuite | None:
    return session.scalars(
        select(QualitySuite)
        .where(QualitySuite.dataset_id == dataset_id)
        .order_by(QualitySuite.version.desc())
        .limit(1)
    ).first()


# --- ingest ------------------------------------------------------------------------------------
def get_batch(session: Session, *, batch_id: str) -> Batch | None:
    return session.get(Batch, batch_id)


def find_batch_by_idempotency_key(
    session: Session, *, unit_code: str, dataset_id: str, idempotency_key: str
) -> Batch | None:
    return session.scalars(
        select(Batch).where(
            Batch.unit_code == unit_code,
            Batch.dataset_id == dataset_id,
            Batch.idempotency_key == idempotency_key,
        )
    ).first()


def reserve_seqs(session: Session, *, dataset_id: str, count: int) -> int:
    """Reserve `count` sequence numbers; returns the first.

    The UPDATE takes the dataset row's write lock until commit, so batches of one dataset get
    their sequence numbers in commit order: a reader paging by `after=<seq>` never sees a gap
    that fills in later.
    """
    last = session.execute(
        update(Dataset)
        .where(Dataset.id == dataset_id)
        .values(last_seq=Dataset.last_seq + count)
        .returning(Dataset.last_seq)
    ).scalar_one()
    return int(last) - count + 1


def insert_rows(session: Session, model: type, rows: list[dict[str, Any]]) -> None:
    """Bulk insert (executemany) without loading ORM objects."""
    if rows:
        session.execute(insert(model), rows)


def page_records(
    session: Session,
    *,
    dataset_id: str,
    after: int,
    limit: int,
    key: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    latest_only: bool = False,
) -> Sequence[Record]:
    """Accepted records by sequence; `latest_only` keeps each key's newest version only."""
    statement = select(Record).where(Record.dataset_id == dataset_id, Record.seq > after)
    if key is not None:
        statement = statement.where(Record.record_key == key)
    if since is not None:
        statement = statement.where(Record.created_at >= since)
    if until is not None:
        statement = statement.where(Record.created_at < until)
    if latest_only:
        newer = aliased(Record)
        statement = statement.where(
            ~select(newer.id)
            .where(
                newer.dataset_id == Record.dataset_id,
                newer.record_key == Record.record_key,
                newer.seq > Record.seq,
            )
            .exists()
        )
    return session.scalars(statement.order_by(Record.seq).limit(limit)).all()


def page_quarantine(
    session: Session, *, dataset_id: str, after: int, limit: int
) -> Sequence[QuarantinedRow]:
    return session.scalars(
        select(QuarantinedRow)
        .where(QuarantinedRow.dataset_id == dataset_id, QuarantinedRow.id > after)
        .order_by(QuarantinedRow.id)
        .limit(limit)
    ).all()


def count_records(session: Session, *, dataset_id: str) -> int:
    return int(session.scalar(select(func.count()).where(Record.dataset_id == dataset_id)) or 0)


# --- outbox ------------------------------------------------------------------------------------
def claim_outbox(session: Session, *, limit: int) -> Sequence[Any]:
    """Claim up to `limit` unsent entries, oldest first, as plain rows (no ORM objects: the
    relay reads thousands per pass).

    On PostgreSQL the rows stay locked (FOR UPDATE SKIP LOCKED) until the caller's transaction
    ends, so several relays share the outbox without sending a row twice at the same time.
    SQLite has no row locks and ignores the clause: run one relay per SQLite file.
    """
    return session.execute(
        select(
            OutboxEntry.id,
            OutboxEntry.kind,
            OutboxEntry.dataset_id,
            OutboxEntry.seq,
            OutboxEntry.batch_id,
            OutboxEntry.row_index,
        )
        .where(OutboxEntry.sent_at.is_(None))
        .order_by(OutboxEntry.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=OutboxEntry)
    ).all()


def records_by_seq(session: Session, *, dataset_id: str, seqs: Iterable[int]) -> dict[int, Any]:
    """What the relay needs of each record, as plain rows keyed by sequence number."""
    rows = session.execute(
        select(
            Record.seq,
            Record.record_id,
            Record.record_key,
            Record.batch_id,
            Record.schema_id,
            Record.payload,
            Record.created_at,
        ).where(Record.dataset_id == dataset_id, Record.seq.in_(list(seqs)))
    ).all()
    return {row.seq: row for row in rows}


def quarantined_rows(
    session: Session, *, keys: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], QuarantinedRow]:
    wanted = list(keys)
    batch_ids = {batch_id for batch_id, _ in wanted}
    rows = session.scalars(
        select(QuarantinedRow).where(QuarantinedRow.batch_id.in_(batch_ids))
    ).all()
    wanted_set = set(wanted)
    return {
        (row.batch_id, row.row_index): row
        for row in rows
        if (row.batch_id, row.row_index) in wanted_set
    }


def mark_outbox_sent(session: Session, *, ids: Sequence[int], at: datetime) -> None:
    if ids:
        # No ORM session synchronisation: nothing in the session holds these rows.
        session.execute(
            update(OutboxEntry).where(OutboxEntry.id.in_(list(ids))).values(sent_at=at),
            execution_options={"synchronize_session": False},
        )


def count_outbox_attempt(session: Session, *, ids: Sequence[int]) -> None:
    if ids:
        session.execute(
            update(OutboxEntry)
            .where(OutboxEntry.id.in_(list(ids)))
            .values(attempts=OutboxEntry.attempts + 1)
        )


def count_unsent(session: Session) -> int:
    return int(session.scalar(select(func.count()).where(OutboxEntry.sent_at.is_(None))) or 0)


# --- connectors --------------------------------------------------------------------------------
def record_heartbeat(
    session: Session,
    *,
    name: str,
    unit_code: str,
    dataset_id: str | None,
    cursor: Any,
    lag: int | None,
    last_error: str | None,
    records_sent: int | None,
    at: datetime,
) -> ConnectorStatus:
    row = session.get(ConnectorStatus, name)
    if row is None:
        row = ConnectorStatus(name=name, unit_code=unit_code, first_seen_at=at, last_seen_at=at)
        session.add(row)
    row.dataset_id = dataset_id
    row.cursor = cursor
    row.lag = lag
    row.last_error = last_error
    row.records_sent = records_sent
    row.last_seen_at = at
    session.flush()
    return row


def list_connector_status(session: Session) -> Sequence[ConnectorStatus]:
    return session.scalars(select(ConnectorStatus).order_by(ConnectorStatus.name)).all()
