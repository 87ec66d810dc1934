"""Schema evolution for the gateway: register a dataset's next schema version under its
compatibility mode. Shared by the registry API (``/registry``) and ``/v1/datasets/{id}/schemas``,
which map the outcome to their own error bodies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from catalog import registry, repository
from catalog.errors import InvalidError, NotFoundError
from gateway.errors import REQUEST_ID_HEADER, request_id
from schemas.codec import AvroCodec
from schemas.compatibility import InvalidSchema, Problem, parse_schema

__all__ = [
    "RegistrationOutcome",
    "conflict_response",
    "register_schema",
    "validate_dataset_schema",
]


@dataclass(frozen=True, slots=True)
class RegistrationOutcome:
    """What became of a proposed schema: registered (new or identical) or refused."""

    dataset_id: str
    mode: str
    schema_id: int | None
    version: int | None
    created: bool
    problems: list[Problem] = field(default_factory=list)
    affected_consumers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.schema_id is not None

    @property
    def message(self) -> str:
        if self.ok:
            return f"schema version {self.version} of {self.dataset_id} (id {self.schema_id})"
        versions = sorted({p.against_version for p in self.problems})
        return (
            f"the schema is not {self.mode} compatible with version(s) "
            f"{', '.join(map(str, versions))} of {self.dataset_id}: {len(self.problems)} problem(s)"
        )


def validate_dataset_schema(
    schema: str | bytes | Mapping[str, Any], *, key_field: str
) -> dict[str, Any]:
    """The schema as a dict if it can be a version of a dataset keyed by ``key_field``;
    ``InvalidSchema`` saying why not."""
    parsed = parse_schema(schema)
    if key_field not in {f.get("name") for f in parsed.get("fields", [])}:
        raise InvalidSchema(f"the dataset's key field {key_field!r} is not in the schema")
    try:
        AvroCodec(parsed)
    except (ValueError, KeyError) as exc:
        raise InvalidSchema(f"the schema cannot be compiled for ingest: {exc}") from None
    return parsed


def register_schema(
    session: Session, *, dataset_id: str, schema: str | bytes | Mapping[str, Any]
) -> RegistrationOutcome:
    """Validate and register ``schema`` as the dataset's next version, and commit.

    Raises the catalog's ``NotFoundError`` (404) and ``InvalidError`` (422, a bad schema); an
    incompatible schema is an outcome with problems (nothing written): answer it with
    :func:`conflict_response`.
    """
    dataset = repository.get_dataset(session, dataset_id=dataset_id)
    if dataset is None:
        raise NotFoundError(f"dataset {dataset_id!r} does not exist")
    try:
        parsed = validate_dataset_schema(schema, key_field=dataset.key_field)
    except InvalidSchema as exc:
        raise InvalidError(
            f"the schema is not valid: {exc}",
            errors=[{"field": "schema", "rule": "avro", "message": str(exc)}],
        ) from None
    # End the read snapshot: the registration's first statement takes the write lock.
    session.commit()
    done = registry.register_schema_version(session, dataset_id=dataset_id, schema=parsed)
    if done.version is None:
        session.rollback()
        return RegistrationOutcome(
            dataset_id=dataset_id,
            mode=done.mode,
            schema_id=None,
            version=None,
            created=False,
            problems=list(done.check.problems),
            affected_consumers=registry.affected_consumers(session, dataset_id=dataset_id),
        )
    outcome = RegistrationOutcome(
        dataset_id=dataset_id,
        mode=done.mode,
        schema_id=done.version.id,
        version=done.version.version,
        created=done.created,
    )
    session.commit()
    return outcome


def conflict_response(request: Request, outcome: RegistrationOutcome) -> Response:
    """The hub's 409 body for a refused schema: the uniform error body, with the reasons in
    ``errors`` and the consumers the change would break in ``affected_consumers``."""
    rid = request_id(request)
    body = {
        "type": "conflict",
        "message": outcome.message,
        "detail": rid,
        "errors": [p.as_dict() for p in outcome.problems],
        "compatibility": outcome.mode,
        "affected_consumers": outcome.affected_consumers,
    }
    return Response(
        orjson.dumps(body),
        status_code=409,
        media_type="application/json",
        headers={REQUEST_ID_HEADER: rid},
    )
