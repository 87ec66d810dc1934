"""Running a connector as its own process and killing it, for the integration tests."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.support import Hub, poll_until

ENV = {**os.environ, "GX_ANALYTICS_ENABLED": "false"}


def connector_command(name: str, hub: Hub, key: str, source: str, checkpoint: Path,
                      *extra: str) -> list[str]:  # fmt: skip
    return [
        sys.executable, "-m", "connectors", name, "--source", source, "--hub", hub.url,
        "--key", key, "--checkpoint", str(checkpoint), *extra,
    ]  # fmt: skip


def stored(hub: Hub, dataset_id: str) -> int:
    answer = hub.client.get(f"/v1/datasets/{dataset_id}", headers=hub.admin)
    return int(answer.json()["records"])


def kill_at_random_then_finish(
    command: list[str], *, progress: Callable[[], int], low: int, high: int
) -> subprocess.CompletedProcess[bytes]:
    """Start `command`, SIGKILL it once `progress()` passed a random point in [low, high),
    then run it again to the end; returns the second run."""
    kill_after = random.Random().randint(low, high - 1)
    first = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    poll_until(
        lambda: progress() >= kill_after or first.poll() is not None,
        timeout=60,
        interval=0.01,
        what="the first run to publish",
    )
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    return subprocess.run(command, env=ENV, capture_output=True, timeout=120)


def all_pages(hub: Hub, path: str) -> list[dict]:
    items: list[dict] = []
    after = 0
    while True:
        page = hub.client.get(path, params={"after": after, "limit": 1000}, headers=hub.admin)
        body = page.json()
        if not body["items"]:
            return items
        items += body["items"]
        after = body["next_after"]


def connector_status(hub: Hub, name: str) -> dict | None:
    answer = hub.client.get("/v1/connectors", headers=hub.admin)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    items = body["items"] if isinstance(body, dict) else body
    return next((c for c in items if c["name"] == name), None)
