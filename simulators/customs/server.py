"""Serving the customs API: in a thread (tests, the demo) or in the foreground (the CLI)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from simulators.customs.app import Faults, create_app
from simulators.customs.system import CustomsSystem
from simulators.serving import free_port, serving

__all__ = ["free_port", "running", "serve"]


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
    with serving(
        create_app(system, token=token, faults=faults), name="customs", host=host, port=port
    ) as url:
        yield url


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
