"""POST/GET of records through the gateway, on both databases: the contract, quarantine,
idempotency, and the uniform error body for every kind of bad request."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from catalog.models import Batch, OutboxEntry, QuarantinedRow, Record
from gateway.database import build_engine, session_factory
from tests.factories import einvoice, einvoices
from tests.support import Hub

URL = "/v1/datasets/tax.einvoice/records"


def assert_error_body(response, status: int, type_: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == type_
    assert isinstance(body["message"], str) and body["message"]
    assert body["detail"] == response.headers["X-Request-ID"]
    return body


def count_rows(hub: Hub, model) -> int:
    engine = build_engine(hub.settings.resolved_database_url)
    try:
        with session_factory(engine)() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        engine.dispose()


@pytest.fixture
def tct(hub: Hub) -> dict[str, str]:
    return hub.auth(hub.new_key("TCT"))


def test_good_batch_is_stored_and_paged_back(hub: Hub, tct) -> None:
    records = einvoices(25)
    response = hub.client.post(URL, json={"records": records}, headers=tct)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["accepted"], answer["rejected"], answer["errors"]) == (25, 0, [])
    assert (answer["first_seq"], answer["last_seq"]) == (1, 25)

    page1 = hub.client.get(URL, params={"limit": 10}, headers=tct).json()
    page2 = hub.client.get(
        URL, params={"after": page1["next_after"], "limit": 100}, headers=tct
    ).json()
    items = page1["items"] + page2["items"]
    assert [item["seq"] for item in items] == list(range(1, 26))
    assert [item["key"] for item in items] == [r["invoice_id"] for r in records]
    first = items[0]["data"]
    assert Decimal(first["total_amount"]) == Decimal(records[0]["total_amount"])
    assert first["issued_date"] == "2026-03-15"
    assert first["status"] == "issued"
    assert len({item["id"] for item in items}) == 25
    assert count_rows(hub, OutboxEntry) == 25


def test_bad_rows_go_to_quarantine_and_good_rows_are_kept(hub: Hub, tct) -> None:
    good = einvoices(5)
    bad_mst = einvoice(seller_tax_code="0100109107")  # wrong check digit
    bad_total = einvoice(total_amount="1")  # != total_before_tax + vat_amount
    wrong_type = einvoice(form_no="one")  # not an int
    records = [good[0], bad_mst, good[1], bad_total, good[2], wrong_type, good[3], good[4]]
    response = hub.client.post(URL, json={"records": records}, headers=tct)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (5, 3)
    by_index = {e["index"]: e for e in answer["errors"]}
    assert set(by_index) == {1, 3, 5}
    assert by_index[1]["field"] == "seller_tax_code"
    assert by_index[1]["rule"] == "expect_column_values_to_be_valid_mst"
    assert by_index[1]["key"] == bad_mst["invoice_id"]
    assert "total_amount" in by_index[3]["field"]
    assert by_index[5]["field"] == "form_no" and by_index[5]["rule"] == "type"

    quarantine = hub.client.get("/v1/datasets/tax.einvoice/quarantine", headers=tct).json()
    rows = {row["row_index"]: row for row in quarantine["items"]}
    assert set(rows) == {1, 3, 5}
    assert rows[5]["raw"] == wrong_type  # kept exactly as received
    assert rows[1]["errors"][0]["rule"] == "expect_column_values_to_be_valid_mst"
    stored = hub.client.get(URL, headers=tct).json()["items"]
    assert [item["key"] for item in stored] == [r["invoice_id"] for r in good[:5]]
    # one outbox row per accepted record and one per dead letter, in the same transaction
    assert count_rows(hub, OutboxEntry) == 8


def test_all_rows_rejected_answers_422_with_every_reason(hub: Hub, tct) -> None:
    records = [1, "x", {"invoice_id": 5}]
    response = hub.client.post(URL, json={"records": records}, headers=tct)
    body = assert_error_body(response, 422, "validation_error")
    assert body["accepted"] == 0 and body["rejected"] == 3
    assert {e["index"] for e in body["errors"]} == {0, 1, 2}
    assert {e["rule"] for e in body["errors"] if e["index"] == 0} == {"record"}
    fields = {e["field"] for e in body["errors"] if e["index"] == 2}
    assert {"invoice_id", "seller_tax_code"} <= fields
    # nothing is lost: the garbage is in quarantine, under the batch
    assert count_rows(hub, QuarantinedRow) == 3
    batch = hub.client.get(f"/v1/batches/{body['batch_id']}", headers=tct).json()
    assert (batch["accepted"], batch["rejected"]) == (0, 3)


def test_idempotency_key_returns_the_first_answer_and_writes_nothing(hub: Hub, tct) -> None:
    records = einvoices(4, seed=11)
    headers = {**tct, "Idempotency-Key": "tax-0-4"}
    first = hub.client.post(URL, json={"records": records}, headers=headers)
    again = hub.client.post(URL, json={"records": records}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json()["batch_id"] == first.json()["batch_id"]
    assert again.json()["replayed"] is True
    assert count_rows(hub, Record) == 4
    assert count_rows(hub, Batch) == 1

    other = hub.client.post(URL, json={"records": einvoices(4, seed=12)}, headers=headers)
    assert_error_body(other, 409, "conflict")
    assert count_rows(hub, Record) == 4


@pytest.mark.parametrize(
    ("body", "status", "type_"),
    [
        (b"{not json", 400, "bad_request"),
        (b"[]", 422, "validation_error"),
        (b'{"records": {}}', 422, "validation_error"),
        (b'{"records": []}', 422, "validation_error"),
        (b'{"records": [{}], "extra": 1}', 422, "validation_error"),
    ],
)
def test_malformed_bodies(hub: Hub, tct, body: bytes, status: int, type_: str) -> None:
    response = hub.client.post(
        URL, content=body, headers={**tct, "Content-Type": "application/json"}
    )
    assert_error_body(response, status, type_)
    assert count_rows(hub, Batch) == 0


def test_too_many_records_is_413(hub: Hub, tct) -> None:
    limit = hub.settings.max_batch_records
    response = hub.client.post(URL, json={"records": [{}] * (limit + 1)}, headers=tct)
    assert_error_body(response, 413, "payload_too_large")


def test_authentication_and_ownership(hub: Hub) -> None:
    body = {"records": einvoices(1)}
    assert_error_body(hub.client.post(URL, json=body), 401, "unauthorized")
    assert_error_body(
        hub.client.post(URL, json=body, headers=hub.auth("fdxp_not-a-key")), 401, "unauthorized"
    )
    assert_error_body(
        hub.client.post(URL, json=body, headers={"Authorization": "Basic abc"}),
        401,
        "unauthorized",
    )
    treasury = hub.auth(hub.new_key("KBNN", "publisher"))
    refused = assert_error_body(hub.client.post(URL, json=body, headers=treasury), 403, "forbidden")
    assert "TCT" in refused["message"]
    consumer = hub.auth(hub.new_key("TCT", "consumer"))
    assert_error_body(hub.client.post(URL, json=body, headers=consumer), 403, "forbidden")
    assert count_rows(hub, Record) == 0
    # the admin may publish on behalf of any unit
    assert hub.client.post(URL, json=body, headers=hub.admin).status_code == 200


def test_unknown_dataset_batch_and_route_are_404(hub: Hub, tct) -> None:
    response = hub.client.post(
        "/v1/datasets/tax.nothing/records", json={"records": einvoices(1)}, headers=tct
    )
    assert "tax.nothing" in assert_error_body(response, 404, "not_found")["message"]
    assert_error_body(hub.client.get("/v1/datasets/tax.nothing", headers=tct), 404, "not_found")
    assert_error_body(hub.client.get("/v1/batches/nope", headers=tct), 404, "not_found")
    assert_error_body(hub.client.get("/v1/nothing-here", headers=tct), 404, "not_found")


def test_query_validation_uses_the_uniform_body(hub: Hub, tct) -> None:
    body = assert_error_body(
        hub.client.get(URL, params={"limit": 0}, headers=tct), 422, "validation_error"
    )
    assert body["errors"][0]["field"] == "query.limit"


def test_keys_are_admin_only_and_check_the_unit(hub: Hub, tct) -> None:
    assert_error_body(
        hub.client.post("/v1/keys", json={"unit": "TCT", "role": "publisher"}, headers=tct),
        403,
        "forbidden",
    )
    assert_error_body(
        hub.client.post("/v1/keys", json={"unit": "XYZ", "role": "publisher"}, headers=hub.admin),
        422,
        "validation_error",
    )
    bad_role = hub.client.post("/v1/keys", json={"unit": "TCT", "role": "root"}, headers=hub.admin)
    assert assert_error_body(bad_role, 422, "validation_error")["errors"][0]["field"] == "role"


def test_dataset_and_batch_are_described(hub: Hub, tct) -> None:
    dataset = hub.client.get("/v1/datasets/tax.einvoice", headers=tct).json()
    assert dataset["owner"] == "TCT" and dataset["key"] == "invoice_id"
    assert dataset["topic"] == f"{hub.settings.topic_prefix}.tax.einvoice"
    assert dataset["schema"]["name"] == "Einvoice" and dataset["quality"]
    answer = hub.client.post(URL, json={"records": einvoices(3)}, headers=tct).json()
    batch = hub.client.get(f"/v1/batches/{answer['batch_id']}", headers=tct).json()
    assert (batch["received"], batch["accepted"], batch["first_seq"]) == (3, 3, 1)
    other_unit = hub.auth(hub.new_key("KBNN", "publisher"))
    forbidden = hub.client.get(f"/v1/batches/{answer['batch_id']}", headers=other_unit)
    assert_error_body(forbidden, 403, "forbidden")


def test_health_and_readiness(hub: Hub) -> None:
    assert hub.client.get("/healthz").json() == {"status": "ok"}
    ready = hub.client.get("/readyz").json()
    assert ready["database"] == "ok" and ready["outbox_unsent"] == 0


def test_a_rule_that_cannot_run_rejects_the_whole_batch_into_quarantine(hub: Hub, tct) -> None:
    """What could not be checked is not accepted, and nothing is lost: every row is kept in
    quarantine with the reason."""
    broken = [{"type": "expect_column_values_to_match_regex",
               "kwargs": {"column": "symbol", "regex": "("}}]  # fmt: skip
    put = hub.client.put(
        "/v1/datasets/tax.einvoice/quality", json={"expectations": broken}, headers=hub.admin
    )
    assert put.status_code == 200, put.text
    records = einvoices(3, seed=31)
    response = hub.client.post(URL, json={"records": records}, headers=tct)
    body = assert_error_body(response, 422, "validation_error")
    assert (body["accepted"], body["rejected"]) == (0, 3)
    quarantine = hub.client.get("/v1/datasets/tax.einvoice/quarantine", headers=tct).json()
    rows = {row["row_index"]: row for row in quarantine["items"]}
    assert set(rows) == {0, 1, 2}
    assert rows[2]["raw"] == records[2]
    assert "could not be evaluated" in rows[0]["errors"][0]["message"]
    assert count_rows(hub, Record) == 0
