"""Run a named connector once or in follow mode: the entry point the hub's CLI wires."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

import httpx

from connectors.base import Stream, SyncSummary
from connectors.checkpoint import Checkpoint
from connectors.client import HubClient
from connectors.errors import UnknownConnectorError
from connectors.tax import TaxEinvoiceStream

__all__ = ["CONNECTORS", "StreamFactory", "build_stream", "run_connector"]

StreamFactory = Callable[[str], Stream]

# Immutable name -> factory table; a factory takes the connector's `source` argument.
CONNECTORS: Mapping[str, StreamFactory] = MappingProxyType(
    {"tax": lambda source: TaxEinvoiceStream(Path(source))}
)


def build_stream(name: str, source: str | Path) -> Stream:
    try:
        factory = CONNECTORS[name]
    except KeyError:
        known = ", ".join(sorted(CONNECTORS))
        raise UnknownConnectorError(f"no connector named {name!r} (known: {known})") from None
    return factory(str(source))


def run_connector(
    name: str,
    *,
    hub_url: str,
    api_key: str,
    source: str | Path,
    checkpoint_path: str | Path,
    batch_size: int = 500,
    once: bool = True,
    poll_interval: float = 1.0,
    stop_event: threading.Event | None = None,
    on_progress: Callable[[SyncSummary], None] | None = None,
    max_batches: int | None = None,
    timeout: float = 30.0,
    max_attempts: int = 5,
    transport: httpx.BaseTransport | None = None,
) -> SyncSummary:
    """Sync connector `name` from `source` to the hub; `once=False` follows until stop_event."""
    stream = build_stream(name, source)
    checkpoint = Checkpoint(checkpoint_path)
    with HubClient(
        hub_url, api_key, timeout=timeout, max_attempts=max_attempts, transport=transport
    ) as client:
        return stream.sync(
            client,
            checkpoint,
            batch_size=batch_size,
            max_batches=max_batches,
            on_progress=on_progress,
            follow=not once,
            poll_interval=poll_interval,
            stop_event=stop_event,
        )
