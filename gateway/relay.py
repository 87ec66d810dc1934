"""The outbox relay: publishes committed outbox rows to Kafka, marks them sent after the ack.

Delivery is at-least-once: a relay that dies between the broker's ack and its commit sends
those rows again, with the same `ce_id`, and consumers dedupe on it.

A restarted broker may have forgotten every topic (Tansu's memory storage), and Tansu creates
an unknown topic with 4 partitions as soon as a client names it. So the relay checks before
every send that its topics exist (creating them with the configured partitions), sends without
the producer's own retries, and at the first failed send drops the producer with whatever it
still holds: nothing is retried behind the relay's back into a broker whose topics are gone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from catalog import repository
from catalog.clock import as_utc
from catalog.models import Batch, Dataset, SchemaVersion
from gateway.broker import TopicAdmin
from gateway.messages import Message, dead_letter_message, record_message
from gateway.settings import Settings
from gateway.workers import BackgroundLoop

log = logging.getLogger(__name__)

ProducerFactory = Callable[[], Any]
AdminFactory = Callable[[], Any]
SEND_TIMEOUT = 30.0


def kafka_producer(bootstrap: str) -> KafkaProducer:
    """acks=all, batched: the relay sends a whole claim, then waits for acks once."""
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=5,
        batch_size=512 * 1024,
        max_request_size=8 * 1024 * 1024,
        max_block_ms=5_000,
        bootstrap_timeout_ms=3_000,  # fail fast while the broker is down; the loop retries
        request_timeout_ms=10_000,
        delivery_timeout_ms=30_000,
        # The relay retries a failed claim itself, after checking the topics (module docstring).
        retries=0,
        enable_idempotence=False,
    )


class OutboxRelay(BackgroundLoop):
    thread_name = "fdxp-relay"

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        settings: Settings,
        bootstrap: str,
        lock_rows: bool,
        producer_factory: ProducerFactory | None = None,
        admin_factory: AdminFactory | None = None,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._bootstrap = bootstrap
        # PostgreSQL keeps claimed rows locked during the send (several relays may run);
        # SQLite has no row locks, so it releases its read snapshot before the slow send.
        self._lock_rows = lock_rows
        self._producer_factory = producer_factory or (lambda: kafka_producer(bootstrap))
        self._admin_factory = admin_factory or (lambda: TopicAdmin(bootstrap))
        self._producer: Any = None
        self._admin: Any = None
        self.topics_created = 0
        self._datasets: dict[str, Dataset] = {}
        self._schema_versions: dict[int, int] = {}
        super().__init__()
        self.published = 0
        self.last_error: str | None = None

    # --- one pass ------------------------------------------------------------------------------
    def publish_pending(self) -> int:
        """Publish one claim of unsent rows; returns how many were acknowledged."""
        with self._sessions() as session:
            entries = repository.claim_outbox(session, limit=self._settings.relay_batch_size)
            if not entries:
                session.rollback()
                return 0
            messages = self._build_messages(session, entries)
            if not self._lock_rows:
                session.commit()
            acked, failed = self._send(messages)
            now = datetime.now(UTC)
            repository.mark_outbox_sent(session, ids=acked, at=now)
            repository.count_outbox_attempt(session, ids=failed)
            session.commit()
        self.published += len(acked)
        return len(acked)

    def _send(self, messages: list[tuple[int, Message]]) -> tuple[list[int], list[int]]:
        producer = self._ensure_producer()
        created = self._ensure_admin().ensure(
            {m.topic for _, m in messages}, partitions=self._settings.topic_partitions
        )
        if created:
            self.topics_created += len(created)
            log.info("relay created topics %s", ", ".join(created))
        abort = _aborter(producer)
        futures = []
        for entry_id, m in messages:
            future = producer.send(m.topic, key=m.key, value=m.value, headers=m.headers)
            future.add_errback(abort)
            futures.append((entry_id, future))
        try:
            producer.flush(timeout=SEND_TIMEOUT)
        except Exception as exc:  # a flush timeout: the futures left undone count as failed
            self.last_error = f"{type(exc).__name__}: {exc}"
        acked: list[int] = []
        failed: list[int] = []
        for entry_id, future in futures:
            if future.is_done and future.succeeded():
                acked.append(entry_id)
                continue
            if future.is_done:
                error = future.exception
                self.last_error = f"{type(error).__name__}: {error}"
            failed.append(entry_id)  # stays unsent and is retried next pass
        if failed:
            self._reset_producer(abort=True)
        return acked, failed

    def _ensure_producer(self) -> Any:
        if self._producer is None:
            self._producer = self._producer_factory()
        return self._producer

    def _ensure_admin(self) -> Any:
        if self._admin is None:
            self._admin = self._admin_factory()
        return self._admin

    def _reset_producer(self, *, abort: bool = False) -> None:
        """Close the producer and the admin connection; `abort` drops unsent records at once."""
        producer, self._producer = self._producer, None
        admin, self._admin = self._admin, None
        if admin is not None:
            admin.close()
        if producer is None:
            return
        sender = getattr(producer, "_sender", None)
        if abort and sender is not None:
            # kafka-python's close() flushes first and gives up on a timeout without stopping
            # its sender thread, which would then deliver late into a restarted broker.
            sender.force_close()
            sender.join(5)
        try:
            producer.close(timeout=0 if abort else 1)
        except Exception:  # closing a broken producer may fail too; it is dropped anyway
            log.debug("closing producer failed", exc_info=True)

    # --- building messages from the database ---------------------------------------------------
    def _dataset(self, session: Session, dataset_id: str) -> Dataset:
        dataset = self._datasets.get(dataset_id)
        if dataset is None:
            dataset = session.get_one(Dataset, dataset_id)
            session.expunge(dataset)
            self._datasets[dataset_id] = dataset
        return dataset

    def _schema_version(self, session: Session, schema_id: int) -> int:
        if schema_id not in self._schema_versions:
            self._schema_versions[schema_id] = session.get_one(SchemaVersion, schema_id).version
        return self._schema_versions[schema_id]

    def _build_messages(
        self, session: Session, entries: Sequence[Any]
    ) -> list[tuple[int, Message]]:
        seqs: dict[str, list[int]] = defaultdict(list)
        dead: list[tuple[str, int]] = []
        for entry in entries:
            if entry.kind == "record":
                assert entry.seq is not None
                seqs[entry.dataset_id].append(entry.seq)
            else:
                assert entry.batch_id is not None and entry.row_index is not None
                dead.append((entry.batch_id, entry.row_index))
        records = {
            dataset_id: repository.records_by_seq(session, dataset_id=dataset_id, seqs=ids)
            for dataset_id, ids in seqs.items()
        }
        quarantined = repository.quarantined_rows(session, keys=dead) if dead else {}
        batch_ids = {r.batch_id for rows in records.values() for r in rows.values()}
        batch_ids |= {batch_id for batch_id, _ in dead}
        traceparents = dict(
            session.execute(
                select(Batch.id, Batch.traceparent).where(Batch.id.in_(batch_ids))
            ).all()
        )
        messages: list[tuple[int, Message]] = []
        for entry in entries:
            dataset = self._dataset(session, entry.dataset_id)
            if entry.kind == "record":
                record = records[entry.dataset_id][entry.seq or 0]
                message = record_message(
                    topic=self._settings.topic(dataset.id),
                    dataset_id=dataset.id,
                    owner=dataset.owner,
                    schema_id=record.schema_id,
                    schema_version=self._schema_version(session, record.schema_id),
                    record_id=record.record_id,
                    record_key=record.record_key,
                    seq=record.seq,
                    batch_id=record.batch_id,
                    payload=record.payload,
                    created_at=as_utc(record.created_at),
                    traceparent=traceparents[record.batch_id],
                )
            else:
                row = quarantined[(entry.batch_id or "", entry.row_index or 0)]
                message = dead_letter_message(
                    topic=self._settings.dead_letter_topic(dataset.id),
                    dataset_id=dataset.id,
                    owner=dataset.owner,
                    batch_id=row.batch_id,
                    row_index=row.row_index,
                    record_key=row.record_key,
                    raw=row.raw,
                    errors=row.errors,
                    created_at=as_utc(row.created_at),
                    traceparent=traceparents[row.batch_id],
                )
            messages.append((entry.id, message))
        return messages

    # --- the loop ------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Publish until `stop` is set; back off while the broker or database is down."""
        backoff = 0.0
        while not stop.is_set():
            try:
                sent = self.publish_pending()
                backoff = 0.0
                self.last_error = None
                if sent == 0:
                    stop.wait(self._settings.relay_poll_interval)
            except Exception as exc:  # the relay outlives broker and database outages
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("relay pass failed (%s); retrying", self.last_error)
                self._reset_producer(abort=True)
                backoff = min(max(backoff * 2, 0.2), 5.0)
                stop.wait(backoff)
        self._reset_producer()

    def drain(self, *, timeout: float = 30) -> int:
        """Publish until nothing is pending (used on shutdown and by tests)."""
        deadline = time.monotonic() + timeout
        total = 0
        while time.monotonic() < deadline:
            sent = self.publish_pending()
            total += sent
            if sent == 0:
                return total
        return total


def _aborter(producer: Any) -> Callable[[Any], None]:
    """An errback that stops the producer's sender at the first failed send.

    Unsent records are then failed at once instead of waiting for the broker to come back
    (possibly restarted, without the topics), and the relay retries them after checking the
    topics. kafka-python's sender thread offers no public way to do this."""
    sender = getattr(producer, "_sender", None)

    def abort(_: Any) -> None:
        if sender is not None:
            sender.force_close()  # only sets flags: safe from the sender thread's own callback

    return abort
