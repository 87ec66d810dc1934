"""The simulated NDXP, served for real on a free port, with a tiny real provider (also served)
that checks NDXP's proof with its own key."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
import itertools
import json
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from simulators.customs import trader_msts
from simulators.ndxp import (
    LOOKUP_LIMIT,
    REGISTRY_MEMBER,
    EnterpriseRegistry,
    NdxpAdminError,
    Platform,
    bootstrap_member,
    free_port,
    proof,
    request_hash,
    running,
    set_faults,
    simulated_msts,
    unknown_mst,
    verify_proof,
)
from simulators.tax import is_valid_mst, seller_msts
from simulators.treasury import export
from tests.support import poll_until

ADMIN = "ndxp-admin-test-token"
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}
REGISTRY = f"/r/{REGISTRY_MEMBER}/enterprise"
_ids = itertools.count(1)


# --- a tiny real provider ----------------------------------------------------------------------
@dataclass
class Provider:
    """What the provider saw; `key` is set once NDXP gave the member its proof key."""

    key: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


def provider_app(state: Provider) -> FastAPI:
    app = FastAPI()

    @app.api_route("/ndxp/{code}/{rest:path}", methods=["GET", "POST"])
    async def serve(request: Request, code: str, rest: str) -> Any:
        body = await request.body()
        raw = request.scope["raw_path"].decode("ascii")
        query = request.scope["query_string"].decode("ascii")
        target = f"{raw}?{query}" if query else raw
        headers = dict(request.headers)
        valid = verify_proof(
            state.key,
            headers.get("x-ndxp-proof", ""),
            message_id=headers.get("x-road-id", ""),
            client=headers.get("x-road-client", ""),
            service_id=headers.get("x-road-service", ""),
            method=request.method,
            target=target,
            timestamp=headers.get("x-ndxp-timestamp", ""),
            body=body,
        )
        state.seen.append({"headers": headers, "target": target, "body": body, "valid": valid})
        if not valid:
            return JSONResponse({"type": "caller.unauthorized", "message": "bad proof"}, 401)
        if rest == "slow":
            await asyncio.sleep(2.0)
        if rest == "conflict":
            answer = {"type": "caller.conflict", "message": "the provider says no", "detail": "p1"}
            return JSONResponse(answer, 409)
        return {"ok": True, "code": code, "rest": rest, "echo": body.decode()}

    return app


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, port=port, log_level="warning", timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    poll_until(lambda: server.started, timeout=15, what="the test provider")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass
class World:
    platform: Platform
    url: str
    http: httpx.Client
    provider: Provider

    def member(self, provider_url: str | None = None) -> dict[str, Any]:
        member_id = f"VN/GOV/000.00.00.T{next(_ids):02d}/SUB"
        return bootstrap_member(self.url, ADMIN, member_id, f"Member {member_id}", provider_url)

    def call(
        self, caller: dict[str, Any], path: str, *, method: str = "GET", **kwargs: Any
    ) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {caller['token']}",
            "X-Road-Client": caller["member_id"],
            "X-Road-Id": str(uuid.uuid4()),
            **kwargs.pop("headers", {}),
        }
        return self.http.request(method, path, headers=headers, **kwargs)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    platform = Platform()
    state = Provider()
    with (
        serving(provider_app(state)) as provider_url,
        running(platform, admin_token=ADMIN) as url,
        httpx.Client(base_url=url, timeout=10, trust_env=False) as http,
    ):
        state.url = provider_url
        yield World(platform, url, http, state)


@pytest.fixture
def pair(world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    """A provider member (whose key the test provider checks) with one service, and a client
    member holding the right to it."""
    provider = world.member(world.provider.url)
    world.provider.key = provider["proof_key"]
    client = world.member()
    auth = {"Authorization": f"Bearer {provider['token']}"}
    service = {"service_code": "tax.einvoice", "title": "E-invoices", "openapi": openapi()}
    assert world.http.post("/services", json=service, headers=auth).status_code == 201
    right = {"client": client["member_id"], "service_code": "tax.einvoice"}
    assert world.http.post("/rights", json=right, headers=auth).status_code == 201
    return provider, client


def openapi() -> dict[str, Any]:
    return {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {"/records": {}}}


def doc_request_hash(message_id: str, body: bytes) -> str:
    """`X-Road-Request-Hash` as docs/ndxp-protocol.md words it."""
    inner = hashlib.sha256(body).hexdigest()
    return hashlib.sha256(f"{message_id}\n{inner}".encode()).hexdigest()


def assert_error(response: httpx.Response, status: int, kind: str, world: World) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == kind and body["message"]
    entry = world.http.get(f"/log/{body['detail']}", headers=ADMIN_AUTH).json()
    assert entry["error_type"] == kind and entry["status"] == status


# --- members, services, rights -----------------------------------------------------------------
def test_members_get_credentials_once_and_are_listed_without_secrets(world: World) -> None:
    created = world.member("http://127.0.0.1:9")
    assert set(created) >= {"member_id", "token", "proof_key"}
    assert created["token"] != created["proof_key"] and len(created["proof_key"]) == 64
    listed = world.http.get("/members", headers={"Authorization": f"Bearer {created['token']}"})
    mine = [m for m in listed.json() if m["member_id"] == created["member_id"]]
    assert mine == [
        {
            "member_id": created["member_id"],
            "name": f"Member {created['member_id']}",
            "provider_url": "http://127.0.0.1:9",
        }
    ]
    assert "token" not in listed.text and created["proof_key"] not in listed.text
    with pytest.raises(NdxpAdminError) as twice:
        bootstrap_member(world.url, ADMIN, created["member_id"], "again")
    assert twice.value.status == 409 and twice.value.body["type"] == "caller.conflict"
    with pytest.raises(NdxpAdminError) as bad:
        bootstrap_member(world.url, ADMIN, "GOV/X", "bad id")
    assert bad.value.status == 400
    as_member = world.http.post(
        "/members",
        json={"member_id": "VN/GOV/X/Y", "name": "n"},
        headers={"Authorization": f"Bearer {created['token']}"},
    )
    assert_error(as_member, 403, "caller.access_denied", world)


def test_services_are_registered_with_their_openapi(world: World) -> None:
    provider = world.member(world.provider.url)
    auth = {"Authorization": f"Bearer {provider['token']}"}
    doc = openapi()
    answer = world.http.post(
        "/services", json={"service_code": "customs.declaration", "title": "T", "openapi": doc},
        headers=auth,
    )  # fmt: skip
    sid = f"{provider['member_id']}/customs.declaration"
    assert answer.status_code == 201 and answer.json()["service_id"] == sid
    services = {s["service_id"]: s for s in world.http.get("/services", headers=auth).json()}
    assert services[sid] == {
        "service_id": sid,
        "provider": provider["member_id"],
        "service_code": "customs.declaration",
        "title": "T",
    }
    assert f"{REGISTRY_MEMBER}/enterprise" in services
    assert world.http.get(f"/services/{sid}/openapi", headers=auth).json() == doc
    registry_doc = world.http.get(f"/services/{REGISTRY_MEMBER}/enterprise/openapi", headers=auth)
    assert "/enterprises/{tax_code}" in registry_doc.json()["paths"]
    missing = world.http.get(f"/services/{provider['member_id']}/nope/openapi", headers=auth)
    assert_error(missing, 404, "caller.unknown_service", world)
    not_openapi = world.http.post(
        "/services", json={"service_code": "x", "openapi": {"paths": {}}}, headers=auth
    )
    assert_error(not_openapi, 400, "caller.bad_request", world)


def test_rights_are_granted_and_revoked_by_the_provider(world: World, pair: Any) -> None:
    provider, client = pair
    other = world.member()
    auth = {"Authorization": f"Bearer {provider['token']}"}
    path = f"/r/{provider['member_id']}/tax.einvoice/records"
    assert_error(world.call(other, path), 403, "caller.access_denied", world)
    right = {"client": other["member_id"], "service_code": "tax.einvoice"}
    # a member gives rights on its own services only
    stolen = world.http.post(
        "/rights", json={**right, "provider": provider["member_id"]},
        headers={"Authorization": f"Bearer {client['token']}"},
    )  # fmt: skip
    assert_error(stolen, 403, "caller.access_denied", world)
    assert world.http.post("/rights", json=right, headers=auth).status_code == 201
    assert world.call(other, path).status_code == 200
    listed = world.http.get("/rights", params={"provider": provider["member_id"]}, headers=auth)
    assert {r["client"] for r in listed.json()} == {client["member_id"], other["member_id"]}
    assert world.http.request("DELETE", "/rights", json=right, headers=auth).status_code == 204
    assert_error(world.call(other, path), 403, "caller.access_denied", world)
    # the platform admin may grant too, naming the provider
    as_admin = world.http.post(
        "/rights", json={**right, "provider": provider["member_id"]}, headers=ADMIN_AUTH
    )
    assert as_admin.status_code == 201
    assert world.call(other, path).status_code == 200


# --- routing -----------------------------------------------------------------------------------
def test_routing_forwards_every_header_with_a_proof_the_provider_verifies(
    world: World, pair: Any
) -> None:
    provider, client = pair
    trace = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
    message_id = str(uuid.uuid4())
    before = len(world.provider.seen)
    body = b'{"after": 5, "note": "b\xc3\xa1o c\xc3\xa1o"}'
    response = world.call(
        client,
        f"/r/{provider['member_id']}/tax.einvoice/records/x%2Fy?after=5&limit=2&q=a%20b",
        method="POST",
        content=body,
        headers={
            "X-Road-Id": message_id,
            "X-Road-UserId": "VN:CCCD:001099000123",
            "X-Road-Issue": "HS-2026-0042",
            "traceparent": trace,
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["ok"] is True and response.json()["echo"] == body.decode()
    assert response.headers["content-type"] == "application/json"
    assert response.headers["X-Road-Id"] == message_id
    assert response.headers["X-Road-Request-Hash"] == doc_request_hash(message_id, body)
    assert request_hash(message_id, body) == doc_request_hash(message_id, body)
    assert response.headers["traceparent"] == trace

    [seen] = world.provider.seen[before:]
    headers = seen["headers"]
    sid = f"{provider['member_id']}/tax.einvoice"
    assert seen["valid"] is True and seen["body"] == body
    assert seen["target"] == "/ndxp/tax.einvoice/records/x%2Fy?after=5&limit=2&q=a%20b"
    assert headers["x-road-client"] == client["member_id"]
    assert headers["x-road-service"] == sid
    assert headers["x-road-id"] == message_id
    assert headers["x-road-userid"] == "VN:CCCD:001099000123"
    assert headers["x-road-issue"] == "HS-2026-0042"
    assert headers["traceparent"] == trace
    assert headers["content-type"] == "application/json"
    assert abs(int(headers["x-ndxp-timestamp"]) - time.time()) < 30
    assert "authorization" not in headers  # the member's NDXP token stays with NDXP
    # the proof exactly as docs/ndxp-protocol.md words it, computed here from scratch
    signed = "\n".join(
        (message_id, client["member_id"], sid, "POST", seen["target"],
         headers["x-ndxp-timestamp"], hashlib.sha256(body).hexdigest())
    )  # fmt: skip
    expected = hmac.new(provider["proof_key"].encode(), signed.encode(), "sha256").hexdigest()
    assert headers["x-ndxp-proof"] == expected
    assert expected == proof(
        provider["proof_key"], message_id=message_id, client=client["member_id"],
        service_id=sid, method="POST", target=seen["target"],
        timestamp=headers["x-ndxp-timestamp"], body=body,
    )  # fmt: skip
    other_key = world.member()["proof_key"]
    assert not verify_proof(
        other_key, expected, message_id=message_id, client=client["member_id"],
        service_id=sid, method="POST", target=seen["target"],
        timestamp=headers["x-ndxp-timestamp"], body=body,
    )  # fmt: skip


def test_ndxp_starts_a_traceparent_when_the_caller_sends_none(world: World, pair: Any) -> None:
    provider, client = pair
    before = len(world.provider.seen)
    response = world.call(
        client, f"/r/{provider['member_id']}/tax.einvoice/records", headers={"traceparent": "junk"}
    )
    assert response.status_code == 200
    started = world.provider.seen[before]["headers"]["traceparent"]
    assert started != "junk" and started == response.headers["traceparent"]
    version, trace_id, span_id, flags = started.split("-")
    assert (version, len(trace_id), len(span_id), flags) == ("00", 32, 16, "01")


def test_the_exchange_log_records_each_routed_message(world: World, pair: Any) -> None:
    provider, client = pair
    message_id = f"log-{uuid.uuid4()}"
    path = f"/r/{provider['member_id']}/tax.einvoice/records"
    world.call(client, path, headers={"X-Road-Id": message_id})
    entries = world.http.get("/log", params={"message_id": message_id}, headers=ADMIN_AUTH).json()
    [entry] = entries["entries"]
    assert entry["client"] == client["member_id"] and entry["status"] == 200
    assert entry["service_id"] == f"{provider['member_id']}/tax.einvoice"
    assert entry["request_hash"] == doc_request_hash(message_id, b"")
    assert entry["error_type"] is None and entry["duration_ms"] > 0
    member_auth = {"Authorization": f"Bearer {client['token']}"}
    assert world.http.get("/log", headers=member_auth).status_code == 403


def test_caller_faults_are_refused_before_reaching_the_provider(world: World, pair: Any) -> None:
    provider, client = pair
    path = f"/r/{provider['member_id']}/tax.einvoice/records"
    before = len(world.provider.seen)
    routing = {"X-Road-Client": client["member_id"]}
    no_token = world.http.get(path, headers={**routing, "X-Road-Id": "1"})
    assert_error(no_token, 401, "caller.unauthorized", world)
    bad_token = world.call(client, path, headers={"Authorization": "Bearer forged"})
    assert_error(bad_token, 401, "caller.unauthorized", world)
    spoofed = world.call(client, path, headers={"X-Road-Client": provider["member_id"]})
    assert_error(spoofed, 403, "caller.access_denied", world)
    no_message_id = world.http.get(
        path, headers={**routing, "Authorization": f"Bearer {client['token']}"}
    )
    assert_error(no_message_id, 400, "caller.bad_request", world)
    unknown = world.call(client, f"/r/{provider['member_id']}/no.such/records")
    assert_error(unknown, 404, "caller.unknown_service", world)
    assert unknown.headers["X-Road-Id"]  # echoed on NDXP's own errors too
    no_right = world.call(world.member(), path)
    assert_error(no_right, 403, "caller.access_denied", world)
    admin = world.http.get(path, headers={**ADMIN_AUTH, "X-Road-Id": "a", "X-Road-Client": "x"})
    assert_error(admin, 403, "caller.access_denied", world)
    assert len(world.provider.seen) == before


def test_a_provider_error_answer_passes_through_unchanged(world: World, pair: Any) -> None:
    provider, client = pair
    response = world.call(client, f"/r/{provider['member_id']}/tax.einvoice/conflict")
    assert response.status_code == 409
    assert response.json() == {
        "type": "caller.conflict",
        "message": "the provider says no",
        "detail": "p1",
    }


def test_an_unreachable_provider_is_a_502_provider_fault(world: World) -> None:
    provider = world.member(f"http://127.0.0.1:{free_port()}")  # nothing listens there
    client = world.member()
    auth = {"Authorization": f"Bearer {provider['token']}"}
    world.http.post("/services", json={"service_code": "s", "openapi": openapi()}, headers=auth)
    world.http.post("/rights", json={"client": client["member_id"], "service_code": "s"},
                    headers=auth)  # fmt: skip
    response = world.call(client, f"/r/{provider['member_id']}/s/records")
    assert_error(response, 502, "provider.unreachable", world)


def test_a_slow_provider_is_a_504_provider_fault(world: World, pair: Any) -> None:
    provider, client = pair
    world.platform.provider_timeout = 0.3
    try:
        started = time.monotonic()
        response = world.call(client, f"/r/{provider['member_id']}/tax.einvoice/slow")
        assert_error(response, 504, "provider.timeout", world)
        assert time.monotonic() - started < 1.5
    finally:
        world.platform.provider_timeout = 10.0


def test_platform_faults_down_and_slow(world: World, pair: Any) -> None:
    provider, client = pair
    path = f"/r/{provider['member_id']}/tax.einvoice/records"
    try:
        assert set_faults(world.url, ADMIN, down=True) == {"down": True, "slow_ms": 0}
        assert_error_down = world.call(client, path)
        assert assert_error_down.status_code == 503
        assert assert_error_down.json()["type"] == "platform.unavailable"
        assert world.http.get("/health").status_code == 200
        set_faults(world.url, ADMIN, down=False, slow_ms=300)
        started = time.monotonic()
        assert world.call(client, path).status_code == 200
        assert time.monotonic() - started >= 0.3
    finally:
        set_faults(world.url, ADMIN, down=False, slow_ms=0)
    with pytest.raises(NdxpAdminError) as refused:
        set_faults(world.url, "not-the-admin", down=True)
    assert refused.value.status == 401


# --- the enterprise registry -------------------------------------------------------------------
def test_the_enterprise_registry_answers_single_lookups(world: World) -> None:
    caller = world.member()  # every member may use it from creation
    registry = EnterpriseRegistry()
    seller = next(m for m in seller_msts() if registry.lookup(m).status == "active")
    found = world.call(caller, f"{REGISTRY}/enterprises/{seller}")
    assert found.status_code == 200
    assert found.json()["tax_code"] == seller and found.json()["status"] == "active"
    assert found.json()["name"] == registry.lookup(seller).name
    [closed] = registry.sample("closed", 1)
    assert world.call(caller, f"{REGISTRY}/enterprises/{closed}").json()["status"] == "closed"
    missing = world.call(caller, f"{REGISTRY}/enterprises/{unknown_mst(random.Random(1))}")
    assert_error(missing, 404, "caller.not_found", world)
    assert missing.headers["X-Road-Id"]


def test_the_enterprise_registry_answers_batch_lookups(world: World) -> None:
    caller = world.member()
    sellers = seller_msts()[:5]
    unknown = unknown_mst(random.Random(2))
    codes = [*sellers, unknown, "not-a-code", f"{sellers[0][:9]}{(int(sellers[0][9]) + 1) % 10}"]
    response = world.call(caller, f"{REGISTRY}/lookup", method="POST", json={"tax_codes": codes})
    assert response.status_code == 200
    results = response.json()["results"]
    assert set(results) == set(codes)
    assert all(results[s]["name"].strip() and results[s]["status"] for s in sellers)
    assert [results[c] for c in codes[5:]] == [None, None, None]
    too_many = world.call(
        caller, f"{REGISTRY}/lookup", method="POST",
        json={"tax_codes": seller_msts(LOOKUP_LIMIT + 1)},
    )  # fmt: skip
    assert_error(too_many, 400, "caller.bad_request", world)
    bad_body = world.call(caller, f"{REGISTRY}/lookup", method="POST", json={"codes": []})
    assert_error(bad_body, 400, "caller.bad_request", world)


def test_the_registry_knows_every_mst_the_simulators_use(tmp_path: Any) -> None:
    registry = EnterpriseRegistry()
    populations = simulated_msts()
    assert populations["tax_sellers"] == seller_msts() and len(seller_msts()) == 40
    assert populations["customs_traders"] == trader_msts() and len(trader_msts()) == 30
    export(tmp_path, 300, rows_per_file=300, seed=11)
    [csv_file] = tmp_path.glob("*.csv")
    with csv_file.open(encoding="utf-8") as handle:
        payers = [row["MST người nộp"] for row in csv.DictReader(handle, delimiter=";")
                  if row.get("MST người nộp")]  # fmt: skip
    assert len(payers) > 100
    for mst in [*populations["tax_sellers"], *populations["customs_traders"], *payers]:
        assert registry.lookup(mst) is not None, mst
    branch = next(m for m in seller_msts() if "-" in m)
    parent = registry.lookup(branch.split("-")[0])
    assert parent is not None and registry.lookup(branch).status == parent.status


def test_the_registry_is_deterministic_with_realistic_shares() -> None:
    codes = [f"{n:09d}" for n in range(10_000_000, 10_000_000 + 60_000, 3)]
    msts = [f"{c}{d}" for c in codes if (d := _check(c)) is not None][:15_000]
    one, two, other = EnterpriseRegistry(), EnterpriseRegistry(), EnterpriseRegistry(seed=7)
    first = [one.lookup(m) for m in msts]
    assert first == [two.lookup(m) for m in msts]
    assert first != [other.lookup(m) for m in msts]
    statuses = Counter(e.status for e in first if e is not None)
    assert sum(statuses.values()) == len(msts)
    assert 0.04 < statuses["closed"] / len(msts) < 0.06
    assert 0.02 < statuses["suspended"] / len(msts) < 0.04
    names = {e.name for e in first if e is not None}
    assert len(names) > 1000
    forms = ("Công ty", "Doanh nghiệp", "Hợp tác xã", "Tổng công ty")
    assert all(n.startswith(forms) for n in names)
    assert one.sample("suspended", 3, seed=5) == two.sample("suspended", 3, seed=5)


def _check(first9: str) -> int | None:
    from simulators.tax import mst_check_digit

    return mst_check_digit(first9)


def test_unknown_msts_are_well_formed() -> None:
    rng = random.Random(3)
    for _ in range(50):
        code = unknown_mst(rng)
        assert is_valid_mst(code) and EnterpriseRegistry().lookup(code) is None


# --- the command line --------------------------------------------------------------------------
def test_the_command_line_prints_working_credentials() -> None:
    port = free_port()
    member = "VN/GOV/000.00.00.G12/FDXP"
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators.ndxp", "--admin-token", ADMIN, "--port", str(port),
         "--member", f"{member}=http://127.0.0.1:8000", "--member", "VN/GOV/000.00.00.G09/BCT"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        printed = json.loads(proc.stdout.readline())
        fdxp, bct = printed["members"]
        assert fdxp["member_id"] == member and fdxp["provider_url"] == "http://127.0.0.1:8000"
        assert bct["provider_url"] is None and len(bct["proof_key"]) == 64
        url = printed["url"]

        def lookup() -> httpx.Response | None:
            try:
                auth = {"Authorization": f"Bearer {fdxp['token']}"}
                return httpx.get(
                    f"{url}{REGISTRY}/enterprises/{seller_msts()[0]}",
                    headers={**auth, "X-Road-Client": member, "X-Road-Id": "cli-1"},
                    trust_env=False,
                )
            except httpx.TransportError:
                return None

        answer = poll_until(lookup, timeout=15, what="the NDXP command line")
        assert answer.status_code == 200 and answer.json()["tax_code"] == seller_msts()[0]
    finally:
        proc.terminate()
        proc.wait(10)
