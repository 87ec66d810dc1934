"""Simulated VNACCS API (faults on) -> customs connector (its own process, killed once) ->
gateway over HTTP -> database; every state of a declaration is one version of its key."""

from __future__ import annotations

import random
import subprocess
import threading
from collections import Counter
from pathlib import Path

import pytest

from connectors import run_connector
from simulators.customs import STATUS_CODES, CustomsSystem, Faults, running
from tests.integration.connector_runs import (
    ENV,
    all_pages,
    connector_command,
    connector_status,
    kill_at_random_then_finish,
    stored,
)
from tests.support import Hub, poll_until

pytestmark = pytest.mark.integration
DATASET = "customs.declaration"
TOKEN = "vnaccs-integration-token"


def expected(system: CustomsSystem, *, good: bool) -> Counter[tuple[str, str]]:
    return Counter(
        (v.key, STATUS_CODES[v.native["trangThai"]])
        for v in system.versions()
        if (v.defect is None) == good
    )


def test_every_state_once_as_a_version_across_faults_and_a_kill(
    live_hub: Hub, tmp_path: Path
) -> None:
    system = CustomsSystem()
    rng = random.Random(41)
    system.register(300, bad_share=0.1, rng=rng)
    faults = Faults(rate_limit=0.05, server_error=0.08, slow=0.05, hang=0.03, hang_seconds=0.8,
                    retry_after=1, seed=42)  # fmt: skip
    key = live_hub.new_key("TCHQ")
    checkpoint = tmp_path / "customs.json"
    with running(system, token=TOKEN, faults=faults) as url:
        first = run_connector(
            "customs", hub_url=live_hub.url, api_key=key, source=url, source_token=TOKEN,
            options={"timeout": 0.5}, checkpoint_path=checkpoint, batch_size=100,
        )  # fmt: skip
        assert first.sent == 300
        before = stored(live_hub, DATASET)
        system.advance(0.6, rng=rng)  # cleared or cancelled: new versions of known keys
        system.register(120, bad_share=0.1, rng=rng)
        command = connector_command(
            "customs", live_hub, key, url, checkpoint, "--source-token", TOKEN,
            "--source-timeout", "0.5", "--batch-size", "40",
        )  # fmt: skip
        second = kill_at_random_then_finish(
            command, progress=lambda: stored(live_hub, DATASET), low=before + 20, high=before + 200
        )
        assert second.returncode == 0, second.stderr.decode()[-2000:]
    assert sum(faults.injected.values()) > 0, "no fault was injected"

    records = all_pages(live_hub, f"/v1/datasets/{DATASET}/records")
    versions = Counter((r["key"], r["data"]["status"]) for r in records)
    assert versions == expected(system, good=True)  # each state once, none missing
    assert max(Counter(r["key"] for r in records).values()) == 2  # a key with two versions
    quarantined = all_pages(live_hub, f"/v1/datasets/{DATASET}/quarantine")
    assert len(quarantined) == sum(expected(system, good=False).values())
    assert all(q["errors"] for q in quarantined)
    status = connector_status(live_hub, "customs")
    assert status is not None and status["dataset_id"] == DATASET


def test_a_source_that_is_down_is_waited_for(live_hub: Hub, tmp_path: Path) -> None:
    system = CustomsSystem()
    system.register(60, rng=random.Random(43))
    faults = Faults(down=True)
    with running(system, token=TOKEN, faults=faults) as url:

        def recover() -> None:
            poll_until(lambda: faults.injected["down"] >= 3, timeout=20, what="retries")
            faults.down = False

        threading.Thread(target=recover, daemon=True).start()
        summary = run_connector(
            "customs", hub_url=live_hub.url, api_key=live_hub.new_key("TCHQ"), source=url,
            source_token=TOKEN, options={"max_wait": 30.0}, checkpoint_path=tmp_path / "cp.json",
        )  # fmt: skip
    assert faults.injected["down"] >= 3
    assert summary.accepted == 60 == stored(live_hub, DATASET)


def test_a_refused_source_token_stops_it_with_a_clear_message(
    live_hub: Hub, tmp_path: Path
) -> None:
    system = CustomsSystem()
    system.register(5, rng=random.Random(44))
    with running(system, token=TOKEN) as url:
        run = subprocess.run(
            connector_command("customs", live_hub, live_hub.new_key("TCHQ"), url,
                              tmp_path / "cp.json", "--source-token", "wrong"),
            env=ENV, capture_output=True, timeout=60,
        )  # fmt: skip
    assert run.returncode == 2
    assert "401" in run.stderr.decode() and "VNACCS API token" in run.stderr.decode()
    assert stored(live_hub, DATASET) == 0
