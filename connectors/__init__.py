"""Connectors: the adapters a unit runs beside its system, talking to the hub over HTTP only."""

from connectors.base import Page, Row, Stream, SyncSummary, page_idempotency_key
from connectors.checkpoint import Checkpoint
from connectors.client import HubClient, PublishResult, RecordError
from connectors.errors import (
    CheckpointError,
    ConnectorError,
    FatalError,
    RetriableError,
    SkippableRowError,
    UnknownConnectorError,
)
from connectors.runner import CONNECTORS, StreamFactory, build_stream, run_connector
from connectors.state import Cursor, CursorState, PendingPage
from connectors.tax import TaxEinvoiceStream, map_einvoice

__all__ = [
    "CONNECTORS",
    "Checkpoint",
    "CheckpointError",
    "ConnectorError",
    "Cursor",
    "CursorState",
    "FatalError",
    "HubClient",
    "Page",
    "PendingPage",
    "PublishResult",
    "RecordError",
    "RetriableError",
    "Row",
    "SkippableRowError",
    "Stream",
    "StreamFactory",
    "SyncSummary",
    "TaxEinvoiceStream",
    "UnknownConnectorError",
    "build_stream",
    "map_einvoice",
    "page_idempotency_key",
    "run_connector",
]
