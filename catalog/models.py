"""The catalog's tables (SQLAlchemy 2 declarative). Tables only: queries live in repository.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only autoincrements INTEGER PRIMARY KEY; BigInteger elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


def _now() -> Any:
    return func.now()


class Unit(Base):
    """A ministry unit (TCT, KBNN, TCHQ, THTK): owns datasets and keys."""

    __tablename__ = "units"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class ApiKey(Base):
    """A bearer key of one unit with one role; only the key's SHA-256 is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    role: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The key this one replaced by rotation, so an admin can follow a key's history.
    rotated_from: Mapped[str | None] = mapped_column(String(40))


class Dataset(Base):
    """A registered dataset; `last_seq` hands out the per-dataset record sequence."""

    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(ForeignKey("units.code"))
    domain: Mapped[str] = mapped_column(String(60))
    classification: Mapped[str] = mapped_column(String(20))
    key_field: Mapped[str] = mapped_column(String(120))
    compatibility: Mapped[str] = mapped_column(String(24), default="BACKWARD")
    status: Mapped[str] = mapped_column(String(16), default="active")
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    sla: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ndxp: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # Derived, kept for one-query search: lower-cased id, title, description, tags and field
    # names; and the tags as "|a|b|" so a tag filter is an exact LIKE on both databases.
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    tags_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_now(), onupdate=_now()
    )


class SchemaVersion(Base):
    """One Avro schema version of a dataset; `id` is the global (registry) schema id."""

    __tablename__ = "schema_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"))
    version: Mapped[int] = mapped_column(Integer)
    schema_json: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class QualitySuite(Base):
    """A dataset's quality rules (Great Expectations configs), versioned with the dataset."""

    __tablename__ = "quality_suites"
    __table_args__ = (UniqueConstraint("dataset_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"))
    version: Mapped[int] = mapped_column(Integer)
    expectations: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class Batch(Base):
    """One ingest request; `response` is the first answer, replayed for a repeated key."""

    __tablename__ = "batches"
    __table_args__ = (UniqueConstraint("unit_code", "dataset_id", "idempotency_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    key_id: Mapped[str] = mapped_column(String(40))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    schema_id: Mapped[int] = mapped_column(ForeignKey("schema_versions.id"))
    received: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    first_seq: Mapped[int | None] = mapped_column(BigInteger)
    last_seq: Mapped[int | None] = mapped_column(BigInteger)
    traceparent: Mapped[str] = mapped_column(String(64))
    # The connector that sent the batch (X-FDXP-Connector header), for lineage.
    source: Mapped[str | None] = mapped_column(String(120))
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class Record(Base):
    """An accepted record, stored as schemaless Avro bytes of schema `schema_id`."""

    __tablename__ = "records"
    __table_args__ = (
        UniqueConstraint("dataset_id", "seq"),
        Index("ix_records_dataset_key", "dataset_id", "record_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(String(120))
    seq: Mapped[int] = mapped_column(BigInteger)
    record_id: Mapped[str] = mapped_column(String(36), unique=True)
    record_key: Mapped[str] = mapped_column(String(200))
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"))
    schema_id: Mapped[int] = mapped_column(Integer)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class QuarantinedRow(Base):
    """A rejected row, kept as received, with every reason it failed."""

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("batch_id", "row_index"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(String(120), index=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"))
    row_index: Mapped[int] = mapped_column(Integer)
    record_key: Mapped[str | None] = mapped_column(String(200))
    raw: Mapped[Any] = mapped_column(JSON)
    errors: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutboxEntry(Base):
    """A message still owed to the broker: an accepted record or a dead letter."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_unsent",
            "id",
            postgresql_where=text("sent_at IS NULL"),
            sqlite_where=text("sent_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(12))  # "record" | "dead_letter"
    dataset_id: Mapped[str] = mapped_column(String(120))
    seq: Mapped[int | None] = mapped_column(BigInteger)
    batch_id: Mapped[str | None] = mapped_column(String(36))
    row_index: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RegistryConfig(Base):
    """Schema-registry compatibility settings that are not a dataset's own (the global one)."""

    __tablename__ = "registry_config"

    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    compatibility: Mapped[str] = mapped_column(String(24))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_now(), onupdate=_now()
    )


class QualityRun(Base):
    """One quality rule's result on one ingest batch: a dataset's quality over time."""

    __tablename__ = "quality_runs"
    __table_args__ = (Index("ix_quality_runs_dataset_time", "dataset_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(String(120))
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"))
    suite_version: Mapped[int] = mapped_column(Integer)
    rule: Mapped[str] = mapped_column(String(120))
    column: Mapped[str | None] = mapped_column(String(300))
    passed: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConnectorStatus(Base):
    """The latest heartbeat of one connector, as the connector reported it."""

    __tablename__ = "connector_status"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    dataset_id: Mapped[str | None] = mapped_column(String(120))
    cursor: Mapped[Any] = mapped_column(JSON, nullable=True)
    lag: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    records_sent: Mapped[int | None] = mapped_column(BigInteger)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Subscription(Base):
    """A consumer unit's request for a dataset, and once approved its grant."""

    __tablename__ = "subscriptions"
    __table_args__ = (Index("ix_subscriptions_unit_dataset", "unit_code", "dataset_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    requested_by: Mapped[str] = mapped_column(String(40))
    purpose: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(8))  # "rest" | "kafka"
    fields: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(12))  # pending approved rejected revoked
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(40))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """One audited call. `hash` chains every entry to the one before it: sha256 of the previous
    hash and this entry's canonical content, so changing or deleting a row breaks the chain."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_dataset", "dataset_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    key_id: Mapped[str | None] = mapped_column(String(40))
    unit_code: Mapped[str | None] = mapped_column(String(32))
    role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(200))
    dataset_id: Mapped[str | None] = mapped_column(String(120))
    record_count: Mapped[int | None] = mapped_column(Integer)
    status_code: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(12))  # ok | denied | error
    request_id: Mapped[str] = mapped_column(String(64))
    client: Mapped[str | None] = mapped_column(String(100))
    # The W3C trace the call belonged to (the connector's, or NDXP's); hashed when set.
    traceparent: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's head (one row): updating it serialises appends across processes."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class NdxpRight(Base):
    """An NDXP member's right to read a shared dataset through NDXP (optionally some fields)."""

    __tablename__ = "ndxp_rights"
    __table_args__ = (UniqueConstraint("client", "dataset_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client: Mapped[str] = mapped_column(String(200))  # member id, VN/GOV/<member>/<subsystem>
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"))
    fields: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    granted_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class NdxpMessage(Base):
    """One NDXP exchange, inbound or outbound, hash-chained like the audit log.

    `accepted` is true for an outbound call and for an inbound call whose proof was valid and
    whose message id was new: only those take part in the unique (direction, message_id) index,
    which is what refuses a replayed proof; refused attempts are logged too, as evidence."""

    __tablename__ = "ndxp_messages"
    __table_args__ = (
        Index(
            "ux_ndxp_messages_direction_message",
            "direction",
            "message_id",
            unique=True,
            postgresql_where=text("accepted"),
            sqlite_where=text("accepted"),
        ),
        Index("ix_ndxp_messages_message", "message_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    direction: Mapped[str] = mapped_column(String(3))  # "in" | "out"
    message_id: Mapped[str] = mapped_column(String(200))
    accepted: Mapped[bool] = mapped_column(Boolean)
    client: Mapped[str] = mapped_column(String(200))
    service: Mapped[str] = mapped_column(String(300))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(1000))
    user_id: Mapped[str | None] = mapped_column(String(500))
    issue: Mapped[str | None] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_hash: Mapped[str | None] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)  # None: no answer (unreachable)
    error_type: Mapped[str | None] = mapped_column(String(60))
    duration_us: Mapped[int] = mapped_column(BigInteger)
    traceparent: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class NdxpMessageHead(Base):
    """The message log's chain head (one row)."""

    __tablename__ = "ndxp_message_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class EnterpriseCache(Base):
    """What the national enterprise registry said about a tax code, until `expires_at`."""

    __tablename__ = "ndxp_enterprise_cache"

    tax_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # active | closed | suspended | unknown
    name: Mapped[str | None] = mapped_column(String(300))
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReferenceRecheck(Base):
    """An accepted record whose reference check was deferred (NDXP unreachable), and later
    its outcome: pending -> passed | failed."""

    __tablename__ = "reference_rechecks"
    __table_args__ = (
        Index("ix_reference_rechecks_status", "status", "id"),
        Index("ix_reference_rechecks_dataset", "dataset_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(String(120))
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    record_key: Mapped[str] = mapped_column(String(200))
    rule: Mapped[str] = mapped_column(String(120))
    column: Mapped[str] = mapped_column(String(120))
    value: Mapped[str] = mapped_column(String(200))
    traceparent: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(8), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
