"""Connectors: the adapters a unit runs beside its system, talking to the hub over HTTP only."""

from connectors.base import Connector, Page, Row, Stream, SyncSummary, page_idempotency_key
from connectors.checkpoint import Checkpoint
from connectors.client import HubClient, PublishResult, RecordError
from connectors.customs import CustomsDeclarationStream, map_declaration
from connectors.errors import (
    CheckpointError,
    ConnectorError,
    FatalError,
    RetriableError,
    SkippableRowError,
    UnknownConnectorError,
)
from connectors.health import Heartbeat
from connectors.runner import (
    CONNECTORS,
    SourceOptions,
    StreamFactory,
    build_stream,
    run_connector,
)
from connectors.state import Cursor, CursorState, PendingPage
from connectors.tax import TaxEinvoiceStream, map_einvoice
from connectors.treasury import MalformedFile, TreasuryFolderConnector, map_budget_txn, parse_export

__all__ = [
    "CONNECTORS",
    "Checkpoint",
    "CheckpointError",
    "Connector",
    "ConnectorError",
    "Cursor",
    "CursorState",
    "CustomsDeclarationStream",
    "FatalError",
    "Heartbeat",
    "HubClient",
    "MalformedFile",
    "Page",
    "PendingPage",
    "PublishResult",
    "RecordError",
    "RetriableError",
    "Row",
    "SkippableRowError",
    "SourceOptions",
    "Stream",
    "StreamFactory",
    "SyncSummary",
    "TaxEinvoiceStream",
    "TreasuryFolderConnector",
    "UnknownConnectorError",
    "build_stream",
    "map_budget_txn",
    "map_declaration",
    "map_einvoice",
    "page_idempotency_key",
    "parse_export",
    "run_connector",
]
