"""The broker killed and restarted mid-stream (it comes back empty): ingest keeps answering,
the relay recreates the topic with the configured partitions and catches up, and an admin
replay rebuilds the whole topic from the database."""

from __future__ import annotations

import signal
import threading

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer

from gateway.app import create_app
from gateway.broker import EmbeddedBroker, free_port
from gateway.settings import Settings
from schemas.quality import QualityEngine
from tests.factories import einvoices
from tests.reliability.procs import DATASET, RECORDS, all_records, consume_by_ce_id
from tests.support import Hub, poll_until

pytestmark = pytest.mark.integration
PARTITIONS = 2  # Tansu would create an unknown topic with 4


def unsent(client: TestClient) -> int:
    return int(client.get("/readyz").json()["outbox_unsent"])


def test_broker_restart_mid_stream_then_replay_rebuilds_the_topic(
    settings: Settings, quality_engine: QualityEngine
) -> None:
    settings = settings.model_copy(
        update={"topic_partitions": PARTITIONS, "rate_limit_per_second": 0}
    )
    topic = settings.topic(DATASET)
    port = free_port()
    broker = EmbeddedBroker(port=port).start()
    app = create_app(settings, kafka_bootstrap=broker.bootstrap, quality_engine=quality_engine)
    batches = [einvoices(40, seed=700 + i) for i in range(12)]
    statuses: list[int] = []
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            hub = Hub(client=client, settings=settings)
            tct = hub.auth(hub.new_key("TCT"))
            relay = app.state.hub.relay

            def publish() -> None:
                for records in batches:
                    response = client.post(RECORDS, json={"records": records}, headers=tct)
                    statuses.append(response.status_code)

            publisher = threading.Thread(target=publish)
            publisher.start()
            poll_until(lambda: len(statuses) >= 3 and relay.published > 0, what="first batches")
            created_before = relay.topics_created
            assert broker._process is not None
            broker._process.send_signal(signal.SIGKILL)
            broker._process.wait(10)
            poll_until(lambda: len(statuses) >= 6, what="batches while the broker is down")
            broker = EmbeddedBroker(port=port).start()  # same address, no topics
            publisher.join(60)
            assert statuses == [200] * len(batches), "ingest must answer while the broker is away"

            poll_until(lambda: unsent(client) == 0, timeout=60, what="the relay to catch up")
            assert relay.topics_created > created_before, "the relay did not recreate the topic"
            consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap)
            try:
                assert consumer.partitions_for_topic(topic) == set(range(PARTITIONS))
            finally:
                consumer.close()

            stored = all_records(client, hub.admin)
            assert len(stored) == sum(len(b) for b in batches)
            answer = client.post(f"/v1/datasets/{DATASET}/replay", headers=hub.admin)
            assert answer.status_code == 202, answer.text
            assert answer.json() == {
                "dataset_id": DATASET,
                "queued": len(stored),
                "from_seq": 1,
                "to_seq": len(stored),
            }
            held = consume_by_ce_id(broker.bootstrap, topic, want={r["id"] for r in stored})
            assert held.keys() == {r["id"] for r in stored}
            sent_keys = {m.key.decode() for m in held.values()}
            assert sent_keys == {r["invoice_id"] for b in batches for r in b}
            poll_until(lambda: unsent(client) == 0, what="the replay to drain")
    finally:
        broker.stop()
