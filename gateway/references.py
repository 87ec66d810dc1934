"""Reference checks, the ingest pipeline's third stage (after Avro and the GX suite): quality
rules that ask another system, here whether a tax code is an active enterprise in the national
enterprise registry, reached through NDXP (schemas/reference.py defines the rules).

Per batch, never per record: the codes of every reference rule are collected, the cached ones
(database, with a TTL) are answered from the cache, and the rest go to NDXP in one batch lookup.
When NDXP cannot answer, each rule's `on_unavailable` decides: `reject` the rows, or `defer`
(accept them and record them for a re-check, which `ReferenceRechecker` runs in the background
once NDXP answers again; failed re-checks are listed at /v1/datasets/{id}/rechecks).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from catalog import ndxp
from gateway.ndxp_client import NdxpClient, NdxpFailure
from gateway.settings import Settings
from gateway.workers import BackgroundLoop
from schemas.reference import ReferenceRule
from schemas.results import RowError, RuleResult

log = logging.getLogger(__name__)

REGISTRY = "the national enterprise registry"
STATUS_TEXT = {
    "closed": "is closed",
    "suspended": "is suspended",
    "unknown": "is not a registered enterprise",
}


@dataclass(frozen=True, slots=True)
class Deferral:
    """A row accepted without its reference check (NDXP unavailable), to check again later."""

    index: int
    rule: str
    column: str
    value: str


@dataclass(slots=True)
class ReferenceOutcome:
    errors: list[RowError] = field(default_factory=list)
    deferred: list[Deferral] = field(default_factory=list)
    rules: list[RuleResult] = field(default_factory=list)


def failure_text(column: str, value: str, status: str) -> str:
    return f"{column} {value} {STATUS_TEXT.get(status, f'has status {status}')} in {REGISTRY}"


class EnterpriseRegistry:
    """Tax code -> registry status, through NDXP, cached in the catalog for the TTL."""

    def __init__(
        self, *, client: NdxpClient, sessions: sessionmaker[Session], settings: Settings
    ) -> None:
        self._client = client
        self._sessions = sessions
        self._settings = settings

    def statuses(
        self, tax_codes: Iterable[str], *, traceparent: str | None
    ) -> tuple[dict[str, str], str | None]:
        """`({code: status} for every code answered, why the rest could not be, or None)`."""
        codes = set(tax_codes)
        if not codes:
            return {}, None
        now = datetime.now(UTC)
        with self._sessions() as session:
            cached = ndxp.cached_enterprises(session, tax_codes=codes, now=now)
            known = {code: entry.status for code, entry in cached.items()}
            session.rollback()
        missing = codes - set(known)
        if not missing:
            return known, None
        try:
            found = self._client.lookup_enterprises(missing, traceparent=traceparent)
        except NdxpFailure as exc:
            log.warning("reference check: %s (traceparent %s)", exc.message, traceparent)
            return known, exc.message
        try:
            with self._sessions() as session:
                ndxp.put_enterprises(
                    session,
                    entries=found,
                    now=now,
                    ttl=timedelta(seconds=self._settings.ndxp_reference_ttl_seconds),
                )
                session.commit()
        except SQLAlchemyError:  # the cache is an optimisation: the answer stands without it
            log.warning("could not cache %d registry answers", len(found), exc_info=True)
        known.update({code: status for code, (status, _name) in found.items()})
        return known, None


class ReferenceChecker:
    """Runs a contract's reference rules over the rows that passed the earlier stages."""

    def __init__(self, registry: EnterpriseRegistry) -> None:
        self._registry = registry

    def check(
        self,
        rules: Sequence[ReferenceRule],
        key_field: str,
        rows: Sequence[tuple[int, dict[str, Any]]],
        *,
        traceparent: str | None,
    ) -> ReferenceOutcome:
        values = {
            (rule.column, index): str(datum[rule.column]).strip()
            for rule in rules
            for index, datum in rows
            if datum.get(rule.column) is not None
        }
        statuses, unavailable = self._registry.statuses(
            set(values.values()), traceparent=traceparent
        )
        outcome = ReferenceOutcome()
        for rule in rules:
            failed = 0
            for index, datum in rows:
                value = values.get((rule.column, index))
                if value is None:
                    continue
                key = datum.get(key_field)
                key = key if isinstance(key, str) else None
                status = statuses.get(value)
                if status == "active":
                    continue
                if status is not None:
                    message = failure_text(rule.column, value, status)
                elif rule.on_unavailable == "defer":
                    outcome.deferred.append(Deferral(index, rule.type, rule.column, value))
                    continue
                else:
                    message = (
                        f"{rule.column} {value} could not be checked: {REGISTRY} is unavailable "
                        f"through NDXP ({unavailable}); the rule says on_unavailable: reject"
                    )
                outcome.errors.append(RowError(index, key, rule.column, rule.type, message))
                failed += 1
            outcome.rules.append(RuleResult(rule.type, rule.column, len(rows) - failed, failed))
        rejected = {e.index for e in outcome.errors}
        outcome.deferred = [d for d in outcome.deferred if d.index not in rejected]
        return outcome


class ReferenceRechecker(BackgroundLoop):
    thread_name = "fdxp-recheck"

    """Re-checks deferred rows once NDXP answers again: a background thread, like the relay."""

    def __init__(
        self,
        *,
        registry: EnterpriseRegistry,
        sessions: sessionmaker[Session],
        settings: Settings,
        batch_size: int = 1000,
    ) -> None:
        self._registry = registry
        self._sessions = sessions
        self._settings = settings
        self._batch_size = batch_size
        super().__init__()
        self.resolved = 0

    def recheck_once(self) -> int:
        """One pass over pending re-checks; returns how many were resolved (passed or failed)."""
        if not self._settings.ndxp_client_configured:
            return 0
        with self._sessions() as session:
            pending = [
                (row.id, row.value, row.column, row.traceparent, row.dataset_id, row.record_key)
                for row in ndxp.pending_rechecks(session, limit=self._batch_size)
            ]
            session.rollback()
        if not pending:
            return 0
        by_trace: dict[str | None, list[tuple[Any, ...]]] = defaultdict(list)
        for item in pending:
            by_trace[item[3]].append(item)
        outcomes: dict[int, tuple[str, str | None]] = {}
        waiting: list[int] = []
        away = False  # NDXP did not answer: leave the remaining groups for the next pass
        for trace, items in by_trace.items():
            if away:
                waiting.extend(item[0] for item in items)
                continue
            statuses, unavailable = self._registry.statuses(
                {item[1] for item in items}, traceparent=trace
            )
            away = unavailable is not None
            for recheck_id, value, column, _trace, dataset_id, record_key in items:
                status = statuses.get(value)
                if status is None:
                    waiting.append(recheck_id)
                elif status == "active":
                    outcomes[recheck_id] = ("passed", None)
                else:
                    reason = failure_text(column, value, status)
                    outcomes[recheck_id] = ("failed", reason)
                    log.warning(
                        "re-check failed: %s record %s: %s (traceparent %s)",
                        dataset_id,
                        record_key,
                        reason,
                        trace,
                    )
        with self._sessions() as session:
            ndxp.resolve_rechecks(
                session, outcomes=outcomes, still_pending=waiting, now=datetime.now(UTC)
            )
            session.commit()
        self.resolved += len(outcomes)
        return len(outcomes)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self._settings.ndxp_recheck_interval_seconds):
            try:
                self.recheck_once()
            except Exception:  # the loop survives a database or NDXP outage
                log.exception("reference re-check pass failed")
