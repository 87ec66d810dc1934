"""Request and response bodies of the REST API (role-suffixed: Create / Public)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    type: str
    message: str
    detail: str = Field(description="the request id: quote it when asking about this error")
    errors: list[dict[str, Any]] | None = None


class RowErrorPublic(BaseModel):
    index: int
    key: str | None
    field: str | None
    rule: str
    message: str


class RuleResultPublic(BaseModel):
    rule: str
    column: str | None
    passed: int
    failed: int


class RecordsCreate(BaseModel):
    records: list[dict[str, Any]] = Field(
        description="canonical records of the dataset's schema (decimals as strings, dates ISO)"
    )


class PublishAnswer(BaseModel):
    batch_id: str
    dataset_id: str
    schema_id: int
    schema_version: int
    accepted: int
    rejected: int
    first_seq: int | None
    last_seq: int | None
    errors: list[RowErrorPublic]
    quality: list[RuleResultPublic]
    replayed: bool = False


class RecordPublic(BaseModel):
    seq: int
    id: str
    key: str
    batch_id: str
    schema_id: int
    created_at: datetime
    data: dict[str, Any]


class RecordsPage(BaseModel):
    dataset_id: str
    items: list[RecordPublic]
    next_after: int = Field(description="pass as `after` to read the next page")


class QuarantinedPublic(BaseModel):
    id: int
    batch_id: str
    row_index: int
    key: str | None
    raw: Any
    errors: list[RowErrorPublic]
    created_at: datetime


class QuarantinePage(BaseModel):
    dataset_id: str
    items: list[QuarantinedPublic]
    next_after: int


class DatasetSummary(BaseModel):
    id: str
    title: str
    description: str
    owner: str
    domain: str
    classification: str
    key: str
    compatibility: str
    status: str
    tags: list[str]
    sla: dict[str, Any]
    ndxp: bool
    schema_id: int | None
    schema_version: int | None
    topic: str
    dead_letter_topic: str
    records: int = Field(description="accepted records so far (the last sequence number)")
    updated_at: datetime


class DatasetPublic(DatasetSummary):
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    quality: list[dict[str, Any]]
    quality_version: int | None

    model_config = {"populate_by_name": True}


class SearchResults(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[DatasetSummary]


class BatchPublic(BaseModel):
    id: str
    dataset_id: str
    unit: str
    idempotency_key: str | None
    schema_id: int
    received: int
    accepted: int
    rejected: int
    first_seq: int | None
    last_seq: int | None
    created_at: datetime
    answer: dict[str, Any]
    traceparent: str | None = None  # the W3C trace the batch was sent in


class KeyCreate(BaseModel):
    unit: str = Field(min_length=1, max_length=32)
    role: Literal["admin", "publisher", "consumer"]
    label: str | None = Field(default=None, max_length=200)
    expires_at: datetime | None = Field(default=None, description="the key stops working then")


class KeyPublic(BaseModel):
    id: str
    unit: str
    role: str
    label: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    rotated_from: str | None
    status: Literal["active", "revoked", "expired"]


class KeyCreated(KeyPublic):
    key: str = Field(description="shown once; only its hash is stored")


class UnitPublic(BaseModel):
    code: str
    name: str
