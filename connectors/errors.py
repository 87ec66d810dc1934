"""Errors of the connectors package, grouped by what the caller should do.

```
ConnectorError                 base: anything a connector raises on purpose
├── FatalError                 stop and tell the operator; retrying cannot help
│   │                          (401/403 bad key, 404 unknown dataset, 409 idempotency key
│   │                          reused with another body, other 4xx contract errors, a malformed
│   │                          hub answer, a missing source, a bad checkpoint)
│   ├── UnknownConnectorError  no connector is registered under that name
│   └── CheckpointError        the checkpoint file exists but cannot be read
├── RetriableError             try again later with the same idempotency key
│                              (network errors, timeouts, 5xx, 408, 429 honouring Retry-After,
│                              409 while the hub still processes the same key: a 409 whose type
│                              says in_flight/in_progress or that carries Retry-After)
└── SkippableRowError          one source row cannot even be mapped; the stream skips it and
                               the cursor moves past it. Prefer passing odd rows to the hub so
                               they land in quarantine with a located reason.
```
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CheckpointError",
    "ConnectorError",
    "FatalError",
    "RetriableError",
    "SkippableRowError",
    "UnknownConnectorError",
]


class ConnectorError(Exception):
    """Base of the tree; carries what the hub said when the error came from an HTTP answer."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_type: str | None = None,
        detail: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.error_type = error_type
        self.detail = detail
        self.errors = errors or []


class FatalError(ConnectorError):
    """Stop: the request or the setup is wrong, and repeating it gives the same answer."""


class UnknownConnectorError(FatalError):
    """No connector is registered under the requested name."""


class CheckpointError(FatalError):
    """The checkpoint file is unreadable; fix or remove it by hand (it is never guessed)."""


class RetriableError(ConnectorError):
    """Transient: repeat the same request later; `retry_after` (seconds) is the hub's hint."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class SkippableRowError(ConnectorError):
    """A source row that cannot be mapped to a record at all."""
