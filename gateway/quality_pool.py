"""Great Expectations in worker processes, so the gateway's own interpreter stays free.

GX costs ~150-250 ms of pure-Python CPU per batch (benchmarks/: about half the gateway's GIL
time under load). Run in the gateway process, that time blocks HTTP, storage and the relay;
run in a worker it uses another core, and the ingest thread waits without holding the GIL.
Each worker owns one QualityEngine (one GX context, suites cached), created on first use.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

from gateway.broker import die_with_parent
from schemas.results import RowError, RuleResult

if TYPE_CHECKING:
    from gateway.contracts import Contract
    from schemas.quality import QualityEngine

log = logging.getLogger(__name__)

# The worker process's engine: set by `_start_worker`, the worker's own composition root.
_worker_engine: QualityEngine | None = None


def _start_worker() -> None:
    global _worker_engine
    die_with_parent()
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from schemas.quality import QualityEngine

    _worker_engine = QualityEngine()


def _check_in_worker(
    suite_id: str,
    expectations: list[dict[str, Any]],
    key_field: str,
    rows: list[tuple[int, dict[str, Any]]],
) -> tuple[list[RowError], list[RuleResult]]:
    assert _worker_engine is not None, "the worker initializer did not run"
    return _worker_engine.check(suite_id, expectations, key_field, rows)


def _warm_up() -> bool:
    return _worker_engine is not None


def _pid() -> int:
    return os.getpid()


class ProcessQualityGate:
    """Same contract as `QualityGate.check`, run in `workers` spawned processes."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._lock = threading.Lock()
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: the gateway runs threads (uvicorn, relay) that fork would copy mid-lock
        return ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
        )

    def warm_up(self) -> None:
        """Start every worker and import GX now, not on the first batch."""
        for future in [self._pool.submit(_warm_up) for _ in range(self._workers)]:
            future.result(timeout=120)

    def worker_pid(self) -> int:
        """A worker's process id (for operators and tests)."""
        return self._pool.submit(_pid).result(timeout=120)

    def check(
        self, contract: Contract, rows: list[tuple[int, dict[str, Any]]]
    ) -> tuple[list[RowError], list[RuleResult]]:
        if not rows or not contract.expectations:
            return [], []
        args = (contract.suite_id, contract.expectations, contract.key_field, rows)
        pool = self._pool
        try:
            return pool.submit(_check_in_worker, *args).result()
        except BrokenProcessPool:
            # A worker died (killed, out of memory): start a fresh pool and try the batch once
            # more, rather than failing every batch from now on.
            log.warning("the quality worker pool broke; starting a new one")
            with self._lock:
                if self._pool is pool:
                    self._pool = self._new_pool()
            return self._pool.submit(_check_in_worker, *args).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
