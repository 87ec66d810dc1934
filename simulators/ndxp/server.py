"""Serving NDXP: in a thread (tests, the demo) or in the foreground (the CLI)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from simulators.ndxp.app import create_app
from simulators.ndxp.platform import Platform
from simulators.serving import free_port, serving

__all__ = ["DEFAULT_PORT", "free_port", "running", "serve"]

DEFAULT_PORT = 8200


@contextmanager
def running(
    platform: Platform, *, admin_token: str, host: str = "127.0.0.1", port: int | None = None
) -> Iterator[str]:
    """Serve NDXP in a background thread; yields its base URL."""
    with serving(
        create_app(platform, admin_token=admin_token), name="NDXP", host=host, port=port
    ) as url:
        yield url


def serve(
    platform: Platform, *, admin_token: str, host: str = "127.0.0.1", port: int = DEFAULT_PORT
) -> None:
    """Serve NDXP in the foreground until interrupted."""
    uvicorn.run(
        create_app(platform, admin_token=admin_token), host=host, port=port, log_level="warning"
    )
