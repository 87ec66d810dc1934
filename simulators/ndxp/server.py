"""Serving NDXP: in a thread (tests, the demo) or in the foreground (the CLI)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from simulators.ndxp.app import create_app
from simulators.ndxp.platform import Platform

__all__ = ["DEFAULT_PORT", "free_port", "running", "serve"]

DEFAULT_PORT = 8200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(
    platform: Platform, *, admin_token: str, host: str = "127.0.0.1", port: int | None = None
) -> Iterator[str]:
    """Serve NDXP in a background thread; yields its base URL."""
    port = port or free_port()
    config = uvicorn.Config(
        create_app(platform, admin_token=admin_token),
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True, name="ndxp-sim")
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the NDXP simulator did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def serve(
    platform: Platform, *, admin_token: str, host: str = "127.0.0.1", port: int = DEFAULT_PORT
) -> None:
    """Serve NDXP in the foreground until interrupted."""
    uvicorn.run(
        create_app(platform, admin_token=admin_token), host=host, port=port, log_level="warning"
    )
