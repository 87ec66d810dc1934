"""The hub side of the bench: the gateway as its own process, its memory, its publishers."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from connectors.client import HubClient
from gateway.broker import die_with_parent, free_port


class GatewayError(RuntimeError):
    pass


class GatewayProcess:
    """`python -m gateway.cli run` with FDXP_* settings pointing at the bench's broker and
    database, so its memory can be measured alone."""

    def __init__(
        self,
        *,
        bootstrap: str,
        database_url: str,
        data_dir: Path,
        topic_prefix: str,
        admin_key: str,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.log_path = data_dir / "gateway.log"
        self.env = {
            **os.environ,
            "FDXP_ENV": "development",
            "FDXP_DATA_DIR": str(data_dir),
            "FDXP_DATABASE_URL": database_url,
            "FDXP_KAFKA_BOOTSTRAP": bootstrap,
            "FDXP_ADMIN_KEY": admin_key,
            "FDXP_TOPIC_PREFIX": topic_prefix,
            "FDXP_RELAY_ENABLED": "true",
            "GX_ANALYTICS_ENABLED": "false",
            **(extra_env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_s = 0.0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, *, timeout: float = 120.0) -> GatewayProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gateway.cli",
                    "run",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "warning",
                ],
                env=self.env,
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        deadline = started + timeout
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            while True:
                if self.process.poll() is not None:
                    code = self.process.returncode
                    raise GatewayError(f"the gateway exited ({code}):\n{self.log_tail()}")
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise GatewayError(f"the gateway did not start in {timeout:.0f}s")
                time.sleep(0.1)
        self.startup_s = time.monotonic() - started
        return self

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


class RelayProcess:
    """`python -m gateway.cli relay` beside a gateway started with FDXP_RELAY_ENABLED=false:
    the scaled-out form, where the relay does not share the gateway's GIL."""

    def __init__(self, gateway: GatewayProcess) -> None:
        self.gateway = gateway
        self.log_path = gateway.data_dir / "relay.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> RelayProcess:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "relay"],
                env=self.gateway.env,
                cwd=self.gateway.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


class RssSampler:
    """Samples a process's resident memory (with its children) every `interval` seconds."""

    def __init__(self, pid: int, *, interval: float = 0.05) -> None:
        self._process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss", daemon=True)

    def now(self) -> int:
        try:
            rss = int(self._process.memory_info().rss)
            for child in self._process.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    rss += int(child.memory_info().rss)
            return rss
        except psutil.Error:
            return 0

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = self.now()
            self.peak = max(self.peak, rss)
            self.samples += 1
            self._stop.wait(self.interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        return self.peak


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 if it is gone)."""
    try:
        times = psutil.Process(pid).cpu_times()
        return float(times.user + times.system)
    except psutil.Error:
        return 0.0


def broker_pid() -> int | None:
    """The embedded broker's pid: the Tansu child of this process, if there is one."""
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "tansu" in child.name().lower() or any(
                "tansu" in part.lower() for part in child.cmdline()[:1]
            ):
                return int(child.pid)
    return None


@dataclass
class BatchTiming:
    index: int
    keys: list[str]
    sent: float = 0.0  # monotonic, just before the POST
    answered: float = 0.0  # monotonic, the answer read
    accepted: int = 0
    rejected: int = 0
    error: str | None = None


@dataclass
class PublishRun:
    timings: list[BatchTiming]
    started: float
    finished: float
    errors: list[str] = field(default_factory=list)


def publish(
    *,
    hub_url: str,
    api_key: str,
    dataset_id: str,
    key_field: str,
    batches: list[list[dict[str, Any]]],
    publishers: int,
    idempotency_prefix: str,
    rate: float | None = None,
    on_batch: Callable[[BatchTiming], None] | None = None,
) -> PublishRun:
    """POST `batches` from `publishers` threads (each its own HubClient), as fast as answers
    come, or paced so that batch k leaves at `k * len(batch) / rate` seconds."""
    timings = [
        BatchTiming(i, [str(r[key_field]) for r in batch]) for i, batch in enumerate(batches)
    ]
    counter = itertools.count()
    errors: list[str] = []
    lock = threading.Lock()
    started = time.monotonic() + 0.01
    offsets: list[float] = []
    total = 0
    for batch in batches:
        offsets.append(total / rate if rate else 0.0)
        total += len(batch)

    def worker() -> None:
        with HubClient(hub_url, api_key, timeout=300.0, max_attempts=3) as client:
            while True:
                k = next(counter)
                if k >= len(batches):
                    return
                timing = timings[k]
                delay = started + offsets[k] - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                timing.sent = time.monotonic()
                try:
                    result = client.publish(
                        dataset_id, batches[k], idempotency_key=f"{idempotency_prefix}-{k:06d}"
                    )
                    timing.accepted, timing.rejected = result.accepted, result.rejected
                except Exception as exc:  # reported; the run goes on with the other batches
                    timing.error = f"{type(exc).__name__}: {exc}"
                    with lock:
                        errors.append(f"batch {k}: {timing.error}")
                timing.answered = time.monotonic()
                if on_batch is not None:
                    on_batch(timing)

    threads = [
        threading.Thread(target=worker, name=f"publisher-{i}", daemon=True)
        for i in range(max(1, publishers))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finished = max((t.answered for t in timings), default=started)
    return PublishRun(timings=timings, started=started, finished=finished, errors=errors)


def latencies(
    run: PublishRun, seen: dict[str, float]
) -> tuple[list[float], list[float], list[float]]:
    """Batch round trips, and per record: sent -> consumed, answered -> consumed (>= 0)."""
    batch = [t.answered - t.sent for t in run.timings if t.error is None]
    from_sent: list[float] = []
    from_answer: list[float] = []
    for timing in run.timings:
        for key in timing.keys:
            at = seen.get(key)
            if at is None:
                continue
            from_sent.append(at - timing.sent)
            from_answer.append(max(0.0, at - timing.answered))
    return batch, from_sent, from_answer


class Profiler:
    """py-spy recording the gateway process (raw collapsed stacks, per thread, non-blocking)."""

    def __init__(self, pid: int, output: Path, *, rate: int = 200, gil_only: bool = False) -> None:
        self.output = output
        self.command = [
            _py_spy(),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--output",
            str(output),
            "--rate",
            str(rate),
            "--threads",
            "--nonblocking",
        ]
        if gil_only:  # only the thread holding the GIL: the process's Python CPU, exactly
            self.command.append("--gil")
        self.process: subprocess.Popen[bytes] | None = None
        self.log = output.with_suffix(".log")

    def start(self) -> Profiler:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        time.sleep(0.5)  # py-spy attaches
        if self.process.poll() is not None:
            raise GatewayError(f"py-spy did not start: {self.log.read_text(errors='replace')}")
        return self

    def stop(self) -> Path | None:
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        return self.output if self.output.exists() else None


def _py_spy() -> str:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else "py-spy"
