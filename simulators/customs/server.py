"""Serving the customs API: in a thread (tests, the demo) or in the foreground (the CLI)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from simulators.customs.app import Faults, create_app
from simulators.customs.system import CustomsSystem

__all__ = ["free_port", "running", "serve"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(
    system: CustomsSystem,
    *,
    token: str,
    faults: Faults | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
) -> Iterator[str]:
    """Serve the API in a background thread; yields its base URL."""
    port = port or free_port()
    config = uvicorn.Config(
        create_app(system, token=token, faults=faults),
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True, name="customs-sim")
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the customs simulator did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def serve(
    system: CustomsSystem,
    *,
    token: str,
    faults: Faults | None = None,
    host: str = "127.0.0.1",
    port: int = 8100,
) -> None:
    """Serve the API in the foreground until interrupted."""
    uvicorn.run(
        create_app(system, token=token, faults=faults), host=host, port=port, log_level="warning"
    )
