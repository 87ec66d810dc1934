"""`POST /v1/datasets/{id}/replay`: re-queue stored records for the relay (admin only)."""

from __future__ import annotations

from tests.factories import einvoices
from tests.support import Hub

URL = "/v1/datasets/tax.einvoice/records"
REPLAY = "/v1/datasets/tax.einvoice/replay"


def unsent(hub: Hub) -> int:
    return int(hub.client.get("/readyz").json()["outbox_unsent"])


def test_replay_queues_the_stored_records_of_a_range(hub: Hub) -> None:
    tct = hub.auth(hub.new_key("TCT"))
    assert hub.client.post(URL, json={"records": einvoices(30, seed=41)}, headers=tct).is_success
    assert unsent(hub) == 30

    answer = hub.client.post(REPLAY, json={"from_seq": 5, "to_seq": 10}, headers=hub.admin)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"dataset_id": "tax.einvoice", "queued": 6, "from_seq": 5, "to_seq": 10}
    assert unsent(hub) == 36

    everything = hub.client.post(REPLAY, headers=hub.admin)
    assert everything.json() == {
        "dataset_id": "tax.einvoice",
        "queued": 30,
        "from_seq": 1,
        "to_seq": 30,
    }
    beyond = hub.client.post(REPLAY, json={"from_seq": 25, "to_seq": 99}, headers=hub.admin)
    assert beyond.json()["queued"] == 6
    assert unsent(hub) == 72


def test_replay_errors_use_the_uniform_body(hub: Hub) -> None:
    publisher = hub.auth(hub.new_key("TCT"))
    cases = [
        (REPLAY, {}, publisher, 403, "forbidden"),
        ("/v1/datasets/tax.nothing/replay", {}, hub.admin, 404, "not_found"),
        (REPLAY, {"from_seq": 10, "to_seq": 2}, hub.admin, 422, "validation_error"),
        (REPLAY, {"from_seq": 0}, hub.admin, 422, "validation_error"),
        (REPLAY, {"from": 1}, hub.admin, 422, "validation_error"),
    ]
    for path, body, headers, status, type_ in cases:
        response = hub.client.post(path, json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        error = response.json()
        assert error["type"] == type_ and error["message"] and error["detail"]
    assert unsent(hub) == 0
