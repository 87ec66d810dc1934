"""Schema versions and compatibility settings: the queries behind schema evolution and the
Schema-Registry-compatible API. Keyword-only after the session; functions flush, callers commit.

A registry *subject* names a dataset's value schema, ``fdxp.<dataset id>-value``; a schema's
registry id is its ``SchemaVersion.id``, global across datasets. The global compatibility
setting is the ``RegistryConfig`` row of subject ``__global__``; a subject's own setting is its
dataset's ``compatibility``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from catalog.errors import NotFoundError
from catalog.models import Dataset, RegistryConfig, SchemaVersion, Subscription
from schemas.compatibility import (
    CompatibilityResult,
    canonical_form,
    check_compatibility,
    fingerprint,
    normalize_mode,
)

SUBJECT_PREFIX = "fdxp."
SUBJECT_SUFFIX = "-value"
GLOBAL_SUBJECT = "__global__"
DEFAULT_COMPATIBILITY = "BACKWARD"


# --- subjects ----------------------------------------------------------------------------------
def subject_for(dataset_id: str) -> str:
    """The registry subject of a dataset's value schema."""
    return f"{SUBJECT_PREFIX}{dataset_id}{SUBJECT_SUFFIX}"


def dataset_for(subject: str) -> str | None:
    """The dataset id a subject names, or None if it is not a subject of this hub's shape."""
    if not (subject.startswith(SUBJECT_PREFIX) and subject.endswith(SUBJECT_SUFFIX)):
        return None
    dataset_id = subject[len(SUBJECT_PREFIX) : -len(SUBJECT_SUFFIX)]
    return dataset_id or None


def list_subjects(session: Session) -> list[str]:
    """Subjects of every dataset that has a schema version, sorted."""
    ids = session.scalars(
        select(SchemaVersion.dataset_id).distinct().order_by(SchemaVersion.dataset_id)
    ).all()
    return [subject_for(dataset_id) for dataset_id in ids]


# --- schema versions ---------------------------------------------------------------------------
def list_schema_versions(session: Session, *, dataset_id: str) -> Sequence[SchemaVersion]:
    """A dataset's schema versions, oldest first."""
    return session.scalars(
        select(SchemaVersion)
        .where(SchemaVersion.dataset_id == dataset_id)
        .order_by(SchemaVersion.version)
    ).all()


def get_schema_version(
    session: Session, *, dataset_id: str, version: int | None = None
) -> SchemaVersion | None:
    """Version ``version`` of a dataset's schema; the latest when ``version`` is None."""
    query = select(SchemaVersion).where(SchemaVersion.dataset_id == dataset_id)
    if version is None:
        query = query.order_by(SchemaVersion.version.desc()).limit(1)
    else:
        query = query.where(SchemaVersion.version == version)
    return session.scalars(query).first()


def get_schema_by_id(session: Session, *, schema_id: int) -> SchemaVersion | None:
    """A schema version by its global (registry) id."""
    return session.get(SchemaVersion, schema_id)


def find_schema_version(
    session: Session, *, dataset_id: str, schema: Mapping[str, Any]
) -> SchemaVersion | None:
    """The dataset's version identical to ``schema`` (same canonical form), if any."""
    wanted = canonical_form(schema)
    candidates = session.scalars(
        select(SchemaVersion)
        .where(
            SchemaVersion.dataset_id == dataset_id,
            SchemaVersion.fingerprint == fingerprint(schema),
        )
        .order_by(SchemaVersion.version)
    ).all()
    for candidate in candidates:
        if canonical_form(json.loads(candidate.schema_json)) == wanted:
            return candidate
    return None


@dataclass(frozen=True, slots=True)
class Registration:
    """What registering a schema did.

    ``version`` is the new version (``created``), or the existing identical one; None when the
    schema was refused, and then ``check`` says why and nothing was written.
    """

    dataset_id: str
    mode: str
    version: SchemaVersion | None
    created: bool
    check: CompatibilityResult

    @property
    def ok(self) -> bool:
        return self.version is not None


def register_schema_version(
    session: Session, *, dataset_id: str, schema: Mapping[str, Any]
) -> Registration:
    """Add ``schema`` as the dataset's next version if its compatibility mode allows it.

    An identical schema returns the existing version. The first statement takes the dataset
    row's write lock (a no-op UPDATE), so registrations of one dataset run one after another
    and version numbers never collide; on SQLite the caller's transaction must not have read
    before (commit first), as for ingest. ``schema`` must already be valid
    (``schemas.compatibility.parse_schema``).
    """
    locked = session.execute(
        update(Dataset)
        .where(Dataset.id == dataset_id)
        .values(updated_at=Dataset.updated_at)
        .returning(Dataset.compatibility)
    ).first()
    if locked is None:
        raise NotFoundError(f"dataset {dataset_id!r} does not exist")
    mode = normalize_mode(locked.compatibility)
    existing = find_schema_version(session, dataset_id=dataset_id, schema=schema)
    if existing is not None:
        return Registration(dataset_id, mode, existing, False, CompatibilityResult(mode=mode))
    versions = list_schema_versions(session, dataset_id=dataset_id)
    check = check_compatibility(
        schema,
        [json.loads(v.schema_json) for v in versions],
        mode,
        versions=[v.version for v in versions],
    )
    if not check.compatible:
        return Registration(dataset_id, mode, None, False, check)
    row = SchemaVersion(
        dataset_id=dataset_id,
        version=(versions[-1].version + 1) if versions else 1,
        schema_json=json.dumps(schema, separators=(",", ":")),
        fingerprint=fingerprint(schema),
    )
    session.add(row)
    session.flush()
    return Registration(dataset_id, mode, row, True, check)


def check_against(
    session: Session,
    *,
    dataset_id: str,
    schema: Mapping[str, Any],
    version: int | None = None,
) -> CompatibilityResult:
    """Would ``schema`` be accepted? Against one version (``version``, under the dataset's
    mode but latest-only) or, with ``version`` None, against what the mode selects."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFoundError(f"dataset {dataset_id!r} does not exist")
    versions = list_schema_versions(session, dataset_id=dataset_id)
    if version is not None:
        versions = [v for v in versions if v.version == version]
    return check_compatibility(
        schema,
        [json.loads(v.schema_json) for v in versions],
        dataset.compatibility,
        versions=[v.version for v in versions],
    )


def affected_consumers(session: Session, *, dataset_id: str) -> list[dict[str, Any]]:
    """The subscriptions an incompatible change would break: every approved or pending one."""
    rows = session.scalars(
        select(Subscription)
        .where(
            Subscription.dataset_id == dataset_id,
            Subscription.status.in_(("approved", "pending")),
        )
        .order_by(Subscription.created_at, Subscription.id)
    ).all()
    return [
        {
            "subscription_id": row.id,
            "unit": row.unit_code,
            "channel": row.channel,
            "status": row.status,
            "fields": row.fields,
        }
        for row in rows
    ]


# --- compatibility settings --------------------------------------------------------------------
def get_global_compatibility(session: Session) -> str:
    row = session.get(RegistryConfig, GLOBAL_SUBJECT)
    return row.compatibility if row is not None else DEFAULT_COMPATIBILITY


def set_global_compatibility(session: Session, *, compatibility: str) -> str:
    """Set the global mode; ``ValueError`` for an unknown mode."""
    mode = normalize_mode(compatibility)
    row = session.get(RegistryConfig, GLOBAL_SUBJECT)
    if row is None:
        session.add(RegistryConfig(subject=GLOBAL_SUBJECT, compatibility=mode))
    else:
        row.compatibility = mode
    session.flush()
    return mode


def get_dataset_compatibility(session: Session, *, dataset_id: str) -> str | None:
    """A dataset's own mode, or None if the dataset does not exist."""
    dataset = session.get(Dataset, dataset_id)
    return dataset.compatibility if dataset is not None else None


def set_dataset_compatibility(session: Session, *, dataset_id: str, compatibility: str) -> str:
    """Set a dataset's mode; ``ValueError`` for an unknown mode, ``NotFoundError``."""
    mode = normalize_mode(compatibility)
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFoundError(f"dataset {dataset_id!r} does not exist")
    dataset.compatibility = mode
    session.flush()
    return mode
