"""Background loops of the gateway process (the outbox relay, the reference re-checker)."""

from __future__ import annotations

import threading


class BackgroundLoop:
    """Runs `run(stop)` on a daemon thread between `start()` and `stop()`."""

    thread_name = "fdxp-worker"

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def run(self, stop: threading.Event) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.run, args=(self._stop,), name=self.thread_name, daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
