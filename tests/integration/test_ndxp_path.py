"""The hub, the simulated NDXP and a second member together: reads of a shared dataset through
NDXP, every way of getting around NDXP refused with the right fault, reference checks against
the national enterprise registry (accept, reject, defer and re-check while NDXP is down), and
the message log's tamper evidence. Also measures the round-trip latency of a read through NDXP
(`pytest tests/integration/test_ndxp_path.py -k latency -s`)."""

from __future__ import annotations

import random
import secrets
import statistics
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine

from gateway.ndxp_client import request_hash
from gateway.ndxp_proof import sign
from schemas.reference import ACTIVE_ENTERPRISE
from simulators.ndxp import (
    EnterpriseRegistry,
    Platform,
    bootstrap_member,
    running,
    set_faults,
    unknown_mst,
)
from tests.factories import einvoices
from tests.support import Hub, poll_until

pytestmark = pytest.mark.integration

HUB_MEMBER = "VN/GOV/000.00.00.G12/FDXP"
BCT = "VN/GOV/000.00.00.G09/BCT"  # Bộ Công Thương: reads the hub's e-invoices
SBV = "VN/GOV/000.00.00.G10/NHNN"  # the State Bank: no right
ADMIN_TOKEN = "ndxp-admin-" + secrets.token_urlsafe(16)
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
SERVICE = "tax.einvoice"


@dataclass
class Joined:
    hub: Hub
    ndxp_url: str
    members: dict[str, dict[str, Any]]
    http: httpx.Client  # the members' client: keeps its connection to NDXP, as a member would

    def via_ndxp(
        self,
        member: str,
        path: str,
        *,
        message_id: str | None = None,
        service: str = SERVICE,
        provider: str = HUB_MEMBER,
    ) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {self.members[member]['token']}",
            "X-Road-Client": member,
            "X-Road-Id": message_id or str(uuid.uuid4()),
            "X-Road-UserId": "VN-CCCD-001099012345",
            "traceparent": TRACE,
        }
        url = f"{self.ndxp_url}/r/{provider}/{service}{path}"
        return self.http.get(url, headers=headers)

    def direct(
        self, target: str, *, key: str, message_id: str, signed_target: str | None = None
    ) -> httpx.Response:
        """A call straight to the hub, posing as NDXP with a proof signed by `key`."""
        stamp = str(int(time.time()))
        proof = sign(
            key, message_id=message_id, client=BCT, service_id=f"{HUB_MEMBER}/{SERVICE}",
            method="GET", target=signed_target or target, timestamp=stamp, body=b"",
        )  # fmt: skip
        headers = {
            "X-Road-Client": BCT,
            "X-Road-Id": message_id,
            "X-NDXP-Timestamp": stamp,
            "X-NDXP-Proof": proof,
        }
        return self.hub.client.get(target, headers=headers)

    def admin_post(self, path: str, body: Any = None) -> httpx.Response:
        return self.hub.client.post(path, json=body, headers=self.hub.admin)


def fault(response: httpx.Response, status: int, type_: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["type"] == type_, response.text


@pytest.fixture
def ndxp_url() -> Iterator[str]:
    with running(Platform(), admin_token=ADMIN_TOKEN) as url:
        yield url


@pytest.fixture
def members_http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30, trust_env=False) as client:
        yield client


@pytest.fixture
def joined(live_hub: Hub, ndxp_url: str, members_http: httpx.Client) -> Joined:
    """The hub joined to NDXP as a member (provider_url = the live hub), its services
    registered, e-invoices published, BCT given the right in the hub and at NDXP."""
    hub_member = bootstrap_member(
        ndxp_url, ADMIN_TOKEN, HUB_MEMBER, "FDXP", provider_url=live_hub.url
    )
    settings = live_hub.settings  # the running hub reads its NDXP settings at each use
    settings.ndxp_url = ndxp_url
    settings.ndxp_token = hub_member["token"]
    settings.ndxp_proof_key = hub_member["proof_key"]
    settings.ndxp_recheck_interval_seconds = 0.2
    members = {HUB_MEMBER: hub_member}
    for member_id, name in ((BCT, "Bộ Công Thương"), (SBV, "Ngân hàng Nhà nước")):
        members[member_id] = bootstrap_member(ndxp_url, ADMIN_TOKEN, member_id, name)
    world = Joined(hub=live_hub, ndxp_url=ndxp_url, members=members, http=members_http)

    registered = world.admin_post("/v1/ndxp/services/register")
    assert registered.status_code == 200, registered.text
    statuses = {s["service_code"]: s["status"] for s in registered.json()["services"]}
    assert statuses[SERVICE] == "registered", statuses
    tct = live_hub.auth(live_hub.new_key("TCT"))
    published = live_hub.client.post(
        f"/v1/datasets/{SERVICE}/records", json={"records": einvoices(5, seed=3)}, headers=tct
    )
    assert published.status_code == 200, published.text
    granted = world.admin_post(
        "/v1/ndxp/rights",
        {"client": BCT, "dataset_id": SERVICE, "fields": ["invoice_id", "total_amount"]},
    )
    assert granted.status_code == 201 and granted.json()["platform"] == "done", granted.text
    return world


def test_a_permitted_member_reads_a_shared_dataset_through_ndxp(joined: Joined) -> None:
    message_id = str(uuid.uuid4())
    response = joined.via_ndxp(BCT, "/records?after=1&limit=3", message_id=message_id)
    assert response.status_code == 200, response.text
    page = response.json()
    assert [i["seq"] for i in page["items"]] == [2, 3, 4] and page["next_after"] == 4
    assert {tuple(sorted(i["data"])) for i in page["items"]} == {("invoice_id", "total_amount")}
    assert response.headers["X-Road-Id"] == message_id
    assert response.headers["X-Road-Request-Hash"] == request_hash(message_id, b"")
    [entry] = joined.hub.client.get(
        f"/v1/ndxp/messages/{message_id}", headers=joined.hub.admin
    ).json()["items"]
    assert entry["direction"] == "in" and entry["client"] == BCT and entry["status_code"] == 200
    assert entry["request_hash"] == response.headers["X-Road-Request-Hash"]
    assert entry["traceparent"] == TRACE and entry["user_id"] == "VN-CCCD-001099012345"
    audit = joined.hub.client.get(
        "/v1/audit", params={"action": "GET /ndxp/{dataset_id}/records"},
        headers=joined.hub.admin,
    ).json()["items"]  # fmt: skip
    assert audit[-1]["traceparent"] == TRACE and audit[-1]["record_count"] == 3


def test_everyone_who_should_not_get_through_is_refused_with_the_right_fault(
    joined: Joined,
) -> None:
    # No right at NDXP: NDXP refuses (its own caller fault).
    fault(joined.via_ndxp(SBV, "/records"), 403, "caller.access_denied")
    # A right at NDXP but none in the hub: the hub refuses, NDXP passes its answer through.
    hub_token = joined.members[HUB_MEMBER]["token"]
    at_ndxp = httpx.post(
        f"{joined.ndxp_url}/rights", json={"client": SBV, "service_code": SERVICE},
        headers={"Authorization": f"Bearer {hub_token}"}, trust_env=False,
    )  # fmt: skip
    assert at_ndxp.status_code == 201, at_ndxp.text
    fault(joined.via_ndxp(SBV, "/records"), 403, "caller.access_denied")
    # A dataset the hub does not share.
    fault(joined.via_ndxp(BCT, "/nothing"), 404, "caller.unknown_service")

    # Replayed: the same message id through NDXP again.
    message_id = str(uuid.uuid4())
    assert joined.via_ndxp(BCT, "/records", message_id=message_id).status_code == 200
    fault(joined.via_ndxp(BCT, "/records", message_id=message_id), 409, "caller.replayed")
    # Replayed by someone who captured the proof: valid HMAC, used message id.
    key = joined.members[HUB_MEMBER]["proof_key"]
    target = f"/ndxp/{SERVICE}/records"
    fault(joined.direct(target, key=key, message_id=message_id), 409, "caller.replayed")
    # Forged: signed with a key that is not NDXP's.
    forged = joined.direct(target, key="a-guess", message_id=str(uuid.uuid4()))
    fault(forged, 401, "caller.invalid_proof")
    # Tampered: the proof of one query, sent with another.
    tampered = joined.direct(
        f"{target}?after=0&limit=5000",
        key=key,
        message_id=str(uuid.uuid4()),
        signed_target=f"{target}?after=0&limit=1",
    )
    fault(tampered, 401, "caller.invalid_proof")
    # Skipping NDXP altogether, even with the hub's own admin key.
    fault(joined.hub.client.get(target, headers=joined.hub.admin), 401, "caller.invalid_proof")

    log = joined.hub.client.get(
        "/v1/ndxp/messages", params={"direction": "in"}, headers=joined.hub.admin
    ).json()["items"]
    assert [e["error_type"] for e in log] == [
        "caller.access_denied", "caller.unknown_service", None, "caller.replayed",
        "caller.replayed", "caller.invalid_proof", "caller.invalid_proof",
        "caller.invalid_proof",
    ]  # fmt: skip


def partner(dataset_id: str, on_unavailable: str) -> dict[str, Any]:
    return {
        "id": dataset_id, "title": "Trading partners", "owner": "TCT", "domain": "tax",
        "classification": "internal", "key": "partner_id",
        "schema": {"type": "record", "name": "Partner", "fields": [
            {"name": "partner_id", "type": "string"}, {"name": "tax_code", "type": "string"},
        ]},
        "quality": [
            {"type": "expect_column_values_to_be_valid_mst", "kwargs": {"column": "tax_code"}},
            {"type": ACTIVE_ENTERPRISE,
             "kwargs": {"column": "tax_code", "on_unavailable": on_unavailable}},
        ],
    }  # fmt: skip


def test_reference_checks_accept_reject_and_defer_then_recheck(joined: Joined) -> None:
    hub = joined.hub
    for dataset_id, policy in (("tax.partner", "reject"), ("tax.partner_deferred", "defer")):
        created = hub.client.post(
            "/v1/datasets?status=active", json=partner(dataset_id, policy), headers=hub.admin
        )
        assert created.status_code == 201, created.text
    registry = EnterpriseRegistry()
    active = registry.sample("active", 3, seed=1)
    closed = registry.sample("closed", 2, seed=2)
    unknown = unknown_mst(random.Random(4))
    tct = hub.auth(hub.new_key("TCT"))

    def send(dataset_id: str, codes: list[str]) -> dict[str, Any]:
        records = [{"partner_id": f"{dataset_id}-{c}", "tax_code": c} for c in codes]
        response = hub.client.post(
            f"/v1/datasets/{dataset_id}/records", json={"records": records},
            headers={**tct, "traceparent": TRACE},
        )  # fmt: skip
        assert response.status_code in (200, 422), response.text
        return dict(response.json())

    checked = send("tax.partner", [active[0], closed[0], unknown])
    assert checked["accepted"] == 1 and checked["rejected"] == 2
    reasons = {e["index"]: e["message"] for e in checked["errors"]}
    assert "is closed" in reasons[1] and "not a registered enterprise" in reasons[2]
    assert all(e["rule"] == ACTIVE_ENTERPRISE for e in checked["errors"])

    set_faults(joined.ndxp_url, ADMIN_TOKEN, down=True)
    try:
        refused = send("tax.partner", [active[1]])
        assert (
            refused["rejected"] == 1 and "could not be checked" in refused["errors"][0]["message"]
        )
        deferred = send("tax.partner_deferred", [active[2], closed[1]])
        assert deferred["accepted"] == 2 and deferred["deferred"] == 2
        pending = hub.client.get(
            "/v1/datasets/tax.partner_deferred/rechecks", headers=hub.admin
        ).json()["items"]
        assert {r["status"] for r in pending} == {"pending"}
    finally:
        set_faults(joined.ndxp_url, ADMIN_TOKEN, down=False)

    def resolved() -> list[dict[str, Any]] | None:
        items = hub.client.get(
            "/v1/datasets/tax.partner_deferred/rechecks", headers=hub.admin
        ).json()["items"]
        return items if all(r["status"] != "pending" for r in items) else None

    done = poll_until(resolved, timeout=30, what="the deferred rows re-checked")
    assert {r["value"]: r["status"] for r in done} == {active[2]: "passed", closed[1]: "failed"}
    # The registry lookups ran in the connector's trace.
    registry_service = "VN/GOV/000.00.00.H26/DKKD/enterprise"
    outbound = hub.client.get(
        "/v1/ndxp/messages",
        params={"direction": "out", "service": registry_service},
        headers=hub.admin,
    ).json()["items"]
    assert outbound and all(e["traceparent"].split("-")[1] == TRACE.split("-")[1]
                            for e in outbound)  # fmt: skip
    assert {e["status_code"] for e in outbound} == {200, 503}


def test_message_log_tampering_is_detected(joined: Joined) -> None:
    for _ in range(3):
        assert joined.via_ndxp(BCT, "/records").status_code == 200
    verify = joined.hub.client.get("/v1/ndxp/messages/verify", headers=joined.hub.admin).json()
    assert verify["valid"] is True and verify["checked"] >= 6  # outbound registrations too
    engine = create_engine(joined.hub.settings.resolved_database_url)
    try:
        with engine.begin() as connection:
            last = connection.exec_driver_sql(
                "SELECT max(id) FROM ndxp_messages WHERE direction = 'in'"
            ).scalar_one()
            connection.exec_driver_sql(
                f"UPDATE ndxp_messages SET status_code = 403 WHERE id = {int(last)}"
            )
    finally:
        engine.dispose()
    verify = joined.hub.client.get("/v1/ndxp/messages/verify", headers=joined.hub.admin).json()
    assert verify["valid"] is False and verify["first_bad_id"] == last


def test_read_latency_through_ndxp(joined: Joined, database_url: str) -> None:
    """Round trip member -> NDXP -> hub -> NDXP -> member, one page of 5 records, 50 calls in
    a row over a kept-alive connection; the hub logs each exchange (message log + audit)."""
    for _ in range(5):  # warm up connections and caches
        assert joined.via_ndxp(BCT, "/records?limit=5").status_code == 200
    timings = []
    for _ in range(50):
        started = time.perf_counter()
        response = joined.via_ndxp(BCT, "/records?limit=5")
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    timings.sort()
    p50 = statistics.median(timings)
    p95 = timings[int(len(timings) * 0.95) - 1]
    backend = database_url.split(":", 1)[0]
    print(f"\nNDXP read round trip ({backend}): p50 {p50:.1f} ms, p95 {p95:.1f} ms, n=50")
    assert p95 < 2000
