"""The gateway killed with SIGKILL in the middle of a stream of batches, then restarted on the
same port: every source record is stored exactly once and published at least once."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from gateway.broker import free_port
from simulators.tax import generate
from tests.reliability.procs import (
    DATASET,
    all_records,
    connector_command,
    consume_by_ce_id,
    ground_truth,
    hub_env,
    kill,
    start_gateway,
)
from tests.support import ADMIN_KEY, poll_until

pytestmark = pytest.mark.integration
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def test_gateway_killed_mid_stream_loses_and_duplicates_nothing(
    database_url: str, broker: str, tmp_path: Path
) -> None:
    tax_db = tmp_path / "tax.db"
    generate(tax_db, 1200, bad_share=0.1, seed=77)
    good, bad_count = ground_truth(tax_db)
    prefix = f"crash{uuid.uuid4().hex[:8]}.fdxp"
    env = hub_env(database_url=database_url, bootstrap=broker, topic_prefix=prefix)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "gateway.log"
    gateway = start_gateway(port, env, log)
    connector: subprocess.Popen[bytes] | None = None
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            created = client.post(
                "/v1/keys", json={"unit": "TCT", "role": "publisher"}, headers=ADMIN
            )
            assert created.status_code == 201, created.text
            command = connector_command(
                tax_db=tax_db,
                hub_url=url,
                key=created.json()["key"],
                checkpoint=tmp_path / "tax.checkpoint.json",
            )

            def stored() -> int:
                answer = client.get(f"/v1/datasets/{DATASET}", headers=ADMIN).json()
                return int(answer["records"])

            connector = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            # Kill the gateway while batches are in flight: some stored, most not yet.
            poll_until(
                lambda: stored() >= 200 or connector.poll() is not None,
                timeout=60,
                interval=0.01,
                what="the connector to publish a few batches",
            )
            kill(gateway)
            assert connector.poll() is None, "the connector finished before the gateway died"

            gateway = start_gateway(port, env, log)
            # The connector retries on its own; if it gave up while the gateway was down
            # (exit 1: "run again"), a re-run resumes from its checkpoint.
            for _ in range(5):
                code = connector.wait(120)
                if code == 0:
                    break
                assert code == 1, connector.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
                connector = subprocess.Popen(
                    command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
                )
            assert connector.returncode == 0

            records = all_records(client, ADMIN)
            keys = [item["key"] for item in records]
            assert len(keys) == len(set(keys)), "a record was stored twice"
            assert set(keys) == good
            stats = client.get(f"/v1/datasets/{DATASET}", headers=ADMIN).json()
            assert stats["records"] == len(good)

            held = consume_by_ce_id(broker, f"{prefix}.{DATASET}", want={r["id"] for r in records})
            assert held.keys() == {r["id"] for r in records}
            assert {m.key.decode() for m in held.values()} == good
            poll_until(
                lambda: client.get("/readyz").json()["outbox_unsent"] == 0, what="outbox drained"
            )
            assert bad_count > 0
    finally:
        if connector is not None:
            kill(connector)
        kill(gateway)
