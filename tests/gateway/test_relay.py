"""The outbox relay against the real broker: message format, dead letters, broker outages."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.broker import EmbeddedBroker, free_port
from gateway.messages import header
from schemas.codec import codec_for, unframe
from schemas.quality import QualityEngine
from tests.factories import einvoice, einvoices
from tests.support import Hub, poll_until, read_topic

pytestmark = pytest.mark.integration
URL = "/v1/datasets/tax.einvoice/records"


def test_records_reach_the_topic_in_the_hub_format(live_hub: Hub, broker: str) -> None:
    tct = live_hub.auth(live_hub.new_key("TCT"))
    records = einvoices(30, seed=3)
    answer = live_hub.client.post(URL, json={"records": records}, headers=tct).json()
    dataset = live_hub.client.get("/v1/datasets/tax.einvoice", headers=tct).json()
    codec = codec_for(json.dumps(dataset["schema"]))

    messages = read_topic(broker, dataset["topic"], until=lambda m: len(m) >= 30)
    assert len(messages) == 30
    by_key = {m.key.decode(): m for m in messages}
    assert set(by_key) == {r["invoice_id"] for r in records}
    first = by_key[records[0]["invoice_id"]]
    assert first.value[0] == 0  # Confluent magic byte
    schema_id, payload = unframe(first.value)
    assert schema_id == dataset["schema_id"]
    assert codec.to_json(codec.decode(payload))["invoice_id"] == records[0]["invoice_id"]
    headers = dict(first.headers)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_source"] == b"/fdxp/units/TCT"
    assert headers["ce_type"] == b"vn.gov.mof.fdxp.tax.einvoice.v1"
    assert headers["content-type"] == b"application/avro"
    assert headers["fdxp_batch_id"].decode() == answer["batch_id"]
    assert headers["traceparent"].startswith(b"00-")
    seqs = sorted(int(header(m.headers, "fdxp_seq") or 0) for m in messages)
    assert seqs == list(range(1, 31))
    stored = live_hub.client.get(URL, headers=tct).json()["items"]
    assert {m.key.decode(): header(m.headers, "ce_id") for m in messages} == {
        item["key"]: item["id"] for item in stored
    }
    # marked sent only once acknowledged: the outbox drains to zero
    poll_until(
        lambda: live_hub.client.get("/readyz").json()["outbox_unsent"] == 0, what="outbox drained"
    )


def test_rejected_rows_go_to_the_dead_letter_topic(live_hub: Hub, broker: str) -> None:
    tct = live_hub.auth(live_hub.new_key("TCT"))
    bad = einvoice(vat_rate="7")
    live_hub.client.post(URL, json={"records": [einvoice(), bad]}, headers=tct)
    topic = live_hub.settings.dead_letter_topic("tax.einvoice")
    messages = read_topic(broker, topic, until=lambda m: len(m) >= 1)
    assert len(messages) == 1
    dead = messages[0]
    assert dead.key.decode() == bad["invoice_id"]
    assert json.loads(dead.value) == bad
    assert header(dead.headers, "fdxp_rules") == "expect_column_values_to_be_in_set"
    reasons = json.loads(header(dead.headers, "fdxp_errors") or "[]")
    assert reasons[0]["field"] == "vat_rate" and reasons[0]["index"] == 1


def test_ingest_keeps_accepting_while_the_broker_is_down(
    database_url: str, tmp_path: Path, quality_engine: QualityEngine
) -> None:
    """The relay points at a broker that is not there yet: ingest answers, the outbox waits;
    once the broker is up, the relay catches up by itself."""
    from gateway.settings import Settings
    from tests.support import ADMIN_KEY

    port = free_port()
    settings = Settings(
        data_dir=str(tmp_path),
        database_url=database_url,
        admin_key=ADMIN_KEY,
        topic_prefix="down.fdxp",
    )
    app = create_app(settings, kafka_bootstrap=f"127.0.0.1:{port}", quality_engine=quality_engine)
    with TestClient(app) as client:
        hub = Hub(client=client, settings=settings)
        tct = hub.auth(hub.new_key("TCT"))
        records = einvoices(20, seed=5)
        for chunk in (records[:10], records[10:]):
            response = client.post(URL, json={"records": chunk}, headers=tct)
            assert response.status_code == 200
        ready = client.get("/readyz").json()
        assert ready["outbox_unsent"] == 20
        poll_until(lambda: client.get("/readyz").json()["relay"]["last_error"], what="relay error")

        with EmbeddedBroker(port=port) as late_broker:
            poll_until(
                lambda: client.get("/readyz").json()["outbox_unsent"] == 0,
                timeout=60,
                what="relay catching up",
            )
            messages = read_topic(
                late_broker.bootstrap,
                settings.topic("tax.einvoice"),
                until=lambda m: len(m) >= 20,
            )
        assert {m.key.decode() for m in messages} == {r["invoice_id"] for r in records}


def test_concurrent_batches_get_contiguous_sequences(live_hub: Hub) -> None:
    """Parallel publishers of one dataset: sequence numbers are unique and gap-free, so a
    reader paging with `after` misses nothing."""
    tct = live_hub.auth(live_hub.new_key("TCT"))
    batches = [einvoices(20, seed=100 + i) for i in range(6)]
    answers: list[dict] = []

    def publish(records: list[dict]) -> None:
        response = live_hub.client.post(URL, json={"records": records}, headers=tct)
        answers.append(response.json())

    threads = [threading.Thread(target=publish, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(a["accepted"] for a in answers) == [20] * 6
    ranges = sorted((a["first_seq"], a["last_seq"]) for a in answers)
    assert ranges == [(1 + 20 * i, 20 * (i + 1)) for i in range(6)]
    items = live_hub.client.get(URL, params={"limit": 500}, headers=tct).json()["items"]
    assert [item["seq"] for item in items] == list(range(1, 121))


def test_fdxp_relay_runs_alone(hub: Hub, broker: str) -> None:
    """`fdxp relay` as its own process publishes what a gateway without a relay accepted."""
    import os
    import signal
    import subprocess
    import sys

    tct = hub.auth(hub.new_key("TCT"))
    records = einvoices(15, seed=8)
    assert hub.client.post(URL, json={"records": records}, headers=tct).status_code == 200
    assert hub.client.get("/readyz").json()["outbox_unsent"] == 15
    env = {
        **os.environ,
        "FDXP_DATABASE_URL": hub.settings.resolved_database_url,
        "FDXP_KAFKA_BOOTSTRAP": broker,
        "FDXP_TOPIC_PREFIX": hub.settings.topic_prefix,
        "FDXP_ADMIN_KEY": hub.settings.admin_key,
    }
    relay = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "relay"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        messages = read_topic(
            broker, hub.settings.topic("tax.einvoice"), until=lambda m: len(m) >= 15, timeout=60
        )
        poll_until(lambda: hub.client.get("/readyz").json()["outbox_unsent"] == 0)
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(30)
    assert relay.returncode == 0, relay.stderr.read() if relay.stderr else ""
    assert {m.key.decode() for m in messages} == {r["invoice_id"] for r in records}
