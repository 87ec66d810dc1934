"""Helpers shared by tests: polling with a deadline, and a handle on a running gateway."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx

from gateway.settings import Settings

ADMIN_KEY = "test-admin-" + secrets.token_urlsafe(24)
T = TypeVar("T")


def poll_until(
    predicate: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll `predicate` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


@dataclass
class Hub:
    """A running gateway and the keys to talk to it."""

    client: httpx.Client
    settings: Settings
    url: str = ""

    def auth(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    @property
    def admin(self) -> dict[str, str]:
        return self.auth(ADMIN_KEY)

    def new_key(self, unit: str, role: str = "publisher") -> str:
        response = self.client.post(
            "/v1/keys", json={"unit": unit, "role": role}, headers=self.admin
        )
        assert response.status_code == 201, response.text
        return str(response.json()["key"])


def read_topic(
    bootstrap: str, topic: str, *, until: Callable[[list], bool], timeout: float = 30.0
) -> list:
    """Read a topic from the beginning with a plain consumer until `until(messages)` holds.

    Assigns partitions instead of joining a group: Tansu's group join is slow, and these
    tests read a topic of their own."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    messages: list = []
    try:
        partitions = poll_until(
            lambda: consumer.partitions_for_topic(topic), timeout=timeout, what=f"topic {topic}"
        )
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        deadline = time.monotonic() + timeout
        while not until(messages):
            if time.monotonic() > deadline:
                raise AssertionError(f"read {len(messages)} messages from {topic}; wanted more")
            for batch in consumer.poll(timeout_ms=200).values():
                messages.extend(batch)
    finally:
        consumer.close()
    return messages
