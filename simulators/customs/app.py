"""The VNACCS HTTP API of the simulated customs system: its own FastAPI app and token auth.

`GET /vnaccs/v1/to-khai?updated_since=<local time>&page_token=<opaque>&limit=<1..500>`
(header `Authorization: Bearer <token>`) answers
`{"items": [...native declarations...], "next_page_token": str | null, "total": int}`:
the current state of every declaration whose `ngayCapNhat` is >= `updated_since` (inclusive:
a client must skip what it already has), ordered by (`ngayCapNhat`, `soToKhai`). A page token
continues that listing after the last item it returned (keyset), so a declaration that changes
meanwhile shows up again, later, with its new state.

Faults (`Faults`), drawn per request from a seeded generator: 429 with `Retry-After`, a 5xx,
a slow answer, a page that hangs past the client's timeout; `down` answers 503 to everything.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import FastAPI, Header, Query
from fastapi.responses import JSONResponse

from simulators.customs.system import CustomsSystem

__all__ = ["API_PATH", "Faults", "create_app"]

API_PATH = "/vnaccs/v1/to-khai"


@dataclass
class Faults:
    """Shares of requests that fail each way (0 turns a fault off); `down` fails them all."""

    rate_limit: float = 0.0
    server_error: float = 0.0
    slow: float = 0.0
    hang: float = 0.0
    retry_after: int = 1
    slow_seconds: float = 0.2
    hang_seconds: float = 3.0
    seed: int = 0
    down: bool = False
    injected: Counter[str] = field(default_factory=Counter)
    requests: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def draw(self) -> str | None:
        """The fault for the next request, if any (counted in `injected`)."""
        with self._lock:
            self.requests += 1
            if self.down:
                self.injected["down"] += 1
                return "down"
            roll = self._rng.random()
            for kind, share in (
                ("rate_limit", self.rate_limit),
                ("server_error", self.server_error),
                ("slow", self.slow),
                ("hang", self.hang),
            ):
                if roll < share:
                    self.injected[kind] += 1
                    return kind
                roll -= share
            return None


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Any:
    return JSONResponse({"maLoi": code, "thongBao": message}, status_code=status, headers=headers)


def _encode_token(since: str | None, last: tuple[str, str]) -> str:
    raw = json.dumps({"s": since, "k": list(last)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str) -> tuple[str | None, tuple[str, str]]:
    padded = token + "=" * (-len(token) % 4)
    data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    since, (updated, key) = data["s"], data["k"]
    return since, (str(updated), str(key))


def create_app(system: CustomsSystem, *, token: str, faults: Faults | None = None) -> FastAPI:
    """The API over one `CustomsSystem`, accepting exactly one bearer `token`."""
    injected = faults if faults is not None else Faults()
    app = FastAPI(title="VNACCS (simulated)", docs_url=None, redoc_url=None)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "declarations": system.count()}

    @app.get(API_PATH)
    async def list_declarations(
        authorization: Annotated[str | None, Header()] = None,
        updated_since: Annotated[str | None, Query(max_length=40)] = None,
        page_token: Annotated[str | None, Query(max_length=400)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> Any:
        if authorization != f"Bearer {token}":
            return _error(401, "AUTH", "token không hợp lệ (invalid token)")
        fault = injected.draw()
        if fault == "down":
            return _error(503, "BAOTRI", "hệ thống đang bảo trì (maintenance)")
        if fault == "rate_limit":
            return _error(
                429, "QUOTA", "quá nhiều yêu cầu", {"Retry-After": str(injected.retry_after)}
            )
        if fault == "server_error":
            return _error(random.choice((500, 502, 503)), "LOI", "lỗi hệ thống")
        if fault == "slow":
            await asyncio.sleep(injected.slow_seconds)
        if fault == "hang":
            await asyncio.sleep(injected.hang_seconds)
        after: tuple[str, str] | None = None
        if page_token:
            try:
                token_since, after = _decode_token(page_token)
            except (ValueError, KeyError, TypeError, binascii.Error):
                return _error(400, "TOKEN", "page_token không hợp lệ")
            if token_since != updated_since:
                return _error(400, "TOKEN", "page_token belongs to another updated_since")
        items, total = system.changed_since(updated_since, after, limit)
        next_token = None
        if len(items) == limit and total > limit:
            last = items[-1]
            next_token = _encode_token(updated_since, (last["ngayCapNhat"], last["soToKhai"]))
        return {"items": items, "next_page_token": next_token, "total": total}

    return app
