"""The dataset catalog over REST: descriptors, lifecycle, search, exports, quality, lineage."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.factories import einvoice, einvoices
from tests.support import Hub

SEED = Path(__file__).resolve().parents[2] / "schemas" / "seed"


def descriptor(**overrides: Any) -> dict[str, Any]:
    """A valid descriptor of a small dataset owned by the tax unit."""
    document: dict[str, Any] = {
        "id": "tax.refund",
        "title": "VAT refunds",
        "description": "Refund decisions for exporters",
        "owner": "TCT",
        "domain": "tax",
        "classification": "internal",
        "key": "refund_id",
        "schema": {
            "type": "record",
            "name": "Refund",
            "namespace": "vn.gov.mof.fdxp.tax",
            "fields": [
                {"name": "refund_id", "type": "string"},
                {"name": "taxpayer", "type": "string"},
                {"name": "amount", "type": "long"},
            ],
        },
        "compatibility": "BACKWARD",
        "quality": [
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "amount", "min_value": 1},
            },
        ],
        "tags": ["vat", "refund"],
        "sla": {"freshness": "P1D"},
        "ndxp": False,
    }
    document.update(overrides)
    return document


def assert_error(response, status: int, type_: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == type_ and body["detail"] == response.headers["X-Request-ID"]
    return body


def register(hub: Hub, document: dict[str, Any], **params: str):
    return hub.client.post("/v1/datasets", json=document, headers=hub.admin, params=params)


def test_seed_datasets_are_registered_and_active(hub: Hub) -> None:
    found = hub.client.get("/v1/datasets", headers=hub.admin, params={"limit": 500}).json()
    seeded = {p.name.removesuffix(".yaml") for p in SEED.glob("*.yaml")}
    assert seeded <= {item["id"] for item in found["items"]}
    assert all(item["status"] == "active" for item in found["items"] if item["id"] in seeded)


def test_register_from_json_and_yaml(hub: Hub) -> None:
    created = register(hub, descriptor())
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["status"], body["schema_version"], body["quality_version"]) == ("draft", 1, 1)
    assert body["schema"]["name"] == "Refund"

    document = descriptor(id="tax.refund_claims", title="Refund claims")
    response = hub.client.post(
        "/v1/datasets",
        content=yaml.safe_dump(document),
        headers={**hub.admin, "Content-Type": "application/yaml"},
        params={"status": "active"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "active"
    assert_error(register(hub, descriptor()), 409, "conflict")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"owner": "NOPE"}, "owner"),
        ({"id": "Tax Refund"}, "id"),
        ({"key": "no_such_field"}, None),
        (
            {"schema": {"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}},
            "schema",
        ),
        ({"quality": [{"type": "expect_the_moon", "kwargs": {}}]}, "quality.0"),
        (
            {
                "quality": [
                    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "ghost"}}
                ]
            },
            "quality.0",
        ),
        ({"compatibility": "SOMETIMES"}, "compatibility"),
        ({"classification": "secret"}, "classification"),
        ({"domain": "customs"}, None),
    ],
)
def test_bad_descriptors_are_refused_with_located_errors(
    hub: Hub, change: dict[str, Any], field: str | None
) -> None:
    before = hub.client.get("/v1/datasets", headers=hub.admin).json()["total"]
    body = assert_error(register(hub, descriptor(**change)), 422, "validation_error")
    assert body["errors"], body
    if field is not None:
        assert any((e["field"] or "").startswith(field) for e in body["errors"]), body["errors"]
    assert hub.client.get("/v1/datasets", headers=hub.admin).json()["total"] == before
    assert hub.client.get("/v1/datasets/tax.refund", headers=hub.admin).status_code == 404


def test_unparsable_bodies(hub: Hub) -> None:
    response = hub.client.post(
        "/v1/datasets",
        content=b"id: [unclosed",
        headers={**hub.admin, "Content-Type": "application/yaml"},
    )
    assert_error(response, 400, "bad_request")
    assert_error(
        hub.client.post(
            "/v1/datasets",
            content=b"[1, 2]",
            headers={**hub.admin, "Content-Type": "application/json"},
        ),
        422,
        "validation_error",
    )


def test_only_admins_register_and_change_datasets(hub: Hub) -> None:
    tct = hub.auth(hub.new_key("TCT"))
    assert_error(hub.client.post("/v1/datasets", json=descriptor(), headers=tct), 403, "forbidden")
    assert_error(
        hub.client.put("/v1/datasets/tax.einvoice/status", json={"status": "retired"}, headers=tct),
        403,
        "forbidden",
    )
    assert_error(
        hub.client.patch("/v1/datasets/tax.einvoice", json={"title": "x"}, headers=tct),
        403,
        "forbidden",
    )


def test_lifecycle_rules(hub: Hub) -> None:
    register(hub, descriptor())
    tct = hub.auth(hub.new_key("TCT"))
    url = "/v1/datasets/tax.refund/records"
    record = {"refund_id": "R1", "taxpayer": "0100109106", "amount": 5}

    def status(value: str):
        return hub.client.put(
            "/v1/datasets/tax.refund/status", json={"status": value}, headers=hub.admin
        )

    assert_error(hub.client.post(url, json={"records": [record]}, headers=tct), 409, "conflict")
    assert_error(status("deprecated"), 409, "conflict")  # draft cannot skip active
    assert status("active").json()["status"] == "active"
    accepted = hub.client.post(url, json={"records": [record]}, headers=tct)
    assert accepted.status_code == 200 and "Deprecation" not in accepted.headers
    assert status("deprecated").status_code == 200
    deprecated = hub.client.post(
        url, json={"records": [{**record, "refund_id": "R2"}]}, headers=tct
    )
    assert deprecated.status_code == 200 and deprecated.headers["Deprecation"] == "true"
    assert status("retired").status_code == 200
    assert_error(hub.client.post(url, json={"records": [record]}, headers=tct), 410, "gone")
    body = assert_error(status("active"), 409, "conflict")
    assert "retired" in body["message"]
    assert_error(status("frozen"), 422, "validation_error")
    # records already accepted stay readable after retirement
    assert len(hub.client.get(url, headers=tct).json()["items"]) == 2


def test_search_filters_and_paging(hub: Hub) -> None:
    register(hub, descriptor())
    register(hub, descriptor(id="tax.refund_claims", title="Claims", tags=["claims"]))
    admin = hub.admin

    def ids(**params: Any) -> list[str]:
        body = hub.client.get("/v1/datasets", headers=admin, params=params).json()
        return [item["id"] for item in body["items"]]

    assert ids(q="seller_tax_code") == ["tax.einvoice"]  # field names are searched
    assert ids(q="REFUND") == ["tax.refund", "tax.refund_claims"]
    assert ids(q="refund claims") == ["tax.refund_claims"]  # every word must match
    assert ids(tag="claims") == ["tax.refund_claims"]
    assert ids(tag="clai") == []  # tags match whole
    assert "tax.refund" in ids(owner="TCT") and "tax.einvoice" in ids(owner="TCT")
    assert ids(owner="KBNN", domain="tax") == []
    assert ids(status="draft") == ["tax.refund", "tax.refund_claims"]
    assert "tax.refund" in ids(classification="internal")
    assert ids(q="100%_\\") == []  # LIKE wildcards are literal
    first = hub.client.get("/v1/datasets", headers=admin, params={"limit": 1, "q": "refund"})
    assert first.json()["total"] == 2 and len(first.json()["items"]) == 1
    second = ids(limit=1, offset=1, q="refund")
    assert second == ["tax.refund_claims"]
    assert_error(
        hub.client.get("/v1/datasets", headers=admin, params={"status": "zombie"}),
        422,
        "validation_error",
    )


def test_descriptor_export_round_trips(hub: Hub) -> None:
    response = hub.client.get("/v1/datasets/tax.einvoice/descriptor", headers=hub.admin)
    assert response.headers["content-type"].startswith("application/yaml")
    document = yaml.safe_load(response.text)
    assert document["key"] == "invoice_id" and document["schema"]["name"] == "Einvoice"
    as_json = hub.client.get(
        "/v1/datasets/tax.einvoice/descriptor",
        headers={**hub.admin, "Accept": "application/json"},
    ).json()
    assert as_json == document
    document["id"] = "tax.einvoice_copy"
    assert register(hub, document).status_code == 201


def test_metadata_update_is_searchable(hub: Hub) -> None:
    response = hub.client.patch(
        "/v1/datasets/tax.einvoice",
        json={"title": "Hóa đơn điện tử", "tags": ["hoadon"]},
        headers=hub.admin,
    )
    assert response.status_code == 200 and response.json()["title"] == "Hóa đơn điện tử"
    found = hub.client.get("/v1/datasets", headers=hub.admin, params={"tag": "hoadon"}).json()
    assert [item["id"] for item in found["items"]] == ["tax.einvoice"]
    assert_error(
        hub.client.patch("/v1/datasets/tax.einvoice", json={"owner": "KBNN"}, headers=hub.admin),
        422,
        "validation_error",
    )


def test_quality_suite_versions_apply_to_ingest(hub: Hub) -> None:
    tct = hub.auth(hub.new_key("TCT"))
    current = hub.client.get("/v1/datasets/tax.einvoice/quality", headers=tct).json()
    assert current["version"] == 1
    stricter = [
        *copy.deepcopy(current["expectations"]),
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "currency", "value_set": ["VND"]},
        },
    ]
    put = hub.client.put(
        "/v1/datasets/tax.einvoice/quality", json={"expectations": stricter}, headers=tct
    )
    assert put.status_code == 200 and put.json()["version"] == 2
    same = hub.client.put(
        "/v1/datasets/tax.einvoice/quality", json={"expectations": stricter}, headers=tct
    )
    assert same.json()["version"] == 2  # no change, no new version
    usd = einvoice(currency="USD", exchange_rate="25400")
    answer = hub.client.post(
        "/v1/datasets/tax.einvoice/records", json={"records": [einvoice(), usd]}, headers=tct
    ).json()
    assert answer["accepted"] == 1
    assert answer["errors"][0]["field"] == "currency"

    kbnn = hub.auth(hub.new_key("KBNN"))
    assert_error(
        hub.client.put(
            "/v1/datasets/tax.einvoice/quality", json={"expectations": []}, headers=kbnn
        ),
        403,
        "forbidden",
    )
    bad = hub.client.put(
        "/v1/datasets/tax.einvoice/quality",
        json={"expectations": [{"type": "expect_nonsense", "kwargs": {}}]},
        headers=hub.admin,
    )
    assert assert_error(bad, 422, "validation_error")["errors"][0]["field"] == "expectations.0"


def test_validate_reports_without_storing(hub: Hub) -> None:
    records = [einvoice(), einvoice(vat_rate="7"), {"invoice_id": 1}]
    response = hub.client.post(
        "/v1/datasets/tax.einvoice/validate", json={"records": records}, headers=hub.admin
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["valid"], body["invalid"]) == (1, 2)
    assert {e["index"] for e in body["errors"]} == {1, 2}
    in_set = next(r for r in body["rules"] if r["rule"] == "expect_column_values_to_be_in_set")
    assert (in_set["passed"], in_set["failed"]) == (1, 1)
    dataset = hub.client.get("/v1/datasets/tax.einvoice", headers=hub.admin).json()
    assert dataset["records"] == 0
    runs = hub.client.get("/v1/datasets/tax.einvoice/quality/runs", headers=hub.admin).json()
    assert runs["items"] == []


def test_quality_runs_are_kept_per_batch(hub: Hub) -> None:
    tct = hub.auth(hub.new_key("TCT"))
    url = "/v1/datasets/tax.einvoice/records"
    hub.client.post(url, json={"records": einvoices(3, seed=1)}, headers=tct)
    hub.client.post(url, json={"records": [einvoice(vat_rate="7"), einvoice()]}, headers=tct)
    runs = hub.client.get(
        "/v1/datasets/tax.einvoice/quality/runs", headers=tct, params={"limit": 1}
    ).json()
    assert len(runs["items"]) == 1 and runs["next_before"]
    newest = runs["items"][0]
    in_set = next(r for r in newest["rules"] if r["rule"] == "expect_column_values_to_be_in_set")
    assert (in_set["passed"], in_set["failed"]) == (1, 1)
    older = hub.client.get(
        "/v1/datasets/tax.einvoice/quality/runs",
        headers=tct,
        params={"limit": 1, "before": runs["next_before"]},
    ).json()
    assert older["items"][0]["batch_id"] != newest["batch_id"]
    assert all(r["failed"] == 0 and r["passed"] == 3 for r in older["items"][0]["rules"])


def test_pinning_an_unknown_schema_version_is_422(hub: Hub) -> None:
    tct = hub.auth(hub.new_key("TCT"))
    response = hub.client.post(
        "/v1/datasets/tax.einvoice/records",
        json={"records": einvoices(1)},
        headers=tct,
        params={"schema_version": 9},
    )
    assert assert_error(response, 422, "validation_error")["errors"][0]["field"] == "schema_version"
    pinned = hub.client.post(
        "/v1/datasets/tax.einvoice/records",
        json={"records": einvoices(1)},
        headers=tct,
        params={"schema_version": 1},
    )
    assert pinned.json()["schema_version"] == 1


def test_lineage_shows_what_the_hub_saw(hub: Hub) -> None:
    tct = hub.auth(hub.new_key("TCT"))
    hub.client.post(
        "/v1/datasets/tax.einvoice/records",
        json={"records": einvoices(4, seed=2)},
        headers={**tct, "X-FDXP-Connector": "tax"},
    )
    hub.client.post(
        "/v1/connectors/tax/heartbeat",
        json={"dataset_id": "tax.einvoice", "cursor": 4},
        headers=tct,
    )
    graph = hub.client.get("/v1/datasets/tax.einvoice/lineage", headers=tct).json()
    nodes = {node["id"]: node for node in graph["nodes"]}
    assert {"unit:TCT", "connector:tax", "dataset:tax.einvoice"} <= set(nodes)
    assert f"topic:{hub.settings.topic('tax.einvoice')}" in nodes
    sends = next(e for e in graph["edges"] if e["kind"] == "sends")
    assert (sends["from"], sends["accepted"], sends["batches"]) == ("connector:tax", 4, 1)


def test_dcat_catalog_is_paged(hub: Hub) -> None:
    register(hub, descriptor(), status="active")
    page1 = hub.client.get("/v1/catalog.jsonld", headers=hub.admin, params={"limit": 1})
    assert page1.headers["content-type"].startswith("application/ld+json")
    body = page1.json()
    assert body["@type"] == "dcat:Catalog" and body["hydra:totalItems"] >= 2
    assert len(body["dcat:dataset"]) == 1 and "hydra:next" in body["hydra:view"]
    entry = body["dcat:dataset"][0]
    assert entry["@type"] == "dcat:Dataset" and entry["dct:publisher"]["foaf:name"]
    future = hub.client.get(
        "/v1/catalog.jsonld", headers=hub.admin, params={"modified_since": "2999-01-01T00:00:00"}
    ).json()
    assert future["hydra:totalItems"] == 0 and future["dcat:dataset"] == []
    assert json.dumps(body)  # plain JSON-LD, no exotic types


def test_units_are_managed_by_admins(hub: Hub) -> None:
    created = hub.client.post(
        "/v1/units",
        json={"code": "UBCKNN", "name": "Ủy ban Chứng khoán Nhà nước"},
        headers=hub.admin,
    )
    assert created.status_code == 201
    assert_error(
        hub.client.post("/v1/units", json={"code": "UBCKNN", "name": "again"}, headers=hub.admin),
        409,
        "conflict",
    )
    renamed = hub.client.patch(
        "/v1/units/UBCKNN", json={"name": "State Securities Commission"}, headers=hub.admin
    )
    assert renamed.json()["name"] == "State Securities Commission"
    tct = hub.auth(hub.new_key("TCT"))
    assert_error(
        hub.client.post("/v1/units", json={"code": "XX", "name": "x"}, headers=tct),
        403,
        "forbidden",
    )
    assert_error(hub.client.get("/v1/units/NOPE", headers=tct), 404, "not_found")
    assert_error(
        hub.client.post("/v1/units", json={"code": "bad code", "name": "x"}, headers=hub.admin),
        422,
        "validation_error",
    )
