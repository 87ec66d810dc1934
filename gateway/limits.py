"""Per-key rate limits: a token bucket per API key, in this process.

Several gateway replicas each keep their own buckets, so the hub-wide limit is the per-replica
limit times the replicas; that is the usual trade against a shared counter on the hot path."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from gateway.errors import TooManyRequests


class RateLimiter:
    def __init__(
        self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key_id: str) -> None:
        """Take one token for `key_id`, or raise TooManyRequests with the wait in seconds."""
        if self.rate <= 0:
            return
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens < 1:
                wait = math.ceil((1 - tokens) / self.rate)
                self._buckets[key_id] = (tokens, now)
                raise TooManyRequests(
                    f"rate limit of {self.rate:g} requests/s (burst {self.burst}) for this key; "
                    f"retry in {wait} s",
                    retry_after=wait,
                )
            self._buckets[key_id] = (tokens - 1, now)
