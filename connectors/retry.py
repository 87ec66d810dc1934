"""Retrying a source or the hub: exponential backoff with jitter, honouring Retry-After.
Shared by the hub client and the connectors that call their own sources over HTTP."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from tenacity import RetryCallState

from connectors.errors import RetriableError

log = logging.getLogger("connectors")


def backoff_wait(
    retry_state: RetryCallState,
    *,
    initial: float,
    cap: float,
    max_retry_after: float,
    jitter: Callable[[], float],
) -> float:
    """Seconds before the next attempt: the server's Retry-After when it gave one (capped),
    else exponential backoff with "full jitter" on top of half the step, capped."""
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    if isinstance(exc, RetriableError) and exc.retry_after is not None:
        return min(exc.retry_after, max_retry_after)
    step = min(initial * 2 ** (retry_state.attempt_number - 1), cap)
    return step / 2 + jitter() * step / 2


def log_retry(what: str) -> Callable[[RetryCallState], None]:
    """A tenacity `before_sleep` hook that says what failed and how long it waits."""

    def before_sleep(retry_state: RetryCallState) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
        log.warning(
            "%s: attempt %d failed (%s); retrying in %.2fs",
            what, retry_state.attempt_number, exc, wait,
        )  # fmt: skip

    return before_sleep


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
