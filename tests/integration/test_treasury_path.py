"""Simulated TABMIS drop folder -> treasury connector (its own process, killed once) ->
gateway over HTTP -> database, with bad rows, malformed files and duplicate files."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest

from simulators.treasury import export
from tests.integration.connector_runs import (
    ENV,
    all_pages,
    connector_command,
    connector_status,
    kill_at_random_then_finish,
    stored,
)
from tests.support import Hub

pytestmark = pytest.mark.integration
DATASET = "treasury.budget_txn"


def test_every_good_row_once_every_bad_row_quarantined_across_a_kill(
    live_hub: Hub, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    truth = export(drop, 800, rows_per_file=100, bad_share=0.1, malformed=3, duplicates=2,
                   seed=31)  # fmt: skip
    good, bad = truth.good, truth.bad
    assert len(bad) > 0 and len(set(good)) == len(good)
    key = live_hub.new_key("KBNN")
    command = connector_command(
        "treasury", live_hub, key, str(drop), tmp_path / "treasury.json", "--batch-size", "60"
    )
    second = kill_at_random_then_finish(
        command, progress=lambda: stored(live_hub, DATASET), low=50, high=len(good) - 100
    )
    assert second.returncode == 0, second.stderr.decode()[-2000:]

    records = all_pages(live_hub, f"/v1/datasets/{DATASET}/records")
    keys = Counter(item["key"] for item in records)
    assert not [k for k, n in keys.items() if n > 1], "a record was stored twice"
    assert set(keys) == set(good)
    quarantined = all_pages(live_hub, f"/v1/datasets/{DATASET}/quarantine")
    assert Counter(q["key"] for q in quarantined) == Counter(list(bad))
    assert all(q["errors"] and q["errors"][0]["rule"] for q in quarantined)

    assert sorted(p.name for p in drop.glob("*.csv")) == []
    failed = {t.name: t.kind for t in truth.files if t.kind in {"truncated", "wrong_header",
                                                                 "wrong_encoding"}}  # fmt: skip
    assert sorted(p.name for p in (drop / "failed").glob("*.csv")) == sorted(failed)
    for name, kind in failed.items():
        assert kind.replace("_", " ") in (drop / "failed" / f"{name}.reason.txt").read_text()
    duplicates = [t for t in truth.files if t.kind == "duplicate"]
    for dup in duplicates:
        assert "duplicate of" in (drop / "done" / f"{dup.name}.reason.txt").read_text()

    status = connector_status(live_hub, "treasury")
    assert status is not None and status["records_sent"] == len(good) + len(bad)
    assert status["dataset_id"] == DATASET and status["lag"] == 0


def test_bad_credentials_stop_it_with_a_clear_message(live_hub: Hub, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    export(drop, 20, rows_per_file=20, seed=32)
    for key, hint in (("not-a-key", "401"), (live_hub.new_key("TCT"), "403")):
        run = subprocess.run(
            connector_command("treasury", live_hub, key, str(drop), tmp_path / "cp.json"),
            env=ENV, capture_output=True, timeout=60,
        )  # fmt: skip
        assert run.returncode == 2
        message = run.stderr.decode()
        assert hint in message and "check the connector's API key" in message
    assert len(list(drop.glob("*.csv"))) == 1  # nothing was filed away
