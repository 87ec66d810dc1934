"""The whole path on real parts: simulated tax system -> connector -> gateway (HTTP) ->
database -> relay -> broker -> a Kafka consumer decoding Confluent-framed Avro."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from connectors import run_connector
from schemas.codec import codec_for, unframe
from simulators.tax import generate
from tests.support import Hub, poll_until, read_topic

pytestmark = pytest.mark.integration
DATASET = "tax.einvoice"


def ground_truth(tax_db: Path) -> tuple[set[str], int]:
    """The invoice ids of the simulator's good rows, and how many rows it made bad."""
    with sqlite3.connect(tax_db) as conn:
        bad_ids = {row[0] for row in conn.execute("SELECT hoa_don_id FROM loi_mo_phong")}
        good = {
            f"{mst}-{form}-{symbol}-{number}"
            for row_id, mst, form, symbol, number in conn.execute(
                "SELECT id, mst_nban, khmshdon, khhdon, shdon FROM hoa_don"
            )
            if row_id not in bad_ids
        }
    return good, len(bad_ids)


def all_pages(hub: Hub, path: str, key: str) -> list[dict]:
    items: list[dict] = []
    after = 0
    while True:
        page = hub.client.get(path, params={"after": after, "limit": 1000}, headers=key).json()
        if not page["items"]:
            return items
        items += page["items"]
        after = page["next_after"]


def test_generated_invoices_reach_a_kafka_consumer(
    live_hub: Hub, broker: str, tmp_path: Path
) -> None:
    tax_db = tmp_path / "tax.db"
    generate(tax_db, 600, bad_share=0.15, seed=9)
    good, bad_count = ground_truth(tax_db)
    assert bad_count > 0 and len(good) + bad_count == 600

    summary = run_connector(
        "tax",
        hub_url=live_hub.url,
        api_key=live_hub.new_key("TCT"),
        source=tax_db,
        checkpoint_path=tmp_path / "tax.checkpoint.json",
        batch_size=100,
    )
    assert (summary.accepted, summary.rejected) == (len(good), bad_count)

    admin = live_hub.admin
    dataset = live_hub.client.get(f"/v1/datasets/{DATASET}", headers=admin).json()
    codec = codec_for(json.dumps(dataset["schema"]))
    messages = read_topic(
        broker,
        dataset["topic"],
        until=lambda m: len({dict(x.headers)["ce_id"] for x in m}) >= len(good),
        timeout=60,
    )
    decoded = set()
    for message in messages:
        schema_id, payload = unframe(message.value)
        assert schema_id == dataset["schema_id"]
        decoded.add(codec.decode(payload)["invoice_id"])
    assert decoded == good
    dead = read_topic(broker, dataset["dead_letter_topic"], until=lambda m: len(m) >= bad_count)
    assert len(dead) == bad_count


def test_connector_killed_mid_run_loses_and_duplicates_nothing(
    live_hub: Hub, tmp_path: Path
) -> None:
    tax_db = tmp_path / "tax.db"
    generate(tax_db, 1500, bad_share=0.1, seed=21)
    good, bad_count = ground_truth(tax_db)
    key = live_hub.new_key("TCT")
    checkpoint = tmp_path / "tax.checkpoint.json"
    command = [
        sys.executable,
        "-m",
        "gateway.cli",
        "connector",
        "run",
        "tax",
        "--source",
        str(tax_db),
        "--hub",
        live_hub.url,
        "--key",
        key,
        "--checkpoint",
        str(checkpoint),
        "--batch-size",
        "50",
    ]
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false"}
    kill_after = random.Random().randint(100, 1000)
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    admin = live_hub.admin

    def stored() -> int:
        return int(live_hub.client.get(f"/v1/datasets/{DATASET}", headers=admin).json()["records"])

    poll_until(
        lambda: stored() >= kill_after or first.poll() is not None,
        timeout=60,
        interval=0.01,
        what="the first run to publish",
    )
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert stored() < len(good), "the connector finished before it could be killed"

    second = subprocess.run(command, env=env, capture_output=True, timeout=120)
    assert second.returncode == 0, second.stderr.decode()[-2000:]

    records = all_pages(live_hub, f"/v1/datasets/{DATASET}/records", admin)
    keys = [item["key"] for item in records]
    assert len(keys) == len(set(keys)), "a record was stored twice"
    assert set(keys) == good
    quarantined = all_pages(live_hub, f"/v1/datasets/{DATASET}/quarantine", admin)
    assert len(quarantined) == bad_count
