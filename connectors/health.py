"""The connector's heartbeat to the hub: where it stands, how far behind, the last error.

A beat that fails is logged and forgotten: a hub that cannot take heartbeats (down, or an older
hub without the endpoint) must never stop a connector that can still publish.
"""

from __future__ import annotations

import logging
from typing import Any

from connectors.client import HubClient

__all__ = ["Heartbeat"]

log = logging.getLogger(__name__)


class Heartbeat:
    """Sends `POST /v1/connectors/{name}/heartbeat` for one connector; `beat` never raises."""

    def __init__(self, client: HubClient, name: str, dataset_id: str) -> None:
        self.client = client
        self.name = name
        self.dataset_id = dataset_id
        self.sent = 0
        self.failed = 0
        self.last_answer: dict[str, Any] | None = None

    def beat(
        self,
        *,
        cursor: Any,
        lag: int | None = None,
        last_error: str | None = None,
        records_sent: int | None = None,
    ) -> bool:
        """True when the hub took the beat."""
        try:
            self.last_answer = self.client.heartbeat(
                self.name,
                dataset_id=self.dataset_id,
                cursor=cursor,
                lag=lag,
                last_error=last_error,
                records_sent=records_sent,
            )
        except Exception as exc:
            self.failed += 1
            # Loud once, then quiet: a hub without the endpoint would fill the log otherwise.
            level = logging.WARNING if self.failed == 1 else logging.DEBUG
            log.log(level, "%s: heartbeat failed (%s); carrying on", self.name, exc)
            return False
        self.sent += 1
        return True
