"""The dataset catalog: register from a descriptor, search, describe, lifecycle, metadata,
descriptor export, schema versions and lineage."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import orjson
import yaml
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from catalog import datasets as catalog
from catalog import repository
from catalog.errors import InvalidError
from catalog.models import Batch, ConnectorStatus, Dataset, QualitySuite, SchemaVersion
from gateway.api_models import DatasetPublic, SearchResults
from gateway.deps import Hub, HubDep, PrincipalDep, SessionDep
from gateway.errors import BadRequest, PayloadTooLarge
from gateway.evolution import conflict_response, register_schema
from gateway.policy import Action, authorize
from gateway.responses import ERRORS, json_response

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
MAX_DESCRIPTOR_BYTES = 1024 * 1024
Status = Literal["draft", "active", "deprecated", "retired"]
Classification = Literal["public", "internal", "confidential"]


def summary_of(hub: Hub, dataset: Dataset, schema: SchemaVersion | None) -> dict[str, Any]:
    return {
        "id": dataset.id,
        "title": dataset.title,
        "description": dataset.description,
        "owner": dataset.owner,
        "domain": dataset.domain,
        "classification": dataset.classification,
        "key": dataset.key_field,
        "compatibility": dataset.compatibility,
        "status": dataset.status,
        "tags": list(dataset.tags),
        "sla": dict(dataset.sla),
        "ndxp": dataset.ndxp,
        "schema_id": schema.id if schema else None,
        "schema_version": schema.version if schema else None,
        "topic": hub.settings.topic(dataset.id),
        "dead_letter_topic": hub.settings.dead_letter_topic(dataset.id),
        "records": dataset.last_seq,
        "updated_at": dataset.updated_at,
    }


def describe(session: Session, hub: Hub, dataset: Dataset) -> DatasetPublic:
    schema = repository.latest_schema(session, dataset_id=dataset.id)
    suite = repository.latest_quality_suite(session, dataset_id=dataset.id)
    return DatasetPublic(
        **summary_of(hub, dataset, schema),
        schema=json.loads(schema.schema_json) if schema else None,
        quality=list(suite.expectations) if suite else [],
        quality_version=suite.version if suite else None,
    )


@router.get("", response_model=SearchResults, responses=ERRORS, summary="Search the catalog")
def search(
    session: SessionDep,
    hub: HubDep,
    _: PrincipalDep,
    q: Annotated[
        str | None,
        Query(max_length=200, description="words in id, title, description, tags, field names"),
    ] = None,
    owner: Annotated[str | None, Query(max_length=32)] = None,
    domain: Annotated[str | None, Query(max_length=60)] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    status: Status | None = None,
    classification: Classification | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    page = catalog.search_datasets(
        session,
        q=q,
        owner=owner,
        domain=domain,
        tag=tag,
        status=status,
        classification=classification,
        limit=limit,
        offset=offset,
    )
    return json_response(
        {
            "total": page.total,
            "limit": limit,
            "offset": offset,
            "items": [summary_of(hub, d, page.schemas.get(d.id)) for d in page.datasets],
        }
    )


async def read_document(request: Request) -> Any:
    """A JSON or YAML request body (by Content-Type), size-limited."""
    body = await request.body()
    if len(body) > MAX_DESCRIPTOR_BYTES:
        raise PayloadTooLarge(f"body of {len(body)} bytes; at most {MAX_DESCRIPTOR_BYTES}")
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    try:
        if content_type in YAML_TYPES:
            return yaml.safe_load(body)
        return orjson.loads(body)
    except (yaml.YAMLError, orjson.JSONDecodeError) as exc:
        kind = "YAML" if content_type in YAML_TYPES else "JSON"
        raise BadRequest(f"the body is not valid {kind}: {exc}") from None


@router.post(
    "",
    response_model=DatasetPublic,
    status_code=201,
    responses=ERRORS,
    summary="Register a dataset from its descriptor (JSON or YAML)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/yaml": {"schema": {"type": "string"}},
            },
        }
    },
)
async def register(
    request: Request,
    session: SessionDep,
    hub: HubDep,
    principal: PrincipalDep,
    status: Annotated[Literal["draft", "active"], Query()] = "draft",
) -> DatasetPublic:
    authorize(principal, Action.MANAGE_CATALOG)
    document = await read_document(request)
    descriptor = catalog.parse_descriptor(document)
    dataset = catalog.register_dataset(session, descriptor=descriptor, status=status)
    session.commit()
    return describe(session, hub, dataset)


@router.get("/{dataset_id}", response_model=DatasetPublic, responses=ERRORS)
def get_dataset(
    dataset_id: str, session: SessionDep, hub: HubDep, _: PrincipalDep
) -> DatasetPublic:
    return describe(session, hub, catalog.require_dataset(session, dataset_id))


class DatasetUpdate(BaseModel):
    model_config = {"extra": "forbid"}

    title: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=10_000)
    classification: Classification | None = None
    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = None
    sla: dict[str, Any] | None = None
    ndxp: bool | None = None


@router.patch("/{dataset_id}", response_model=DatasetPublic, responses=ERRORS)
def update(
    dataset_id: str,
    body: DatasetUpdate,
    session: SessionDep,
    hub: HubDep,
    principal: PrincipalDep,
) -> DatasetPublic:
    authorize(principal, Action.MANAGE_CATALOG)
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidError(
            "nothing to change",
            errors=[{"field": None, "rule": "min_fields", "message": "send at least one field"}],
        )
    dataset = catalog.update_metadata(session, dataset_id=dataset_id, changes=changes)
    session.commit()
    return describe(session, hub, dataset)


class StatusChange(BaseModel):
    status: Status


@router.put(
    "/{dataset_id}/status",
    response_model=DatasetPublic,
    responses=ERRORS,
    summary="Move a dataset through draft -> active -> deprecated -> retired",
)
def set_status(
    dataset_id: str,
    body: StatusChange,
    session: SessionDep,
    hub: HubDep,
    principal: PrincipalDep,
) -> DatasetPublic:
    authorize(principal, Action.MANAGE_CATALOG)
    dataset = catalog.change_status(session, dataset_id=dataset_id, status=body.status)
    session.commit()
    return describe(session, hub, dataset)


@router.get(
    "/{dataset_id}/descriptor",
    responses={**ERRORS, 200: {"content": {"application/yaml": {}, "application/json": {}}}},
    summary="The dataset's descriptor, as YAML (or JSON with Accept: application/json)",
)
def get_descriptor(
    dataset_id: str, request: Request, session: SessionDep, _: PrincipalDep
) -> Response:
    document = catalog.descriptor_document(session, dataset_id=dataset_id)
    if "application/json" in request.headers.get("accept", ""):
        return json_response(document)
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    return Response(text, media_type="application/yaml")


@router.get("/{dataset_id}/schemas", responses=ERRORS, summary="Every schema version")
def list_schemas(dataset_id: str, session: SessionDep, _: PrincipalDep) -> Response:
    catalog.require_dataset(session, dataset_id)
    versions = session.scalars(
        select(SchemaVersion)
        .where(SchemaVersion.dataset_id == dataset_id)
        .order_by(SchemaVersion.version)
    ).all()
    return json_response(
        [
            {
                "id": v.id,
                "version": v.version,
                "fingerprint": v.fingerprint,
                "created_at": v.created_at,
                "schema": json.loads(v.schema_json),
            }
            for v in versions
        ]
    )


@router.get(
    "/{dataset_id}/lineage",
    responses=ERRORS,
    summary="Source unit and connectors -> dataset -> topics -> subscribers, as seen",
)
def lineage(dataset_id: str, session: SessionDep, hub: HubDep, _: PrincipalDep) -> Response:
    dataset = catalog.require_dataset(session, dataset_id)
    sources = session.execute(
        select(
            Batch.unit_code,
            Batch.source,
            func.count(),
            func.sum(Batch.accepted),
            func.sum(Batch.rejected),
            func.min(Batch.created_at),
            func.max(Batch.created_at),
        )
        .where(Batch.dataset_id == dataset_id)
        .group_by(Batch.unit_code, Batch.source)
        .order_by(Batch.unit_code, Batch.source)
    ).all()
    connectors = {
        row.name: row
        for row in session.scalars(
            select(ConnectorStatus).where(ConnectorStatus.dataset_id == dataset_id)
        ).all()
    }
    suite_versions = session.scalar(
        select(func.max(QualitySuite.version)).where(QualitySuite.dataset_id == dataset_id)
    )
    dataset_node = f"dataset:{dataset.id}"
    nodes: list[dict[str, Any]] = [
        {"id": f"unit:{dataset.owner}", "kind": "unit", "role": "owner"},
        {
            "id": dataset_node,
            "kind": "dataset",
            "status": dataset.status,
            "quality_suite_version": suite_versions,
        },
        {"id": f"topic:{hub.settings.topic(dataset.id)}", "kind": "topic"},
        {"id": f"topic:{hub.settings.dead_letter_topic(dataset.id)}", "kind": "dead_letter_topic"},
    ]
    edges: list[dict[str, Any]] = [
        {"from": f"unit:{dataset.owner}", "to": dataset_node, "kind": "owns"},
        {
            "from": dataset_node,
            "to": f"topic:{hub.settings.topic(dataset.id)}",
            "kind": "publishes",
            "records": dataset.last_seq,
        },
        {
            "from": dataset_node,
            "to": f"topic:{hub.settings.dead_letter_topic(dataset.id)}",
            "kind": "dead_letters",
        },
    ]
    seen_units = {dataset.owner}
    for unit, source, batches, accepted, rejected, first, last in sources:
        if unit not in seen_units:
            nodes.append({"id": f"unit:{unit}", "kind": "unit", "role": "publisher"})
            seen_units.add(unit)
        origin = f"unit:{unit}"
        if source:
            node_id = f"connector:{source}"
            status = connectors.get(source)
            nodes.append(
                {
                    "id": node_id,
                    "kind": "connector",
                    "unit": unit,
                    "last_seen_at": status.last_seen_at if status else None,
                }
            )
            edges.append({"from": origin, "to": node_id, "kind": "runs"})
            origin = node_id
        edges.append(
            {
                "from": origin,
                "to": dataset_node,
                "kind": "sends",
                "batches": batches,
                "accepted": int(accepted or 0),
                "rejected": int(rejected or 0),
                "first_batch_at": first,
                "last_batch_at": last,
            }
        )
    # Subscribers join here once subscriptions exist (consumers and access issue).
    return json_response({"dataset_id": dataset.id, "nodes": nodes, "edges": edges})


class SchemaCreate(BaseModel):
    schema_: dict[str, Any] = Field(alias="schema", description="the Avro record schema")


@router.post(
    "/{dataset_id}/schemas",
    status_code=201,
    responses=ERRORS,
    summary="Register the next schema version, under the dataset's compatibility mode",
    description=(
        "An identical schema returns the existing version (200). An incompatible one is "
        "refused with 409: `errors` lists each problem (kind, path, message, version) and "
        "`affected_consumers` the subscriptions the change would break."
    ),
)
def register_schema_version(
    dataset_id: str,
    body: SchemaCreate,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    dataset = catalog.require_dataset(session, dataset_id)
    authorize(principal, Action.REGISTER_SCHEMA, unit=dataset.owner)
    outcome = register_schema(session, dataset_id=dataset_id, schema=body.schema_)
    if not outcome.ok:
        return conflict_response(request, outcome)
    return json_response(
        {
            "dataset_id": dataset_id,
            "id": outcome.schema_id,
            "version": outcome.version,
            "created": outcome.created,
        },
        201 if outcome.created else 200,
    )
