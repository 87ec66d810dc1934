"""Run a named connector once or in follow mode: the entry point the hub's CLI wires.

| name     | `source`                         | options it reads (`SourceOptions`)             |
|----------|----------------------------------|------------------------------------------------|
| tax      | the tax system's SQLite file     | -                                              |
| treasury | the TABMIS drop folder           | -                                              |
| customs  | the VNACCS API base URL          | token (required), timeout, max_wait, page_size |
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx

from connectors.base import Connector, SyncSummary
from connectors.checkpoint import Checkpoint
from connectors.client import HubClient
from connectors.customs import CustomsDeclarationStream
from connectors.errors import FatalError, UnknownConnectorError
from connectors.tax import TaxEinvoiceStream
from connectors.treasury import TreasuryFolderConnector

__all__ = ["CONNECTORS", "SourceOptions", "StreamFactory", "build_stream", "run_connector"]


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """How to reach a source beyond its `source` string (only some connectors read each)."""

    token: str | None = None  # customs: the VNACCS API bearer token
    timeout: float = 10.0  # customs: seconds per request to the source
    max_wait: float = 300.0  # customs: seconds to retry a failing source before giving up
    page_size: int = 200  # customs: declarations per API page
    transport: httpx.BaseTransport | None = None  # customs: tests put a fake transport here


StreamFactory = Callable[[str, SourceOptions], Connector]


def _customs(source: str, options: SourceOptions) -> Connector:
    return CustomsDeclarationStream(
        source,
        options.token,
        timeout=options.timeout,
        max_wait=options.max_wait,
        page_size=options.page_size,
        transport=options.transport,
    )


# Immutable name -> factory table; a factory takes the `source` argument and the options.
CONNECTORS: Mapping[str, StreamFactory] = MappingProxyType(
    {
        "tax": lambda source, _: TaxEinvoiceStream(Path(source)),
        "treasury": lambda source, _: TreasuryFolderConnector(Path(source)),
        "customs": _customs,
    }
)


def build_stream(name: str, source: str | Path, options: SourceOptions | None = None) -> Connector:
    try:
        factory = CONNECTORS[name]
    except KeyError:
        known = ", ".join(sorted(CONNECTORS))
        raise UnknownConnectorError(f"no connector named {name!r} (known: {known})") from None
    return factory(str(source), options or SourceOptions())


def _options(source_token: str | None, options: Mapping[str, Any] | None) -> SourceOptions:
    known = {f.name for f in fields(SourceOptions)}
    unknown = sorted(set(options or {}) - known)
    if unknown:
        raise FatalError(f"unknown source options: {', '.join(unknown)} (known: {sorted(known)})")
    built = replace(SourceOptions(), **dict(options or {}))
    return replace(built, token=source_token) if source_token is not None else built


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
    source_token: str | None = None,
    options: Mapping[str, Any] | None = None,
    linger: float = 0.0,
) -> SyncSummary:
    """Sync connector `name` from `source` to the hub; `once=False` follows until stop_event.

    `source_token` is the source's own credential (customs: the VNACCS API token); `options`
    holds further `SourceOptions` fields by name. `linger`: in follow mode, how long a batch
    short of `batch_size` may wait for more rows (batching by size and time).
    """
    stream = build_stream(name, source, _options(source_token, options))
    checkpoint = Checkpoint(checkpoint_path)
    try:
        with HubClient(
            hub_url,
            api_key,
            timeout=timeout,
            max_attempts=max_attempts,
            transport=transport,
            connector=name,
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
                linger=linger,
            )
    finally:
        close = getattr(stream, "close", None)
        if callable(close):
            close()
