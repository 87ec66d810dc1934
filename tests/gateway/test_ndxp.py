"""The hub as an NDXP member, without a real NDXP: inbound reads checked by hand-made proofs,
admin routes, reference checks against a fake registry behind httpx.MockTransport, re-checks,
and one trace id through the batch, the audit log and the message log."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from gateway.app import create_app
from gateway.ndxp_client import request_hash
from gateway.ndxp_proof import sign
from gateway.settings import Settings
from schemas.quality import QualityEngine
from schemas.reference import ACTIVE_ENTERPRISE
from tests.factories import einvoices
from tests.support import Hub

HUB_MEMBER = "VN/GOV/000.00.00.G12/FDXP"
BCT = "VN/GOV/000.00.00.G09/BCT"
SBV = "VN/GOV/000.00.00.G10/NHNN"
KEY = "proof-key-shared-by-ndxp-and-the-hub"
D = "/v1/datasets/tax.einvoice"


def ndxp_call(
    hub: Hub,
    path: str,
    *,
    client: str = BCT,
    key: str = KEY,
    message_id: str | None = None,
    timestamp: int | None = None,
    signed_target: str | None = None,
    signed_body: bytes = b"",
    body: bytes = b"",
    traceparent: str | None = None,
) -> httpx.Response:
    """A GET as NDXP forwards it: proof over what is signed (by default what is sent)."""
    message_id = message_id or str(uuid.uuid4())
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    dataset_id = path.split("/")[2]
    headers = {
        "X-Road-Client": client,
        "X-Road-Service": f"{HUB_MEMBER}/{dataset_id}",
        "X-Road-Id": message_id,
        "X-NDXP-Timestamp": stamp,
        "X-NDXP-Proof": sign(
            key,
            message_id=message_id,
            client=client,
            service_id=f"{HUB_MEMBER}/{dataset_id}",
            method="GET",
            target=signed_target or path,
            timestamp=stamp,
            body=signed_body or body,
        ),
    }
    if traceparent:
        headers["traceparent"] = traceparent
    return hub.client.request("GET", path, headers=headers, content=body or None)


def refused(response: httpx.Response, status: int, type_: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == type_
    assert body["detail"] == response.headers["X-Request-ID"]
    return body


def publish(hub: Hub, count: int = 3, **headers: str) -> dict[str, Any]:
    response = hub.client.post(
        f"{D}/records",
        json={"records": einvoices(count, seed=11)},
        headers={**hub.auth(hub.new_key("TCT")), **headers},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def grant(hub: Hub, client: str = BCT, **extra: Any) -> dict[str, Any]:
    response = hub.client.post(
        "/v1/ndxp/rights", json={"client": client, "dataset_id": "tax.einvoice", **extra},
        headers=hub.admin,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture
def member_hub(hub: Hub) -> Hub:
    """The hub with NDXP's proof key, records in tax.einvoice, and BCT's right to read them."""
    hub.settings.ndxp_proof_key = KEY
    publish(hub)
    grant(hub)
    return hub


def messages(hub: Hub, **params: Any) -> list[dict[str, Any]]:
    response = hub.client.get("/v1/ndxp/messages", params=params, headers=hub.admin)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


# --- inbound reads ------------------------------------------------------------------------------
def test_a_member_with_a_right_reads_records_with_a_valid_proof(member_hub: Hub) -> None:
    message_id = str(uuid.uuid4())
    response = ndxp_call(member_hub, "/ndxp/tax.einvoice/records?after=0&limit=2",
                         message_id=message_id)  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.headers["X-Road-Id"] == message_id
    page = response.json()
    assert [item["seq"] for item in page["items"]] == [1, 2] and page["next_after"] == 2
    assert page["items"][0]["data"]["invoice_id"]
    logged = member_hub.client.get(f"/v1/ndxp/messages/{message_id}", headers=member_hub.admin)
    [entry] = logged.json()["items"]
    assert entry["direction"] == "in" and entry["accepted"] is True
    assert entry["client"] == BCT and entry["service"] == f"{HUB_MEMBER}/tax.einvoice"
    assert entry["status_code"] == 200 and entry["error_type"] is None
    assert entry["request_hash"] == request_hash(message_id, b"")
    assert entry["response_hash"] and entry["path"] == "/ndxp/tax.einvoice/records?after=0&limit=2"


def test_a_right_with_fields_limits_what_the_member_reads(member_hub: Hub) -> None:
    grant(member_hub, fields=["invoice_id", "total_amount"])
    page = ndxp_call(member_hub, "/ndxp/tax.einvoice/records").json()
    assert {tuple(sorted(i["data"])) for i in page["items"]} == {("invoice_id", "total_amount")}


def test_a_call_without_proof_is_refused_even_with_an_admin_key(member_hub: Hub) -> None:
    direct = member_hub.client.get("/ndxp/tax.einvoice/records", headers=member_hub.admin)
    body = refused(direct, 401, "caller.invalid_proof")
    assert "through NDXP" in body["message"]


def test_forged_stale_and_tampered_proofs_are_refused(member_hub: Hub) -> None:
    path = "/ndxp/tax.einvoice/records?after=0"
    refused(ndxp_call(member_hub, path, key="not-the-key"), 401, "caller.invalid_proof")
    stale = ndxp_call(member_hub, path, timestamp=int(time.time()) - 301)
    assert "timestamp" in refused(stale, 401, "caller.invalid_proof")["message"]
    tampered_query = ndxp_call(member_hub, "/ndxp/tax.einvoice/records?after=2", signed_target=path)
    refused(tampered_query, 401, "caller.invalid_proof")
    tampered_body = ndxp_call(member_hub, path, body=b'{"x": 2}', signed_body=b'{"x": 1}')
    refused(tampered_body, 401, "caller.invalid_proof")
    posing = ndxp_call(member_hub, path, client=SBV, key="not-the-key")
    refused(posing, 401, "caller.invalid_proof")
    log = messages(member_hub, direction="in")
    assert [e["error_type"] for e in log] == ["caller.invalid_proof"] * 5
    assert not any(e["accepted"] for e in log)


def test_a_replayed_message_id_is_refused(member_hub: Hub) -> None:
    message_id = str(uuid.uuid4())
    first = ndxp_call(member_hub, "/ndxp/tax.einvoice/records", message_id=message_id)
    assert first.status_code == 200
    again = ndxp_call(member_hub, "/ndxp/tax.einvoice/records", message_id=message_id)
    refused(again, 409, "caller.replayed")
    entries = member_hub.client.get(
        f"/v1/ndxp/messages/{message_id}", headers=member_hub.admin
    ).json()["items"]
    assert [(e["status_code"], e["accepted"]) for e in entries] == [(200, True), (409, False)]


def test_member_without_right_and_unshared_or_unknown_datasets(member_hub: Hub) -> None:
    refused(ndxp_call(member_hub, "/ndxp/tax.einvoice/records", client=SBV), 403,
            "caller.access_denied")  # fmt: skip
    refused(ndxp_call(member_hub, "/ndxp/tax.nothing/records"), 404, "caller.unknown_service")
    refused(ndxp_call(member_hub, "/ndxp/tax.einvoice/other"), 404, "caller.unknown_service")
    refused(ndxp_call(member_hub, "/ndxp/tax.einvoice/records?limit=0"), 400,
            "caller.bad_request")  # fmt: skip
    assert member_hub.client.delete(
        f"/v1/ndxp/rights?client={BCT}&dataset_id=tax.einvoice", headers=member_hub.admin
    ).status_code == 204  # fmt: skip
    refused(ndxp_call(member_hub, "/ndxp/tax.einvoice/records"), 403, "caller.access_denied")


def test_database_down_is_the_providers_fault(member_hub: Hub) -> None:
    state = member_hub.client.app.state.hub  # type: ignore[attr-defined]

    def broken() -> Any:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    state.sessions, healthy = broken, state.sessions
    try:
        response = ndxp_call(member_hub, "/ndxp/tax.einvoice/records")
    finally:
        state.sessions = healthy
    refused(response, 503, "provider.unavailable")


def test_without_a_proof_key_the_hub_answers_no_ndxp_call(hub: Hub) -> None:
    publish(hub)
    grant(hub)
    refused(ndxp_call(hub, "/ndxp/tax.einvoice/records"), 503, "provider.unavailable")
    refused(hub.client.get("/ndxp/tax.einvoice/records"), 401, "caller.invalid_proof")


def test_message_log_tampering_is_detected(member_hub: Hub) -> None:
    for _ in range(3):
        assert ndxp_call(member_hub, "/ndxp/tax.einvoice/records").status_code == 200
    verify = member_hub.client.get("/v1/ndxp/messages/verify", headers=member_hub.admin).json()
    assert verify == {"valid": True, "checked": 3, "first_bad_id": None, "reason": None}
    engine = member_hub.client.app.state.hub.sessions.kw["bind"]  # type: ignore[attr-defined]
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE ndxp_messages SET client = 'VN/GOV/X/Y' WHERE id = 2")
    verify = member_hub.client.get("/v1/ndxp/messages/verify", headers=member_hub.admin).json()
    assert verify["valid"] is False and verify["first_bad_id"] == 2


# --- admin routes --------------------------------------------------------------------------------
def test_rights_are_listed_validated_and_revoked(member_hub: Hub) -> None:
    listed = member_hub.client.get("/v1/ndxp/rights", headers=member_hub.admin).json()["items"]
    assert [(r["client"], r["dataset_id"], r["fields"]) for r in listed] == [
        (BCT, "tax.einvoice", None)
    ]
    bad = member_hub.client.post(
        "/v1/ndxp/rights",
        json={"client": BCT, "dataset_id": "tax.einvoice", "fields": ["nope"]},
        headers=member_hub.admin,
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "fields"
    assert member_hub.client.post(
        "/v1/ndxp/rights", json={"client": "not a member id", "dataset_id": "tax.einvoice"},
        headers=member_hub.admin,
    ).status_code == 422  # fmt: skip
    gone = member_hub.client.delete(
        f"/v1/ndxp/rights?client={SBV}&dataset_id=tax.einvoice", headers=member_hub.admin
    )
    assert gone.status_code == 404


def test_registering_services_needs_ndxp(member_hub: Hub) -> None:
    response = member_hub.client.post("/v1/ndxp/services/register", headers=member_hub.admin)
    assert response.status_code == 409 and "FDXP_NDXP_URL" in response.json()["message"]


# --- reference checks, against a fake registry ---------------------------------------------------
class FakeNdxp:
    """NDXP's batch lookup of the enterprise registry, and the platform API, in memory."""

    def __init__(self) -> None:
        self.statuses: dict[str, str] = {}
        self.down = False
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        message_id = request.headers["X-Road-Id"]
        echo = {"X-Road-Id": message_id,
                "X-Road-Request-Hash": request_hash(message_id, request.content)}  # fmt: skip
        if self.down:
            return httpx.Response(
                503, json={"type": "platform.unavailable", "message": "down", "detail": "x"},
                headers=echo,
            )  # fmt: skip
        if request.url.path.endswith("/enterprise/lookup"):
            codes = orjson.loads(request.content)["tax_codes"]
            results = {
                c: {"name": f"Công ty {c}", "status": self.statuses[c]} if c in self.statuses
                else None
                for c in codes
            }  # fmt: skip
            return httpx.Response(200, json={"results": results}, headers=echo)
        if request.url.path in ("/services", "/rights"):
            return httpx.Response(201 if request.method == "POST" else 204, json={})
        return httpx.Response(404, json={"type": "caller.unknown_service", "message": "?"})

    def lookups(self) -> list[list[str]]:
        return [
            orjson.loads(r.content)["tax_codes"]
            for r in self.requests
            if r.url.path.endswith("/lookup")
        ]


ACTIVE, CLOSED, SUSPENDED, UNKNOWN = "0100109106", "0101248141", "0301440125", "9700000001"
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def partner_descriptor(dataset_id: str, on_unavailable: str) -> dict[str, Any]:
    return {
        "id": dataset_id, "title": "Trading partners", "owner": "TCT", "domain": "tax",
        "classification": "internal", "key": "partner_id", "ndxp": True,
        "schema": {"type": "record", "name": "Partner", "fields": [
            {"name": "partner_id", "type": "string"},
            {"name": "tax_code", "type": ["null", "string"], "default": None},
        ]},
        "quality": [
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "partner_id"}},
            {"type": ACTIVE_ENTERPRISE,
             "kwargs": {"column": "tax_code", "on_unavailable": on_unavailable}},
        ],
    }  # fmt: skip


@pytest.fixture
def fake_ndxp() -> FakeNdxp:
    fake = FakeNdxp()
    fake.statuses = {ACTIVE: "active", CLOSED: "closed", SUSPENDED: "suspended"}
    return fake


@pytest.fixture
def ref_hub(
    settings: Settings, quality_engine: QualityEngine, fake_ndxp: FakeNdxp
) -> Iterator[Hub]:
    settings.ndxp_url = "http://ndxp.test"
    settings.ndxp_token = "hub-token"
    app = create_app(
        settings,
        quality_engine=quality_engine,
        start_relay=False,
        ndxp_transport=httpx.MockTransport(fake_ndxp.handle),
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        hub = Hub(client=client, settings=settings)
        for dataset_id, policy in (("tax.partner", "reject"), ("tax.partner_deferred", "defer")):
            created = client.post(
                "/v1/datasets?status=active",
                json=partner_descriptor(dataset_id, policy),
                headers=hub.admin,
            )
            assert created.status_code == 201, created.text
        yield hub


def send(hub: Hub, dataset_id: str, codes: list[str | None], **headers: str) -> httpx.Response:
    records = [{"partner_id": f"p{i}", "tax_code": code} for i, code in enumerate(codes)]
    return hub.client.post(
        f"/v1/datasets/{dataset_id}/records",
        json={"records": records},
        headers={**hub.auth(hub.new_key("TCT")), **headers},
    )


def test_reference_rules_are_validated_as_quality_rules(ref_hub: Hub) -> None:
    bad = partner_descriptor("tax.partner_bad", "sometimes")
    response = ref_hub.client.post("/v1/datasets", json=bad, headers=ref_hub.admin)
    assert response.status_code == 422
    assert "on_unavailable" in response.text
    wrong_column = partner_descriptor("tax.partner_bad", "reject")
    wrong_column["quality"][1]["kwargs"]["column"] = "nope"
    response = ref_hub.client.post("/v1/datasets", json=wrong_column, headers=ref_hub.admin)
    assert response.status_code == 422 and "unknown column" in response.text


def test_reference_check_accepts_active_and_rejects_the_rest_in_one_lookup(
    ref_hub: Hub, fake_ndxp: FakeNdxp
) -> None:
    response = send(ref_hub, "tax.partner", [ACTIVE, CLOSED, SUSPENDED, UNKNOWN, None],
                    traceparent=TRACE)  # fmt: skip
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["accepted"] == 2 and answer["rejected"] == 3 and answer["deferred"] == 0
    errors = {e["index"]: e for e in answer["errors"]}
    assert set(errors) == {1, 2, 3}
    assert all(e["rule"] == ACTIVE_ENTERPRISE and e["field"] == "tax_code" for e in errors.values())
    assert "is closed" in errors[1]["message"] and "is suspended" in errors[2]["message"]
    assert "not a registered enterprise" in errors[3]["message"]
    assert [sorted(codes) for codes in fake_ndxp.lookups()] == [
        sorted([ACTIVE, CLOSED, SUSPENDED, UNKNOWN])
    ]
    # The NDXP call ran in the connector's trace, and the message log says so.
    [lookup] = [r for r in fake_ndxp.requests if r.url.path.endswith("/lookup")]
    assert lookup.headers["traceparent"].split("-")[1] == TRACE.split("-")[1]
    assert lookup.headers["X-Road-Client"] == HUB_MEMBER
    assert lookup.headers["Authorization"] == "Bearer hub-token"
    [out] = messages(ref_hub, direction="out")
    assert out["message_id"] == lookup.headers["X-Road-Id"] and out["status_code"] == 200
    assert out["traceparent"].split("-")[1] == TRACE.split("-")[1]
    rules = {r["rule"]: r for r in answer["quality"]}
    assert rules[ACTIVE_ENTERPRISE] == {
        "rule": ACTIVE_ENTERPRISE, "column": "tax_code", "passed": 2, "failed": 3,
    }  # fmt: skip
    # Cached: the same codes again cost no NDXP call.
    again = send(ref_hub, "tax.partner", [ACTIVE, CLOSED])
    assert again.json()["accepted"] == 1 and len(fake_ndxp.lookups()) == 1


def test_ndxp_down_rejects_or_defers_and_deferred_rows_are_rechecked(
    ref_hub: Hub, fake_ndxp: FakeNdxp
) -> None:
    fake_ndxp.down = True
    rejected = send(ref_hub, "tax.partner", [ACTIVE, CLOSED])
    assert rejected.status_code == 422
    assert all("could not be checked" in e["message"] for e in rejected.json()["errors"])
    deferred = send(ref_hub, "tax.partner_deferred", [ACTIVE, CLOSED, None], traceparent=TRACE)
    answer = deferred.json()
    assert deferred.status_code == 200
    assert answer["accepted"] == 3 and answer["rejected"] == 0 and answer["deferred"] == 2
    path = "/v1/datasets/tax.partner_deferred/rechecks"
    pending = ref_hub.client.get(path, headers=ref_hub.admin).json()["items"]
    assert [(r["value"], r["status"]) for r in pending] == [
        (ACTIVE, "pending"),
        (CLOSED, "pending"),
    ]
    assert {r["traceparent"] for r in pending} == {TRACE}
    rechecker = ref_hub.client.app.state.hub.rechecker  # type: ignore[attr-defined]
    assert rechecker.recheck_once() == 0  # still down: nothing resolved, one more attempt
    assert ref_hub.client.get(path, headers=ref_hub.admin).json()["items"][0]["attempts"] == 1

    fake_ndxp.down = False
    assert rechecker.recheck_once() == 2
    done = ref_hub.client.get(path, headers=ref_hub.admin).json()["items"]
    assert [(r["value"], r["status"]) for r in done] == [(ACTIVE, "passed"), (CLOSED, "failed")]
    [failed] = ref_hub.client.get(path, params={"status": "failed"}, headers=ref_hub.admin).json()[
        "items"
    ]
    assert failed["key"] == "p1" and "is closed" in failed["reason"]
    assert failed["seq"] == answer["first_seq"] + 1
    assert rechecker.recheck_once() == 0
    kbnn = ref_hub.auth(ref_hub.new_key("KBNN", "consumer"))
    assert ref_hub.client.get(path, headers=kbnn).status_code == 403


def test_validate_runs_reference_checks_without_storing(ref_hub: Hub) -> None:
    response = ref_hub.client.post(
        "/v1/datasets/tax.partner/validate",
        json={"records": [{"partner_id": "a", "tax_code": ACTIVE},
                          {"partner_id": "b", "tax_code": CLOSED}]},
        headers=ref_hub.auth(ref_hub.new_key("TCT")),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["valid"] == 1 and response.json()["invalid"] == 1


def test_one_trace_id_in_batch_audit_and_message_log(ref_hub: Hub) -> None:
    answer = send(ref_hub, "tax.partner", [ACTIVE], traceparent=TRACE).json()
    batch = ref_hub.client.get(f"/v1/batches/{answer['batch_id']}", headers=ref_hub.admin).json()
    assert batch["traceparent"] == TRACE
    audit = ref_hub.client.get(
        "/v1/audit", params={"action": "POST /v1/datasets/{dataset_id}/records"},
        headers=ref_hub.admin,
    ).json()["items"]  # fmt: skip
    assert audit[-1]["traceparent"] == TRACE
    assert ref_hub.client.get("/v1/audit/verify", headers=ref_hub.admin).json()["valid"] is True


def test_services_are_registered_with_an_openapi_description(
    ref_hub: Hub, fake_ndxp: FakeNdxp
) -> None:
    response = ref_hub.client.post("/v1/ndxp/services/register", headers=ref_hub.admin)
    assert response.status_code == 200, response.text
    services = {s["service_code"]: s for s in response.json()["services"]}
    assert {"tax.einvoice", "tax.partner", "treasury.budget_txn"} <= set(services)
    assert all(s["status"] == "registered" for s in services.values())
    posted = [orjson.loads(r.content) for r in fake_ndxp.requests if r.url.path == "/services"]
    einvoice = next(p for p in posted if p["service_code"] == "tax.einvoice")
    assert einvoice["openapi"]["openapi"] == "3.1.0"
    assert "/records" in einvoice["openapi"]["paths"]
