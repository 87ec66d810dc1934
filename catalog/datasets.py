"""Datasets as admins manage them: registration from a descriptor, lifecycle, metadata,
quality suites, search and the descriptor document. Functions flush; the caller commits, so a
refused registration leaves nothing behind."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from catalog import repository
from catalog.errors import (
    AlreadyExistsError,
    InvalidError,
    NotFoundError,
    TransitionError,
)
from catalog.models import Dataset, QualitySuite, SchemaVersion
from schemas.descriptor import DatasetDescriptor

# Which status may follow which. Retired is final: a retired id is never reused.
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"active", "retired"}),
    "active": frozenset({"deprecated"}),
    "deprecated": frozenset({"active", "retired"}),
    "retired": frozenset(),
}
STATUSES = tuple(TRANSITIONS)


def _located(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(part) for part in error["loc"]) or None,
            "rule": error["type"],
            "message": error["msg"].removeprefix("Value error, "),
        }
        for error in exc.errors()
    ]


def parse_descriptor(document: Any) -> DatasetDescriptor:
    """Validate a descriptor document (already parsed from JSON or YAML)."""
    if not isinstance(document, dict):
        raise InvalidError(
            "a descriptor must be an object",
            errors=[{"field": None, "rule": "type", "message": "expected a mapping"}],
        )
    try:
        return DatasetDescriptor.model_validate(document)
    except ValidationError as exc:
        raise InvalidError("the descriptor is not valid", errors=_located(exc)) from None


def field_names(schema: dict[str, Any]) -> list[str]:
    return [str(f["name"]) for f in schema.get("fields", [])]


def search_text(
    *, dataset_id: str, title: str, description: str, tags: Sequence[str], fields: Sequence[str]
) -> str:
    return " ".join([dataset_id, title, description, *tags, *fields]).lower()


def tags_text(tags: Sequence[str]) -> str:
    return "|" + "|".join(t.lower() for t in tags) + "|" if tags else ""


def rule_problems(expectations: list[dict[str, Any]], fields: list[str] | None) -> list[Any]:
    """Problems of quality rules (unknown types, kwargs or columns), by rule index."""
    # Imported here: Great Expectations costs ~175 MB and seconds to import, and the gateway
    # process only needs it when an admin changes rules (the suites run in a worker).
    from schemas.quality import expectation_problems

    return expectation_problems(expectations, fields)


def register_dataset(
    session: Session,
    *,
    descriptor: DatasetDescriptor,
    status: str = "draft",
    check_rules: bool = True,
) -> Dataset:
    """Register a dataset from a validated descriptor; every check runs before any write.
    `check_rules=False` trusts the quality rules (the seed descriptors, tested in CI)."""
    problems: list[dict[str, Any]] = []
    if repository.get_unit(session, code=descriptor.owner) is None:
        problems.append(
            {"field": "owner", "rule": "exists", "message": f"unknown unit {descriptor.owner!r}"}
        )
    fields = field_names(descriptor.avro_schema)
    checked = rule_problems(descriptor.quality_configs, fields) if check_rules else []
    for index, message in checked:
        problems.append({"field": f"quality.{index}", "rule": "expectation", "message": message})
    if problems:
        raise InvalidError("the descriptor is not valid", errors=problems)
    if repository.get_dataset(session, dataset_id=descriptor.id) is not None:
        raise AlreadyExistsError(f"dataset {descriptor.id} is already registered")
    if status not in TRANSITIONS:
        raise InvalidError(f"unknown status {status!r}")
    dataset = repository.register_dataset(
        session,
        dataset_id=descriptor.id,
        title=descriptor.title,
        description=descriptor.description,
        owner=descriptor.owner,
        domain=descriptor.domain,
        classification=descriptor.classification,
        key_field=descriptor.key,
        compatibility=str(descriptor.compatibility),
        schema=descriptor.avro_schema,
        expectations=descriptor.quality_configs,
        tags=list(descriptor.tags),
        sla=dict(descriptor.sla or {}),
        ndxp=descriptor.ndxp,
        status=status,
    )
    refresh_search(dataset, fields=fields)
    session.flush()
    return dataset


def refresh_search(dataset: Dataset, *, fields: Sequence[str]) -> None:
    dataset.search_text = search_text(
        dataset_id=dataset.id,
        title=dataset.title,
        description=dataset.description,
        tags=dataset.tags,
        fields=fields,
    )
    dataset.tags_text = tags_text(dataset.tags)


def require_dataset(session: Session, dataset_id: str) -> Dataset:
    dataset = repository.get_dataset(session, dataset_id=dataset_id)
    if dataset is None:
        raise NotFoundError(f"dataset {dataset_id!r} does not exist")
    return dataset


def change_status(session: Session, *, dataset_id: str, status: str) -> Dataset:
    dataset = require_dataset(session, dataset_id)
    if status not in TRANSITIONS:
        raise InvalidError(
            f"unknown status {status!r}",
            errors=[{"field": "status", "rule": "enum", "message": f"one of {list(STATUSES)}"}],
        )
    if status != dataset.status and status not in TRANSITIONS[dataset.status]:
        allowed = sorted(TRANSITIONS[dataset.status]) or ["none: retired is final"]
        raise TransitionError(
            f"{dataset_id} is {dataset.status}; it can become: {', '.join(allowed)}"
        )
    dataset.status = status
    session.flush()
    return dataset


def update_metadata(session: Session, *, dataset_id: str, changes: dict[str, Any]) -> Dataset:
    """Change descriptive fields (title, description, tags, sla, classification, ndxp)."""
    dataset = require_dataset(session, dataset_id)
    for name, value in changes.items():
        setattr(dataset, name, value)
    schema = repository.latest_schema(session, dataset_id=dataset_id)
    refresh_search(dataset, fields=field_names(json.loads(schema.schema_json)) if schema else [])
    session.flush()
    return dataset


def put_quality_suite(
    session: Session, *, dataset_id: str, expectations: list[dict[str, Any]]
) -> QualitySuite:
    """A new version of the dataset's quality suite (the same rules again: no new version)."""
    require_dataset(session, dataset_id)
    schema = repository.latest_schema(session, dataset_id=dataset_id)
    fields = field_names(json.loads(schema.schema_json)) if schema else None
    problems = [
        {"field": f"expectations.{index}", "rule": "expectation", "message": message}
        for index, message in rule_problems(expectations, fields)
    ]
    if problems:
        raise InvalidError("the quality suite is not valid", errors=problems)
    current = repository.latest_quality_suite(session, dataset_id=dataset_id)
    if current is not None and current.expectations == expectations:
        return current
    suite = QualitySuite(
        dataset_id=dataset_id,
        version=(current.version if current else 0) + 1,
        expectations=expectations,
    )
    session.add(suite)
    session.flush()
    return suite


@dataclass(frozen=True, slots=True)
class SearchPage:
    total: int
    datasets: list[Dataset]
    schemas: dict[str, SchemaVersion]
    suites: dict[str, QualitySuite]


def search_datasets(
    session: Session,
    *,
    q: str | None = None,
    owner: str | None = None,
    domain: str | None = None,
    tag: str | None = None,
    status: str | None = None,
    classification: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> SearchPage:
    """One count, one page, and one query each for the page's latest schemas and suites."""
    conditions: list[ColumnElement[bool]] = []
    if q:
        for word in q.lower().split():
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append(Dataset.search_text.like(f"%{escaped}%", escape="\\"))
    if owner:
        conditions.append(Dataset.owner == owner)
    if domain:
        conditions.append(Dataset.domain == domain)
    if tag:
        escaped = tag.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(Dataset.tags_text.like(f"%|{escaped}|%", escape="\\"))
    if status:
        conditions.append(Dataset.status == status)
    if classification:
        conditions.append(Dataset.classification == classification)
    total = int(session.scalar(select(func.count()).select_from(Dataset).where(*conditions)) or 0)
    datasets = list(
        session.scalars(
            select(Dataset).where(*conditions).order_by(Dataset.id).limit(limit).offset(offset)
        ).all()
    )
    ids = [d.id for d in datasets]
    return SearchPage(
        total=total,
        datasets=datasets,
        schemas=latest_by_dataset(session, SchemaVersion, ids),
        suites=latest_by_dataset(session, QualitySuite, ids),
    )


def latest_by_dataset(session: Session, model: Any, dataset_ids: list[str]) -> dict[str, Any]:
    """The highest version of `model` (SchemaVersion or QualitySuite) per dataset, in one query."""
    if not dataset_ids:
        return {}
    newest = (
        select(model.dataset_id, func.max(model.version).label("version"))
        .where(model.dataset_id.in_(dataset_ids))
        .group_by(model.dataset_id)
        .subquery()
    )
    rows = session.scalars(
        select(model).join(
            newest,
            (model.dataset_id == newest.c.dataset_id) & (model.version == newest.c.version),
        )
    ).all()
    return {row.dataset_id: row for row in rows}


def descriptor_document(session: Session, *, dataset_id: str) -> dict[str, Any]:
    """The dataset's current descriptor: what an admin would register to recreate it."""
    dataset = require_dataset(session, dataset_id)
    schema = repository.latest_schema(session, dataset_id=dataset_id)
    suite = repository.latest_quality_suite(session, dataset_id=dataset_id)
    return {
        "id": dataset.id,
        "title": dataset.title,
        "description": dataset.description,
        "owner": dataset.owner,
        "domain": dataset.domain,
        "classification": dataset.classification,
        "key": dataset.key_field,
        "compatibility": dataset.compatibility,
        "tags": list(dataset.tags),
        "sla": dict(dataset.sla),
        "ndxp": dataset.ndxp,
        "quality": list(suite.expectations) if suite else [],
        "schema": json.loads(schema.schema_json) if schema else None,
    }


__all__ = [
    "STATUSES",
    "TRANSITIONS",
    "SearchPage",
    "change_status",
    "descriptor_document",
    "parse_descriptor",
    "put_quality_suite",
    "register_dataset",
    "search_datasets",
    "update_metadata",
]
