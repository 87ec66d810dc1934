"""The hub's Kafka message format (ARCHITECTURE.md, "Contracts"): key, Confluent-framed Avro
value, CloudEvents binary-mode headers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from catalog.clock import iso
from schemas.codec import frame

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    key: bytes
    value: bytes
    headers: Headers


def record_message(
    *,
    topic: str,
    dataset_id: str,
    owner: str,
    schema_id: int,
    schema_version: int,
    record_id: str,
    record_key: str,
    seq: int,
    batch_id: str,
    payload: bytes,
    created_at: datetime,
    traceparent: str,
) -> Message:
    return Message(
        topic=topic,
        key=record_key.encode(),
        value=frame(schema_id, payload),
        headers=[
            ("ce_specversion", b"1.0"),
            ("ce_id", record_id.encode()),
            ("ce_source", f"/fdxp/units/{owner}".encode()),
            ("ce_type", f"vn.gov.mof.fdxp.{dataset_id}.v{schema_version}".encode()),
            ("ce_time", iso(created_at).encode()),
            ("content-type", b"application/avro"),
            ("fdxp_seq", str(seq).encode()),
            ("fdxp_batch_id", batch_id.encode()),
            ("traceparent", traceparent.encode()),
        ],
    )


def dead_letter_message(
    *,
    topic: str,
    dataset_id: str,
    owner: str,
    batch_id: str,
    row_index: int,
    record_key: str | None,
    raw: Any,
    errors: list[dict[str, Any]],
    created_at: datetime,
    traceparent: str,
) -> Message:
    """A rejected row as received (JSON), with why it was rejected in the headers."""
    return Message(
        topic=topic,
        key=(record_key or f"{batch_id}/{row_index}").encode(),
        value=orjson.dumps(raw),
        headers=[
            ("ce_specversion", b"1.0"),
            ("ce_id", f"{batch_id}/{row_index}".encode()),
            ("ce_source", f"/fdxp/units/{owner}".encode()),
            ("ce_type", f"vn.gov.mof.fdxp.{dataset_id}.rejected".encode()),
            ("ce_time", iso(created_at).encode()),
            ("content-type", b"application/json"),
            ("fdxp_batch_id", batch_id.encode()),
            ("fdxp_row_index", str(row_index).encode()),
            ("fdxp_rules", ",".join(sorted({str(e["rule"]) for e in errors})).encode()),
            ("fdxp_errors", orjson.dumps(errors)),
            ("traceparent", traceparent.encode()),
        ],
    )


def header(headers: Headers, name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode()
    return None
