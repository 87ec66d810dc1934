"""The simulated customs system (TCHQ VNACCS): declarations behind an HTTP API."""

from __future__ import annotations

from simulators.customs.app import API_PATH, Faults, create_app
from simulators.customs.server import free_port, running, serve
from simulators.customs.system import (
    BAD_KINDS,
    CHANNEL_CODES,
    STATUS_CODES,
    CustomsSystem,
    Version,
    trader_msts,
)

__all__ = [
    "API_PATH",
    "BAD_KINDS",
    "CHANNEL_CODES",
    "STATUS_CODES",
    "CustomsSystem",
    "Faults",
    "Version",
    "create_app",
    "free_port",
    "running",
    "serve",
    "trader_msts",
]
