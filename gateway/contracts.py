"""Dataset contracts as the hot path needs them: compiled codec + quality suite, cached."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from catalog import repository
from schemas.codec import AvroCodec, codec_for
from schemas.reference import ReferenceRule, split_rules
from schemas.results import RowError, RuleResult

if TYPE_CHECKING:
    from schemas.quality import QualityEngine


@dataclass(frozen=True, slots=True)
class Contract:
    """What one ingest batch is checked against: the latest schema and quality suite."""

    dataset_id: str
    owner: str
    status: str
    key_field: str
    schema_id: int
    schema_version: int
    codec: AvroCodec
    suite_id: str
    suite_version: int
    expectations: list[dict[str, Any]]  # the Great Expectations rules of the suite
    reference_rules: tuple[ReferenceRule, ...] = ()  # checked by gateway/references.py


class UnknownSchemaVersion(LookupError):
    """A publisher pinned a schema version the dataset does not have."""


def load_contract(
    session: Session, *, dataset_id: str, schema_version: int | None = None
) -> Contract | None:
    """The dataset's contract (latest schema, or the pinned version), None if no dataset."""
    dataset = repository.get_dataset(session, dataset_id=dataset_id)
    if dataset is None:
        return None
    if schema_version is None:
        schema = repository.latest_schema(session, dataset_id=dataset_id)
    else:
        schema = repository.get_schema_version(
            session, dataset_id=dataset_id, version=schema_version
        )
        if schema is None:
            raise UnknownSchemaVersion(f"{dataset_id} has no schema version {schema_version}")
    suite = repository.latest_quality_suite(session, dataset_id=dataset_id)
    if schema is None:
        return None
    expectations, reference_rules = split_rules(list(suite.expectations) if suite else [])
    return Contract(
        dataset_id=dataset.id,
        owner=dataset.owner,
        status=dataset.status,
        key_field=dataset.key_field,
        schema_id=schema.id,
        schema_version=schema.version,
        codec=codec_for(schema.schema_json),  # compiled once per schema text
        suite_id=f"{dataset.id}.v{suite.version}" if suite else f"{dataset.id}.none",
        suite_version=suite.version if suite else 0,
        expectations=expectations,
        reference_rules=tuple(reference_rules),
    )


def codec_for_schema_id(session: Session, *, schema_id: int) -> AvroCodec:
    schema = repository.get_schema(session, schema_id=schema_id)
    if schema is None:
        raise LookupError(f"schema id {schema_id} is not registered")
    return codec_for(schema.schema_json)


class QualityChecker(Protocol):
    """Runs a contract's quality suite on a batch: in process (QualityGate) or in worker
    processes (gateway/quality_pool.py)."""

    def check(
        self, contract: Contract, rows: list[tuple[int, dict[str, Any]]]
    ) -> tuple[list[RowError], list[RuleResult]]: ...


class QualityGate:
    """The process's one Great Expectations engine, serialised: GX contexts are not
    thread-safe, and the work is CPU-bound under the GIL anyway."""

    def __init__(self, engine: QualityEngine) -> None:
        self._engine = engine
        self._lock = threading.Lock()

    def check(
        self, contract: Contract, rows: list[tuple[int, dict[str, Any]]]
    ) -> tuple[list[RowError], list[RuleResult]]:
        if not rows or not contract.expectations:
            return [], []
        with self._lock:
            return self._engine.check(
                contract.suite_id, contract.expectations, contract.key_field, rows
            )
