"""The Kafka side of the bench: the baseline producer and the watching consumer.

The consumer assigns the topic's partitions itself (no group: Tansu's group join is slow) and
notes, per record key, the monotonic time it first saw the record; it counts distinct `ce_id`
headers, as a deduplicating subscriber would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from gateway.broker import ensure_topics

# The baseline's client settings: acks=all and batched, as a unit writing straight to Kafka
# would sensibly configure kafka-python (the same family of settings as the hub's relay).
BASELINE_PRODUCER: dict[str, Any] = {
    "acks": "all",
    "linger_ms": 5,
    "batch_size": 512 * 1024,
    "max_request_size": 8 * 1024 * 1024,
    "max_block_ms": 10_000,
    "request_timeout_ms": 30_000,
    "retries": 5,
    "enable_idempotence": False,
}


@dataclass
class TopicWatcher:
    """Reads one topic from the beginning; `seen[key]` is when a key was first consumed."""

    bootstrap: str
    topic: str
    fetch_max_wait_ms: int = 20
    seen: dict[str, float] = field(default_factory=dict)
    record_ids: set[str] = field(default_factory=set)
    messages: int = 0
    bad_frames: int = 0
    error: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    ready: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> TopicWatcher:
        self._thread = threading.Thread(target=self._run, name=f"watch-{self.topic}", daemon=True)
        self._thread.start()
        if not self.ready.wait(30):
            raise RuntimeError(f"the consumer of {self.topic} did not get its partitions")
        return self

    def close(self) -> None:
        self.stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def count(self, keys: set[str] | None = None) -> int:
        if keys is None:
            return len(self.seen)
        return sum(1 for k in keys if k in self.seen)

    def wait_for(
        self, keys: set[str], *, timeout: float, tick: Callable[[int], None] | None = None
    ) -> int:
        deadline = time.monotonic() + timeout
        while True:
            got = self.count(keys)
            if tick is not None:
                tick(got)
            if got >= len(keys) or time.monotonic() > deadline or self.error:
                return got
            time.sleep(0.02)

    def _run(self) -> None:
        try:
            consumer = KafkaConsumer(
                bootstrap_servers=self.bootstrap,
                enable_auto_commit=False,
                fetch_max_wait_ms=self.fetch_max_wait_ms,
                max_partition_fetch_bytes=16 * 1024 * 1024,
                fetch_max_bytes=64 * 1024 * 1024,
                max_poll_records=100_000,
            )
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self.ready.set()
            return
        try:
            partitions: set[int] | None = None
            deadline = time.monotonic() + 20
            while not partitions and time.monotonic() < deadline:
                partitions = consumer.partitions_for_topic(self.topic)
                if not partitions:
                    time.sleep(0.1)
            assigned = [TopicPartition(self.topic, p) for p in sorted(partitions or {0})]
            consumer.assign(assigned)
            consumer.seek_to_beginning(*assigned)
            self.ready.set()
            seen = self.seen
            while not self.stop.is_set():
                polled = consumer.poll(timeout_ms=100)
                now = time.monotonic()
                for batch in polled.values():
                    for message in batch:
                        self.messages += 1
                        value = message.value
                        if not value or value[0] != 0:
                            self.bad_frames += 1
                        key = message.key.decode() if message.key else ""
                        seen.setdefault(key, now)
                        for name, header_value in message.headers:
                            if name == "ce_id":
                                self.record_ids.add(header_value.decode())
                                break
        except Exception as exc:  # reported in the bench's notes
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.ready.set()
            consumer.close()


def prepare_topic(bootstrap: str, topic: str) -> None:
    ensure_topics(bootstrap, [topic], partitions=1)


def baseline_producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, **BASELINE_PRODUCER)
