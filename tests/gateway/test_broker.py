"""The embedded broker: started on a free port, answering, and never left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from gateway.broker import EmbeddedBroker, ensure_topics, wait_for_broker
from tests.support import poll_until

pytestmark = pytest.mark.integration


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is gone for our purposes
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def test_start_answer_stop() -> None:
    with EmbeddedBroker() as broker:
        assert broker.running
        wait_for_broker(broker.bootstrap, timeout=5)
        ensure_topics(broker.bootstrap, ["fdxp.test.one"], partitions=1)
        ensure_topics(broker.bootstrap, ["fdxp.test.one"], partitions=1)  # idempotent
    assert not broker.running


def test_no_orphan_when_the_owner_is_killed(tmp_path) -> None:
    """SIGKILL gives the owner no chance to clean up; the broker must still go."""
    script = textwrap.dedent(
        """
        import sys, time
        from gateway.broker import EmbeddedBroker
        broker = EmbeddedBroker().start()
        print(broker._process.pid, flush=True)
        time.sleep(600)
        """
    )
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    broker_pid = int(owner.stdout.readline())
    assert alive(broker_pid)
    owner.send_signal(signal.SIGKILL)
    owner.wait(10)
    poll_until(lambda: not alive(broker_pid), timeout=10, what="the orphaned broker to exit")


def test_fdxp_run_serves_and_stops_its_broker_on_sigterm(tmp_path) -> None:
    import httpx

    from gateway.broker import free_port

    port = free_port()
    env = {
        **os.environ,
        "FDXP_DATA_DIR": str(tmp_path),
        "FDXP_DATABASE_URL": "",
        "FDXP_KAFKA_BOOTSTRAP": "",
        "FDXP_ADMIN_KEY": "",
        "FDXP_ENV": "development",
        "GX_ANALYTICS_ENABLED": "false",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "run", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
            except httpx.HTTPError:
                return False

        poll_until(healthy, timeout=60, what="fdxp run to serve")
        children = subprocess.run(
            ["pgrep", "-P", str(process.pid)], capture_output=True, text=True
        ).stdout.split()
        assert children, "the embedded broker should run as a child of fdxp run"
        key_file = tmp_path / "admin.key"
        assert key_file.exists() and oct(key_file.stat().st_mode & 0o777) == "0o600"
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        for child in children:
            poll_until(lambda c=int(child): not alive(c), timeout=10, what="broker exit")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "Development admin key" in (process.stderr.read() if process.stderr else "")
