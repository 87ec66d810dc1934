"""Keys, subscriptions, purpose-bound reads, the SSE stream, the audit chain, limits, and
hostile inputs: each refused cleanly with nothing changed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from gateway.app import create_app
from gateway.database import build_engine
from gateway.settings import Settings
from schemas.quality import QualityEngine
from tests.factories import einvoice, einvoices
from tests.support import ADMIN_KEY, Hub, poll_until

D = "/v1/datasets/tax.einvoice"


def error(response, status: int, type_: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == type_ and body["detail"] == response.headers["X-Request-ID"]
    assert "Traceback" not in response.text and "SELECT" not in response.text
    return body


def publish(hub: Hub, count: int = 3, seed: int = 1) -> list[dict]:
    records = einvoices(count, seed=seed)
    tct = hub.auth(hub.new_key("TCT"))
    assert (
        hub.client.post(f"{D}/records", json={"records": records}, headers=tct).status_code == 200
    )
    return records


def request_grant(hub: Hub, key: str, **body) -> dict:
    response = hub.client.post(
        "/v1/subscriptions",
        json={"dataset_id": "tax.einvoice", "purpose": "budget revenue reconciliation", **body},
        headers=hub.auth(key),
    )
    assert response.status_code == 201, response.text
    return response.json()


# --- keys --------------------------------------------------------------------------------------
def test_keys_are_listed_without_secrets_rotated_and_revoked_at_once(hub: Hub) -> None:
    created = hub.client.post(
        "/v1/keys",
        json={"unit": "TCT", "role": "publisher", "label": "tax connector"},
        headers=hub.admin,
    ).json()
    old = hub.auth(created["key"])
    assert hub.client.get(D, headers=old).status_code == 200
    listed = hub.client.get("/v1/keys", headers=hub.admin, params={"unit": "TCT"}).json()
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0] and "key_hash" not in listed[0]

    rotated = hub.client.post(f"/v1/keys/{created['id']}/rotate", headers=hub.admin).json()
    assert rotated["rotated_from"] == created["id"] and rotated["key"] != created["key"]
    error(hub.client.get(D, headers=old), 401, "unauthorized")
    new = hub.auth(rotated["key"])
    assert hub.client.get(D, headers=new).status_code == 200
    assert hub.client.delete(f"/v1/keys/{rotated['id']}", headers=hub.admin).json()["status"] == (
        "revoked"
    )
    error(hub.client.get(D, headers=new), 401, "unauthorized")
    error(hub.client.post(f"/v1/keys/{rotated['id']}/rotate", headers=hub.admin), 409, "conflict")
    error(hub.client.delete("/v1/keys/key_nope", headers=hub.admin), 404, "not_found")


def test_expired_keys_stop_working(hub: Hub) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=1)
    created = hub.client.post(
        "/v1/keys",
        json={"unit": "TCT", "role": "consumer", "expires_at": soon.isoformat()},
        headers=hub.admin,
    ).json()
    assert created["status"] == "active"
    poll_until(
        lambda: hub.client.get(D, headers=hub.auth(created["key"])).status_code == 401,
        timeout=10,
        what="the key to expire",
    )
    status = hub.client.get(f"/v1/keys/{created['id']}", headers=hub.admin).json()["status"]
    assert status == "expired"
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    error(
        hub.client.post(
            "/v1/keys",
            json={"unit": "TCT", "role": "consumer", "expires_at": past},
            headers=hub.admin,
        ),
        422,
        "validation_error",
    )


# --- subscriptions and reads -------------------------------------------------------------------
def test_confidential_data_needs_an_admins_approval(hub: Hub) -> None:
    records = publish(hub)
    kbnn = hub.new_key("KBNN", "consumer")
    error(hub.client.get(f"{D}/records", headers=hub.auth(kbnn)), 403, "forbidden")
    pending = request_grant(hub, kbnn)
    assert pending["status"] == "pending"
    error(hub.client.get(f"{D}/records", headers=hub.auth(kbnn)), 403, "forbidden")

    approved = hub.client.post(
        f"/v1/subscriptions/{pending['id']}/approve",
        json={"note": "Decision 123/QĐ"},
        headers=hub.admin,
    ).json()
    assert approved["status"] == "approved" and approved["decision_note"] == "Decision 123/QĐ"
    items = hub.client.get(f"{D}/records", headers=hub.auth(kbnn)).json()["items"]
    assert [i["key"] for i in items] == [r["invoice_id"] for r in records]

    revoked = hub.client.post(f"/v1/subscriptions/{pending['id']}/revoke", headers=hub.admin)
    assert revoked.json()["status"] == "revoked"
    error(hub.client.get(f"{D}/records", headers=hub.auth(kbnn)), 403, "forbidden")
    error(
        hub.client.post(f"/v1/subscriptions/{pending['id']}/approve", headers=hub.admin),
        409,
        "conflict",
    )
    mine = hub.client.get("/v1/subscriptions", headers=hub.auth(kbnn)).json()
    assert [s["id"] for s in mine] == [pending["id"]]


def test_rejected_requests_grant_nothing(hub: Hub) -> None:
    publish(hub)
    kbnn = hub.new_key("KBNN", "consumer")
    pending = request_grant(hub, kbnn)
    hub.client.post(f"/v1/subscriptions/{pending['id']}/reject", headers=hub.admin)
    error(hub.client.get(f"{D}/records", headers=hub.auth(kbnn)), 403, "forbidden")


def test_a_field_list_makes_reads_purpose_bound(hub: Hub) -> None:
    records = publish(hub)
    kbnn = hub.new_key("KBNN", "consumer")
    grant = request_grant(hub, kbnn, fields=["invoice_id", "total_amount"])
    hub.client.post(f"/v1/subscriptions/{grant['id']}/approve", headers=hub.admin)
    items = hub.client.get(f"{D}/records", headers=hub.auth(kbnn)).json()["items"]
    assert all(set(item["data"]) == {"invoice_id", "total_amount"} for item in items)
    assert items[0]["data"]["invoice_id"] == records[0]["invoice_id"]
    bad = hub.client.post(
        "/v1/subscriptions",
        json={
            "dataset_id": "tax.einvoice",
            "purpose": "reconciliation please",
            "fields": ["invoice_id", "password"],
        },
        headers=hub.auth(kbnn),
    )
    assert "password" in error(bad, 422, "validation_error")["errors"][0]["message"]


def test_grants_expire(hub: Hub) -> None:
    publish(hub)
    kbnn = hub.new_key("KBNN", "consumer")
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    grant = request_grant(hub, kbnn, expires_at=soon)
    hub.client.post(f"/v1/subscriptions/{grant['id']}/approve", headers=hub.admin)
    assert hub.client.get(f"{D}/records", headers=hub.auth(kbnn)).status_code == 200
    poll_until(
        lambda: hub.client.get(f"{D}/records", headers=hub.auth(kbnn)).status_code == 403,
        timeout=10,
        what="the grant to expire",
    )
    status = hub.client.get(f"/v1/subscriptions/{grant['id']}", headers=hub.auth(kbnn)).json()
    assert status["status"] == "expired"


def test_public_datasets_are_granted_at_once(hub: Hub) -> None:
    hub.client.patch(D, json={"classification": "public"}, headers=hub.admin)
    kbnn = hub.new_key("KBNN", "consumer")
    grant = request_grant(hub, kbnn)
    assert grant["status"] == "approved" and grant["decided_by"].startswith("auto")
    assert hub.client.get(f"{D}/records", headers=hub.auth(kbnn)).status_code == 200


def test_kafka_grants_say_where_to_read(hub: Hub) -> None:
    kbnn = hub.new_key("KBNN", "consumer")
    grant = request_grant(hub, kbnn, channel="kafka")
    error(
        hub.client.get(f"/v1/subscriptions/{grant['id']}/kafka", headers=hub.auth(kbnn)),
        409,
        "conflict",
    )
    hub.client.post(f"/v1/subscriptions/{grant['id']}/approve", headers=hub.admin)
    info = hub.client.get(f"/v1/subscriptions/{grant['id']}/kafka", headers=hub.auth(kbnn)).json()
    assert info["topic"] == hub.settings.topic("tax.einvoice")
    assert info["consumer_group"].startswith("fdxp.kbnn.") and info["registry_url"].endswith(
        "/registry"
    )
    # a Kafka grant is not a REST grant
    error(hub.client.get(f"{D}/records", headers=hub.auth(kbnn)), 403, "forbidden")


def test_incompatible_schema_changes_name_the_affected_subscriptions(hub: Hub) -> None:
    kbnn = hub.new_key("KBNN", "consumer")
    grant = request_grant(hub, kbnn)
    schema = hub.client.get(D, headers=hub.admin).json()["schema"]
    schema["fields"].append({"name": "note", "type": "string"})  # no default: not BACKWARD
    refused = hub.client.post(f"{D}/schemas", json={"schema": schema}, headers=hub.admin)
    body = error(refused, 409, "conflict")
    assert [c["subscription_id"] for c in body["affected_consumers"]] == [grant["id"]]
    assert body["errors"][0]["kind"]


def test_read_filters_time_key_and_latest_version(hub: Hub) -> None:
    tct = hub.auth(hub.new_key("TCT"))
    first = einvoice(status="issued")
    hub.client.post(f"{D}/records", json={"records": [first, einvoice()]}, headers=tct)
    middle = datetime.now(UTC)
    hub.client.post(
        f"{D}/records", json={"records": [{**first, "status": "cancelled"}]}, headers=tct
    )
    history = hub.client.get(
        f"{D}/records", headers=tct, params={"key": first["invoice_id"]}
    ).json()["items"]
    assert [i["data"]["status"] for i in history] == ["issued", "cancelled"]
    latest = hub.client.get(f"{D}/records", headers=tct, params={"view": "latest"}).json()
    statuses = {i["key"]: i["data"]["status"] for i in latest["items"]}
    assert len(latest["items"]) == 2 and statuses[first["invoice_id"]] == "cancelled"
    recent = hub.client.get(
        f"{D}/records", headers=tct, params={"since": middle.isoformat()}
    ).json()["items"]
    assert [i["data"]["status"] for i in recent] == ["cancelled"]
    older = hub.client.get(
        f"{D}/records", headers=tct, params={"until": middle.isoformat()}
    ).json()["items"]
    assert len(older) == 2


def test_sse_stream_resumes_with_last_event_id(hub: Hub) -> None:
    records = publish(hub, count=5)
    tct = hub.auth(hub.new_key("TCT", "consumer"))

    def events(headers: dict[str, str]) -> list[dict]:
        with hub.client.stream(
            "GET", f"{D}/stream", params={"idle_timeout": 0.2}, headers=headers
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            text_body = "".join(response.iter_text())
        out = []
        for block in text_body.split("\n\n"):
            lines = dict(
                line.split(": ", 1)
                for line in block.splitlines()
                if ": " in line and not line.startswith(":")
            )
            if lines.get("event") == "record":
                out.append({**orjson.loads(lines["data"]), "event_id": int(lines["id"])})
        return out

    everything = events(tct)
    assert [e["key"] for e in everything] == [r["invoice_id"] for r in records]
    assert [e["event_id"] for e in everything] == [1, 2, 3, 4, 5]
    resumed = events({**tct, "Last-Event-ID": "3"})
    assert [e["event_id"] for e in resumed] == [4, 5]
    error(hub.client.get(f"{D}/stream", headers={**tct, "Last-Event-ID": "x"}), 400, "bad_request")
    kbnn = hub.auth(hub.new_key("KBNN", "consumer"))
    error(hub.client.get(f"{D}/stream", headers=kbnn), 403, "forbidden")


# --- audit -------------------------------------------------------------------------------------
def test_calls_are_audited_and_tampering_is_detected(hub: Hub) -> None:
    tct_key = hub.new_key("TCT")
    hub.client.post(f"{D}/records", json={"records": einvoices(4)}, headers=hub.auth(tct_key))
    hub.client.get(f"{D}/records", headers=hub.auth(tct_key))
    hub.client.get("/v1/keys", headers=hub.auth(tct_key))  # denied
    hub.client.get(D, headers=hub.auth("fdxp_forged"))  # unauthenticated

    entries = hub.client.get("/v1/audit", headers=hub.admin, params={"limit": 1000}).json()
    reads = [e for e in entries["items"] if e["action"] == "GET /v1/datasets/{dataset_id}/records"]
    assert reads and reads[-1]["record_count"] == 4 and reads[-1]["unit"] == "TCT"
    assert reads[-1]["dataset_id"] == "tax.einvoice"
    denied = hub.client.get("/v1/audit", headers=hub.admin, params={"outcome": "denied"}).json()
    assert {e["status_code"] for e in denied["items"]} >= {401, 403}
    verify = hub.client.get("/v1/audit/verify", headers=hub.admin).json()
    assert verify["valid"] is True and verify["checked"] >= 6

    victim = reads[-1]["id"]
    engine = build_engine(hub.settings.resolved_database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET record_count = 0 WHERE id = :id"), {"id": victim})
    engine.dispose()
    broken = hub.client.get("/v1/audit/verify", headers=hub.admin).json()
    assert broken["valid"] is False and broken["first_bad_id"] == victim


def test_deleting_an_audit_row_is_detected(hub: Hub) -> None:
    for _ in range(3):
        hub.client.get("/v1/units", headers=hub.admin)
    engine = build_engine(hub.settings.resolved_database_url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = 2"))
    engine.dispose()
    broken = hub.client.get("/v1/audit/verify", headers=hub.admin).json()
    assert broken["valid"] is False and broken["first_bad_id"] == 2


# --- limits and hygiene ------------------------------------------------------------------------
@pytest.fixture
def strict_hub(database_url: str, tmp_path: Path, quality_engine: QualityEngine) -> Iterator[Hub]:
    settings = Settings(
        data_dir=str(tmp_path),
        database_url=database_url,
        admin_key=ADMIN_KEY,
        rate_limit_per_second=1,
        rate_limit_burst=3,
        max_batch_records=10,
        max_body_bytes=64 * 1024,
    )
    app = create_app(settings, quality_engine=quality_engine, start_relay=False)
    with TestClient(app) as client:
        yield Hub(client=client, settings=settings)


def test_rate_limit_per_key(strict_hub: Hub) -> None:
    key = strict_hub.auth(strict_hub.new_key("TCT"))
    statuses = [strict_hub.client.get(D, headers=key).status_code for _ in range(6)]
    assert statuses[:3] == [200, 200, 200] and 429 in statuses[3:]
    limited = strict_hub.client.get(D, headers=key)
    body = error(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) >= 1 and "1 requests/s" in body["message"]
    other = strict_hub.auth(strict_hub.new_key("KBNN"))
    assert strict_hub.client.get(D, headers=other).status_code == 200  # buckets are per key


def test_size_limits_name_the_limit(strict_hub: Hub) -> None:
    tct = strict_hub.auth(strict_hub.new_key("TCT"))
    too_many = strict_hub.client.post(f"{D}/records", json={"records": [{}] * 11}, headers=tct)
    assert "at most 10" in error(too_many, 413, "payload_too_large")["message"]
    huge = strict_hub.client.post(
        f"{D}/records",
        content=b'{"records": ["' + b"x" * 70_000 + b'"]}',
        headers={**tct, "Content-Type": "application/json"},
    )
    assert str(64 * 1024) in error(huge, 413, "payload_too_large")["message"]


def test_security_headers_and_no_cors(hub: Hub) -> None:
    response = hub.client.get(D, headers={**hub.admin, "Origin": "https://evil.example"})
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert "access-control-allow-origin" not in {k.lower() for k in response.headers}
    assert len(response.headers["X-Request-ID"]) >= 16


def test_hostile_inputs_get_clean_4xx_and_change_nothing(hub: Hub) -> None:
    tct_key = hub.new_key("TCT")
    tct = hub.auth(tct_key)
    before = hub.client.get(D, headers=hub.admin).json()["records"]
    forged = [
        {"Authorization": "Bearer " + tct_key[:-1]},  # truncated
        {"Authorization": "Bearer " + tct_key + "x"},  # extended
        {"Authorization": "Bearer " + "A" * 5000},  # absurdly long
        {"Authorization": "Bearer"},
        {"Authorization": tct_key},  # no scheme
        {"Authorization": "Bearer fdxp_' OR '1'='1"},
    ]
    for headers in forged:
        error(
            hub.client.post(f"{D}/records", json={"records": einvoices(1)}, headers=headers),
            401,
            "unauthorized",
        )
    for path in (
        "/v1/datasets/..%2F..%2Fetc%2Fpasswd",
        "/v1/datasets/" + "a" * 5000,
        "/v1/datasets/tax.einvoice%00",
        "/v1/batches/' OR 1=1 --",
    ):
        assert hub.client.get(path, headers=tct).status_code in (400, 403, 404, 422)
    injected = hub.client.get(
        "/v1/datasets", headers=tct, params={"q": "' OR 1=1; DROP TABLE datasets; --"}
    ).json()
    assert injected["total"] == 0
    assert hub.client.get("/v1/datasets", headers=tct).json()["total"] >= 1
    nested = b'{"records": [' + b"[" * 5000 + b"]" * 5000 + b"]}"
    response = hub.client.post(
        f"{D}/records", content=nested, headers={**tct, "Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500
    other_unit_batch = hub.client.get(
        "/v1/batches/00000000-0000-0000-0000-000000000000", headers=tct
    )
    error(other_unit_batch, 404, "not_found")
    assert hub.client.get(D, headers=hub.admin).json()["records"] == before
    assert hub.client.get("/v1/audit/verify", headers=hub.admin).json()["valid"] is True
