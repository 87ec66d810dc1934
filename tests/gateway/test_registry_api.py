"""The Schema-Registry-compatible API: every endpoint, Confluent's error codes, auth, evolution."""

from __future__ import annotations

import base64
import copy
import json
import threading
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from catalog import registry
from catalog.errors import InvalidError, NotFoundError
from gateway.evolution import conflict_response, register_schema
from schemas.descriptor import SEED_DIR
from tests.factories import einvoices
from tests.support import Hub

R = "/registry"
SUBJECT = "fdxp.tax.einvoice-value"
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


def einvoice_schema() -> dict[str, Any]:
    return json.loads((SEED_DIR / "tax.einvoice.avsc").read_text())


def with_field(schema: dict[str, Any], **spec: Any) -> dict[str, Any]:
    changed = copy.deepcopy(schema)
    changed["fields"].append(spec)
    return changed


NOTE = {"name": "note", "type": ["null", "string"], "default": None}
REQUIRED = {"name": "branch_code", "type": "string"}


def basic(key: str, user: str = "anyone") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()}


def confluent_error(response: httpx.Response, status: int, code: int) -> str:
    """Assert Confluent's error body and return its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(CONTENT_TYPE)
    body = response.json()
    assert set(body) == {"error_code", "message"}
    assert body["error_code"] == code
    return str(body["message"])


def post_schema(
    hub: Hub, schema: Any, headers: dict[str, str], subject: str = SUBJECT
) -> httpx.Response:
    text = schema if isinstance(schema, str) else json.dumps(schema)
    return hub.client.post(
        f"{R}/subjects/{subject}/versions",
        json={"schema": text},
        headers={**headers, "Content-Type": CONTENT_TYPE},
    )


def versions(hub: Hub) -> list[int]:
    response = hub.client.get(f"{R}/subjects/{SUBJECT}/versions", headers=hub.admin)
    assert response.status_code == 200
    return list(response.json())


# --- auth --------------------------------------------------------------------------------------
def test_reads_need_a_key_bearer_or_basic(hub: Hub) -> None:
    url = f"{R}/subjects"
    confluent_error(hub.client.get(url), 401, 40101)
    assert "WWW-Authenticate" in hub.client.get(url).headers
    confluent_error(hub.client.get(url, headers=hub.auth("nope")), 401, 40101)
    confluent_error(hub.client.get(url, headers=basic("nope")), 401, 40101)
    confluent_error(hub.client.get(url, headers={"Authorization": "Basic !!!"}), 401, 40101)
    confluent_error(hub.client.get(url, headers={"Authorization": "Digest x"}), 401, 40101)
    consumer = hub.new_key("THTK", "consumer")
    for headers in (hub.auth(consumer), basic(consumer), basic(consumer, user="")):
        response = hub.client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        assert SUBJECT in response.json()


# --- reading -----------------------------------------------------------------------------------
def test_subjects_versions_and_schemas(hub: Hub) -> None:
    subjects = hub.client.get(f"{R}/subjects", headers=hub.admin)
    assert subjects.headers["content-type"].startswith(CONTENT_TYPE)
    assert set(subjects.json()) >= {SUBJECT}
    assert all(s.startswith("fdxp.") and s.endswith("-value") for s in subjects.json())
    assert versions(hub) == [1]

    latest = hub.client.get(f"{R}/subjects/{SUBJECT}/versions/latest", headers=hub.admin).json()
    assert set(latest) == {"subject", "version", "id", "schema"}
    assert (latest["subject"], latest["version"]) == (SUBJECT, 1)
    assert json.loads(latest["schema"]) == einvoice_schema()
    dataset = hub.client.get("/v1/datasets/tax.einvoice", headers=hub.admin).json()
    assert latest["id"] == dataset["schema_id"]
    for version in ("1", "-1"):
        same = hub.client.get(f"{R}/subjects/{SUBJECT}/versions/{version}", headers=hub.admin)
        assert same.json() == latest
    raw = hub.client.get(f"{R}/subjects/{SUBJECT}/versions/latest/schema", headers=hub.admin)
    assert raw.json() == einvoice_schema()

    by_id = hub.client.get(f"{R}/schemas/ids/{latest['id']}", headers=hub.admin).json()
    assert json.loads(by_id["schema"]) == einvoice_schema()
    # Confluent clients add ?subject=<topic>-value; the id alone decides
    with_subject = hub.client.get(
        f"{R}/schemas/ids/{latest['id']}", params={"subject": "x-value"}, headers=hub.admin
    )
    assert with_subject.json() == by_id
    bare = hub.client.get(f"{R}/schemas/ids/{latest['id']}/schema", headers=hub.admin)
    assert bare.json() == einvoice_schema()
    pairs = hub.client.get(f"{R}/schemas/ids/{latest['id']}/versions", headers=hub.admin)
    assert pairs.json() == [{"subject": SUBJECT, "version": 1}]
    subjects_of = hub.client.get(f"{R}/schemas/ids/{latest['id']}/subjects", headers=hub.admin)
    assert subjects_of.json() == [SUBJECT]
    assert hub.client.get(f"{R}/schemas/types", headers=hub.admin).json() == ["AVRO"]
    assert hub.client.get(R, headers=hub.admin).json() == {}


def test_read_errors_use_confluents_codes(hub: Hub) -> None:
    get = hub.client.get
    for subject in ("fdxp.no.such-value", "tax.einvoice", "fdxp.tax.einvoice-key"):
        message = confluent_error(
            get(f"{R}/subjects/{subject}/versions", headers=hub.admin), 404, 40401
        )
        assert subject in message
    confluent_error(get(f"{R}/subjects/{SUBJECT}/versions/7", headers=hub.admin), 404, 40402)
    for bad in ("0", "abc", "-2", str(2**31)):
        confluent_error(
            get(f"{R}/subjects/{SUBJECT}/versions/{bad}", headers=hub.admin), 422, 42202
        )
    for bad_id in ("999999", "x1"):
        confluent_error(get(f"{R}/schemas/ids/{bad_id}", headers=hub.admin), 404, 40403)
        confluent_error(get(f"{R}/schemas/ids/{bad_id}/versions", headers=hub.admin), 404, 40403)


# --- registering -------------------------------------------------------------------------------
def test_a_compatible_schema_is_registered_once(hub: Hub) -> None:
    v1_id = hub.client.get(f"{R}/subjects/{SUBJECT}/versions/1", headers=hub.admin).json()["id"]
    v2 = with_field(einvoice_schema(), **NOTE)
    first = post_schema(hub, v2, hub.admin)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith(CONTENT_TYPE)
    assert set(first.json()) == {"id"}
    v2_id = first.json()["id"]
    assert v2_id != v1_id
    assert versions(hub) == [1, 2]
    latest = hub.client.get(f"{R}/subjects/{SUBJECT}/versions/latest", headers=hub.admin).json()
    assert (latest["version"], latest["id"]) == (2, v2_id)

    # identical (up to layout) → the same id, no new version; also for an older version
    again = post_schema(hub, json.dumps(v2, indent=2, sort_keys=True), hub.admin)
    assert again.json() == {"id": v2_id}
    assert post_schema(hub, einvoice_schema(), hub.admin).json() == {"id": v1_id}
    assert versions(hub) == [1, 2]


def test_an_incompatible_schema_is_refused_with_409_and_nothing_written(hub: Hub) -> None:
    bad = with_field(einvoice_schema(), **REQUIRED)
    message = confluent_error(post_schema(hub, bad, hub.admin), 409, 409)
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in message
    assert "branch_code" in message and f"/fields/{len(bad['fields']) - 1}" in message
    assert "BACKWARD" in message
    assert versions(hub) == [1]
    confluent_error(
        hub.client.post(
            f"{R}/subjects/{SUBJECT}", json={"schema": json.dumps(bad)}, headers=hub.admin
        ),
        404,
        40403,
    )


def test_invalid_schemas_and_bodies(hub: Hub) -> None:
    no_key = copy.deepcopy(einvoice_schema())
    no_key["fields"] = [f for f in no_key["fields"] if f["name"] != "invoice_id"]
    for schema, why in [
        ("{not json", "JSON"),
        ('{"type": "enum", "name": "E", "symbols": ["A"]}', "record"),
        (json.dumps(with_field(einvoice_schema(), name="x", type="nope")), "Avro"),
        (no_key, "invoice_id"),
    ]:
        assert why in confluent_error(post_schema(hub, schema, hub.admin), 422, 42201)
    url = f"{R}/subjects/{SUBJECT}/versions"
    schema_text = json.dumps(einvoice_schema())
    for body in (
        {"schema": schema_text, "schemaType": "PROTOBUF"},
        {"schema": schema_text, "references": [{"name": "x", "subject": "y", "version": 1}]},
        {"schemaType": "AVRO"},
    ):
        confluent_error(hub.client.post(url, json=body, headers=hub.admin), 422, 42201)
    for content in (b"{oops", b"[1, 2]"):
        confluent_error(hub.client.post(url, content=content, headers=hub.admin), 422, 422)
    assert versions(hub) == [1]


def test_only_the_owner_unit_or_an_admin_may_register(hub: Hub) -> None:
    v2 = with_field(einvoice_schema(), **NOTE)
    for unit, role in (("THTK", "consumer"), ("KBNN", "publisher"), ("TCT", "consumer")):
        response = post_schema(hub, v2, hub.auth(hub.new_key(unit, role)))
        assert unit in confluent_error(response, 403, 40301)
    assert versions(hub) == [1]
    owner = post_schema(hub, v2, basic(hub.new_key("TCT", "publisher")))
    assert owner.status_code == 200, owner.text
    assert versions(hub) == [1, 2]
    confluent_error(post_schema(hub, v2, hub.admin, subject="fdxp.no.such-value"), 404, 40401)


def test_lookup_finds_a_registered_schema(hub: Hub) -> None:
    url = f"{R}/subjects/{SUBJECT}"
    found = hub.client.post(
        url, json={"schema": json.dumps(einvoice_schema()), "schemaType": "AVRO"}, headers=hub.admin
    )
    assert found.status_code == 200, found.text
    body = found.json()
    assert (body["subject"], body["version"]) == (SUBJECT, 1)
    assert json.loads(body["schema"]) == einvoice_schema()
    unknown = {"schema": json.dumps(with_field(einvoice_schema(), **NOTE))}
    confluent_error(hub.client.post(url, json=unknown, headers=hub.admin), 404, 40403)
    confluent_error(
        hub.client.post(f"{R}/subjects/fdxp.no.such-value", json=unknown, headers=hub.admin),
        404,
        40401,
    )
    confluent_error(hub.client.post(url, json={"schema": "{"}, headers=hub.admin), 422, 42201)


# --- compatibility tests -----------------------------------------------------------------------
def test_compatibility_endpoint_with_and_without_verbose(hub: Hub) -> None:
    url = f"{R}/compatibility/subjects/{SUBJECT}/versions"
    good = {"schema": json.dumps(with_field(einvoice_schema(), **NOTE))}
    bad = {"schema": json.dumps(with_field(einvoice_schema(), **REQUIRED))}
    assert hub.client.post(f"{url}/latest", json=good, headers=hub.admin).json() == {
        "is_compatible": True
    }
    assert hub.client.post(f"{url}/1", json=bad, headers=hub.admin).json() == {
        "is_compatible": False
    }
    verbose = hub.client.post(
        f"{url}/latest", params={"verbose": "true"}, json=bad, headers=hub.admin
    ).json()
    assert verbose["is_compatible"] is False
    assert any("READER_FIELD_MISSING_DEFAULT_VALUE" in m for m in verbose["messages"])
    every = hub.client.post(url, params={"verbose": "True"}, json=good, headers=hub.admin)
    assert every.json() == {"is_compatible": True, "messages": []}
    confluent_error(hub.client.post(f"{url}/9", json=good, headers=hub.admin), 404, 40402)
    confluent_error(hub.client.post(f"{url}/x", json=good, headers=hub.admin), 422, 42202)
    confluent_error(
        hub.client.post(
            f"{R}/compatibility/subjects/fdxp.no.such-value/versions/latest",
            json=good,
            headers=hub.admin,
        ),
        404,
        40401,
    )
    assert versions(hub) == [1]  # testing writes nothing


def test_transitive_mode_through_the_api(hub: Hub) -> None:
    base = einvoice_schema()
    v2 = with_field(base, name="region", type="string", default="north")
    v3 = with_field(base, name="region", type="string")  # reads v2's data, not v1's
    assert post_schema(hub, v2, hub.admin).status_code == 200
    put = hub.client.put(
        f"{R}/config/{SUBJECT}", json={"compatibility": "BACKWARD_TRANSITIVE"}, headers=hub.admin
    )
    assert put.json() == {"compatibility": "BACKWARD_TRANSITIVE"}
    message = confluent_error(post_schema(hub, v3, hub.admin), 409, 409)
    assert "oldSchemaVersion:1" in message and "oldSchemaVersion:2" not in message
    check = f"{R}/compatibility/subjects/{SUBJECT}/versions"
    body = {"schema": json.dumps(v3)}
    assert hub.client.post(f"{check}/2", json=body, headers=hub.admin).json()["is_compatible"]
    assert not hub.client.post(f"{check}/1", json=body, headers=hub.admin).json()["is_compatible"]
    assert not hub.client.post(check, json=body, headers=hub.admin).json()["is_compatible"]

    hub.client.put(f"{R}/config/{SUBJECT}", json={"compatibility": "BACKWARD"}, headers=hub.admin)
    assert post_schema(hub, v3, hub.admin).status_code == 200
    assert versions(hub) == [1, 2, 3]


# --- config ------------------------------------------------------------------------------------
def test_config_round_trip(hub: Hub) -> None:
    assert hub.client.get(f"{R}/config", headers=hub.admin).json() == {
        "compatibilityLevel": "BACKWARD"
    }
    put = hub.client.put(f"{R}/config", json={"compatibility": "full"}, headers=hub.admin)
    assert put.status_code == 200 and put.json() == {"compatibility": "FULL"}
    assert put.headers["content-type"].startswith(CONTENT_TYPE)
    assert hub.client.get(f"{R}/config", headers=hub.admin).json() == {"compatibilityLevel": "FULL"}
    subject_url = f"{R}/config/{SUBJECT}"
    assert hub.client.get(subject_url, headers=hub.admin).json() == {
        "compatibilityLevel": "BACKWARD"
    }
    put = hub.client.put(subject_url, json={"compatibility": "NONE"}, headers=hub.admin)
    assert put.json() == {"compatibility": "NONE"}
    assert hub.client.get(subject_url, headers=hub.admin).json() == {"compatibilityLevel": "NONE"}
    dataset = hub.client.get("/v1/datasets/tax.einvoice", headers=hub.admin).json()
    assert dataset["compatibility"] == "NONE"
    # under NONE an incompatible schema goes through
    assert post_schema(hub, with_field(einvoice_schema(), **REQUIRED), hub.admin).status_code == 200


def test_config_errors(hub: Hub) -> None:
    for body in ({"compatibility": "SIDEWAYS"}, {"compatibility": 3}, {}):
        message = confluent_error(
            hub.client.put(f"{R}/config", json=body, headers=hub.admin), 422, 42203
        )
        assert "backward_transitive" in message
    publisher = hub.auth(hub.new_key("TCT"))
    for url in (f"{R}/config", f"{R}/config/{SUBJECT}"):
        confluent_error(
            hub.client.put(url, json={"compatibility": "NONE"}, headers=publisher), 403, 40301
        )
        assert hub.client.get(url, headers=publisher).status_code == 200
    confluent_error(hub.client.get(f"{R}/config/fdxp.no.such-value", headers=hub.admin), 404, 40401)
    confluent_error(
        hub.client.put(
            f"{R}/config/fdxp.no.such-value", json={"compatibility": "NONE"}, headers=hub.admin
        ),
        404,
        40401,
    )
    assert (
        hub.client.get(f"{R}/config", headers=hub.admin).json()["compatibilityLevel"] == "BACKWARD"
    )


# --- what registering changes for ingest -------------------------------------------------------
def test_ingest_uses_the_version_registered_through_the_registry(hub: Hub) -> None:
    v2_id = post_schema(hub, with_field(einvoice_schema(), **NOTE), hub.admin).json()["id"]
    tct = hub.auth(hub.new_key("TCT"))
    records = einvoices(3, seed=11)
    records[0]["note"] = "bổ sung"
    answer = hub.client.post(
        "/v1/datasets/tax.einvoice/records", json={"records": records}, headers=tct
    ).json()
    assert (answer["schema_version"], answer["schema_id"], answer["accepted"]) == (2, v2_id, 3)
    items = hub.client.get("/v1/datasets/tax.einvoice/records", headers=tct).json()["items"]
    assert {item["schema_id"] for item in items} == {v2_id}
    assert items[0]["data"]["note"] == "bổ sung" and items[1]["data"]["note"] is None


# --- the plain function the hub's own routes reuse ---------------------------------------------
def _request() -> Request:
    return Request(
        {"type": "http", "method": "POST", "path": "/", "headers": [], "query_string": b""}
    )


def test_register_schema_function_and_the_hubs_409_body(hub: Hub) -> None:
    sessions = hub.client.app.state.hub.sessions  # type: ignore[attr-defined]
    with sessions() as session:
        outcome = register_schema(
            session, dataset_id="tax.einvoice", schema=with_field(einvoice_schema(), **NOTE)
        )
        assert outcome.ok and outcome.created and outcome.version == 2
        refused = register_schema(
            session, dataset_id="tax.einvoice", schema=with_field(einvoice_schema(), **REQUIRED)
        )
        assert not refused.ok and refused.schema_id is None
        with pytest.raises(NotFoundError):
            register_schema(session, dataset_id="no.such", schema=einvoice_schema())
        with pytest.raises(InvalidError) as invalid:
            register_schema(session, dataset_id="tax.einvoice", schema="{")
        assert invalid.value.errors and invalid.value.errors[0]["field"] == "schema"
        assert [
            v.version for v in registry.list_schema_versions(session, dataset_id="tax.einvoice")
        ] == [1, 2]
    response = conflict_response(_request(), refused)
    body = json.loads(response.body)
    assert response.status_code == 409
    assert body["type"] == "conflict" and body["detail"]
    assert body["affected_consumers"] == []
    assert body["compatibility"] == "BACKWARD"
    [reason] = body["errors"]
    assert reason["kind"] == "READER_FIELD_MISSING_DEFAULT_VALUE"
    assert reason["path"].startswith("/fields/") and "branch_code" in reason["message"]
    assert reason["against_version"] == 2


@pytest.mark.integration
def test_concurrent_registrations_get_distinct_versions(live_hub: Hub) -> None:
    """Registrations of one dataset run one after another: no version number is lost or
    handed out twice, on either database."""
    schemas = [
        with_field(einvoice_schema(), name=f"extra_{i}", type="string", default="")
        for i in range(6)
    ]
    answers: list[httpx.Response] = []

    def register(schema: dict[str, Any]) -> None:
        answers.append(post_schema(live_hub, schema, live_hub.admin))

    threads = [threading.Thread(target=register, args=(s,)) for s in schemas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(a.status_code for a in answers) == [200] * 6, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 6
    assert versions(live_hub) == [1, 2, 3, 4, 5, 6, 7]
