"""Helpers of the crash and outage tests: processes (gateway, connector), ground truth of the
tax simulator, paging the hub, and a consumer that dedupes by `ce_id`."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from gateway.messages import header
from tests.support import ADMIN_KEY, poll_until

DATASET = "tax.einvoice"
RECORDS = f"/v1/datasets/{DATASET}/records"


def hub_env(*, database_url: str, bootstrap: str, topic_prefix: str) -> dict[str, str]:
    """The environment of a gateway subprocess: its database, the broker, keys and topics."""
    return {
        **os.environ,
        "GX_ANALYTICS_ENABLED": "false",
        "FDXP_DATABASE_URL": database_url,
        "FDXP_KAFKA_BOOTSTRAP": bootstrap,
        "FDXP_ADMIN_KEY": ADMIN_KEY,
        "FDXP_TOPIC_PREFIX": topic_prefix,
        "FDXP_RATE_LIMIT_PER_SECOND": "0",  # these tests publish as fast as they can
    }


def start_gateway(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`fdxp run` as its own process, answering once `/readyz` does."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "run", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the gateway exited with {process.returncode}: {tail(log)}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    poll_until(ready, timeout=60, interval=0.1, what="the gateway to answer /readyz")
    return process


def kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(10)


def tail(path: Path, size: int = 3000) -> str:
    return path.read_text(errors="replace")[-size:] if path.exists() else ""


def connector_command(*, tax_db: Path, hub_url: str, key: str, checkpoint: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gateway.cli",
        "connector",
        "run",
        "tax",
        "--once",
        "--source",
        str(tax_db),
        "--hub",
        hub_url,
        "--key",
        key,
        "--checkpoint",
        str(checkpoint),
        "--batch-size",
        "50",
    ]


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


def all_records(client: httpx.Client, headers: dict[str, str]) -> list[dict]:
    """Every stored record of the dataset, by cursor paging."""
    items: list[dict] = []
    after = 0
    while True:
        response = client.get(RECORDS, params={"after": after, "limit": 1000}, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        if not page["items"]:
            return items
        items += page["items"]
        after = page["next_after"]


def consume_by_ce_id(
    bootstrap: str, topic: str, *, want: set[str], timeout: float = 60
) -> dict[str, Any]:
    """Read `topic` from the beginning until the `ce_id`s seen cover `want`; returns the
    messages deduplicated by `ce_id` (what a deduplicating consumer holds)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    held: dict[str, Any] = {}
    try:
        partitions = poll_until(
            lambda: consumer.partitions_for_topic(topic), timeout=timeout, what=f"topic {topic}"
        )
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        deadline = time.monotonic() + timeout
        while not want <= held.keys():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{topic}: {len(want - held.keys())} of {len(want)} records never arrived"
                )
            for batch in consumer.poll(timeout_ms=200).values():
                for message in batch:
                    held.setdefault(header(message.headers, "ce_id") or "", message)
    finally:
        consumer.close()
    return held
