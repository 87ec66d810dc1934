"""The catalog as DCAT (JSON-LD), for a national open-data portal to harvest."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from sqlalchemy import ColumnElement, func, select
from starlette.responses import Response

from catalog.clock import iso
from catalog.datasets import latest_by_dataset
from catalog.models import Dataset, SchemaVersion, Unit
from gateway.deps import HubDep, PrincipalDep, SessionDep
from gateway.responses import ERRORS, json_response

router = APIRouter(tags=["harvest"])

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "hydra": "http://www.w3.org/ns/hydra/core#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}


@router.get(
    "/v1/catalog.jsonld",
    responses={**ERRORS, 200: {"content": {"application/ld+json": {}}}},
    summary="The catalog as DCAT JSON-LD, paged, optionally only what changed",
)
def catalog_jsonld(
    request: Request,
    session: SessionDep,
    hub: HubDep,
    _: PrincipalDep,
    page: Annotated[int, Query(ge=1)] = 1,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    modified_since: Annotated[datetime | None, Query()] = None,
) -> Response:
    base = str(request.base_url).rstrip("/")
    conditions: list[ColumnElement[bool]] = [Dataset.status.in_(("active", "deprecated"))]
    if modified_since is not None:
        conditions.append(Dataset.updated_at > modified_since)
    total = int(session.scalar(select(func.count()).select_from(Dataset).where(*conditions)) or 0)
    datasets = session.scalars(
        select(Dataset)
        .where(*conditions)
        .order_by(Dataset.id)
        .limit(limit)
        .offset((page - 1) * limit)
    ).all()
    units = {u.code: u.name for u in session.scalars(select(Unit)).all()}
    schemas: dict[str, SchemaVersion] = latest_by_dataset(
        session, SchemaVersion, [d.id for d in datasets]
    )
    items: list[dict[str, Any]] = []
    for dataset in datasets:
        url = f"{base}/v1/datasets/{dataset.id}"
        schema = schemas.get(dataset.id)
        items.append(
            {
                "@id": url,
                "@type": "dcat:Dataset",
                "dct:identifier": dataset.id,
                "dct:title": dataset.title,
                "dct:description": dataset.description,
                "dcat:keyword": list(dataset.tags),
                "dcat:theme": dataset.domain,
                "dct:accessRights": dataset.classification,
                "dct:publisher": {
                    "@type": "foaf:Organization",
                    "dct:identifier": dataset.owner,
                    "foaf:name": units.get(dataset.owner, dataset.owner),
                },
                "dct:issued": {"@value": iso(dataset.created_at), "@type": "xsd:dateTime"},
                "dct:modified": {"@value": iso(dataset.updated_at), "@type": "xsd:dateTime"},
                "dct:conformsTo": (f"{base}/registry/schemas/ids/{schema.id}" if schema else None),
                "dcat:distribution": [
                    {
                        "@type": "dcat:Distribution",
                        "dct:title": "REST, cursor-paged JSON",
                        "dcat:accessURL": f"{url}/records",
                        "dcat:mediaType": "application/json",
                    },
                    {
                        "@type": "dcat:Distribution",
                        "dct:title": f"Kafka topic {hub.settings.topic(dataset.id)}",
                        "dcat:accessURL": f"kafka:{hub.settings.topic(dataset.id)}",
                        "dcat:mediaType": "application/avro",
                    },
                ],
            }
        )
    view: dict[str, Any] = {"@id": str(request.url), "@type": "hydra:PartialCollectionView"}
    query = {"limit": limit} | (
        {"modified_since": modified_since.isoformat()} if modified_since else {}
    )
    if page * limit < total:
        view["hydra:next"] = f"{base}/v1/catalog.jsonld?{urlencode(query | {'page': page + 1})}"
    if page > 1:
        view["hydra:previous"] = f"{base}/v1/catalog.jsonld?{urlencode(query | {'page': page - 1})}"
    body = {
        "@context": CONTEXT,
        "@id": f"{base}/v1/catalog.jsonld",
        "@type": "dcat:Catalog",
        "dct:title": "FDXP — finance data exchange catalog",
        "dct:publisher": {"@type": "foaf:Organization", "foaf:name": units.get("THTK", "THTK")},
        "hydra:totalItems": total,
        "hydra:view": view,
        "dcat:dataset": items,
    }
    response = json_response(body)
    response.headers["content-type"] = "application/ld+json"
    return response
