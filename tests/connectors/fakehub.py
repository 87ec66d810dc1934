"""A stand-in for the gateway at the HTTP seam: ingest idempotent by key, heartbeats kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson

Check = Callable[[int, dict[str, Any]], list[dict[str, Any]]]


class FakeHub:
    """`check(index, record)` returns the errors of one record (none by default)."""

    def __init__(self, key_field: str, check: Check | None = None) -> None:
        self.key_field = key_field
        self.check = check or (lambda index, record: [])
        self.answers: dict[str, dict[str, Any]] = {}
        self.stored: list[dict[str, Any]] = []
        self.quarantined: list[dict[str, Any]] = []
        self.keys: list[str] = []
        self.connector_headers: list[str | None] = []
        self.heartbeats: list[dict[str, Any]] = []
        self.crash_on_batch: int | None = None  # 1-based: fail the call after storing it
        self.unavailable = 0  # answer 503 to this many publishes first
        self.heartbeat_status = 200

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/heartbeat"):
            self.heartbeats.append(
                {**orjson.loads(request.content), "name": request.url.path.split("/")[3]}
            )
            return httpx.Response(self.heartbeat_status, json={"status": "healthy"})
        if self.unavailable:
            self.unavailable -= 1
            return httpx.Response(503, json={"type": "unavailable", "message": "down"})
        key = request.headers["Idempotency-Key"]
        self.keys.append(key)
        self.connector_headers.append(request.headers.get("X-FDXP-Connector"))
        if key in self.answers:
            return httpx.Response(200, json={**self.answers[key], "replayed": True})
        records = orjson.loads(request.content)["records"]
        errors = [e for i, r in enumerate(records) for e in self.check(i, r)]
        bad = {e["index"] for e in errors}
        self.stored.extend(r for i, r in enumerate(records) if i not in bad)
        self.quarantined.extend(r for i, r in enumerate(records) if i in bad)
        answer = {
            "batch_id": f"batch-{len(self.answers) + 1}",
            "accepted": len(records) - len(bad),
            "rejected": len(bad),
            "errors": errors,
        }
        self.answers[key] = answer
        if self.crash_on_batch == len(self.answers):
            raise RuntimeError("connector killed after the hub committed")
        status = 422 if records and len(bad) == len(records) else 200
        return httpx.Response(status, json=answer)

    @property
    def stored_keys(self) -> list[str]:
        return [r[self.key_field] for r in self.stored]
