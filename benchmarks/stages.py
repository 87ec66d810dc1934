"""The ingest stages one by one, in this process, without HTTP or a database: what one batch
costs per stage, and how the quality suite's cost splits into a fixed part and a per-row part.

    python -m benchmarks.stages [--rows 1000] [--repeat 5] [--bootstrap HOST:PORT]

Without --bootstrap the kafka-python stage runs against an embedded broker of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from benchmarks.records import DATASET, KEY_FIELD, EinvoiceGenerator, einvoice_schema


def _best(fn: Callable[[], Any], repeat: int) -> float:
    """Median seconds of `repeat` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(rows: int, repeat: int, bootstrap: str | None) -> dict[str, Any]:
    from gateway.messages import record_message
    from schemas.codec import AvroCodec
    from schemas.descriptor import seed_descriptors
    from schemas.quality import QualityEngine

    descriptor = next(d for d in seed_descriptors() if d.id == DATASET)
    records = EinvoiceGenerator().records(max(rows, 5000))
    batch = records[:rows]
    body = orjson.dumps({"records": batch})
    codec = AvroCodec(einvoice_schema())
    conformed, errors = codec.conform(batch, KEY_FIELD)
    assert not errors
    engine = QualityEngine()
    expectations = descriptor.quality_configs

    stages: dict[str, float] = {}
    stages["parse JSON body (orjson)"] = _best(lambda: orjson.loads(body), repeat)
    stages["request hash (sorted orjson + sha256)"] = _best(
        lambda: orjson.dumps(batch, option=orjson.OPT_SORT_KEYS), repeat
    )
    stages["conform (JSON -> Avro values)"] = _best(lambda: codec.conform(batch, KEY_FIELD), repeat)
    stages["quality suite (GX)"] = _best(
        lambda: engine.check("bench", expectations, KEY_FIELD, conformed), repeat
    )
    payloads = codec.encode_many([d for _, d in conformed])
    stages["encode (Avro binary)"] = _best(
        lambda: codec.encode_many([d for _, d in conformed]), repeat
    )
    now = datetime.now(UTC)

    def build() -> list[Any]:
        return [
            record_message(
                topic="t",
                dataset_id=DATASET,
                owner="TCT",
                schema_id=1,
                schema_version=1,
                record_id=str(uuid.uuid4()),
                record_key=str(d[KEY_FIELD]),
                seq=i,
                batch_id="b",
                payload=p,
                created_at=now,
                traceparent="00-x-y-01",
            )
            for i, ((_, d), p) in enumerate(zip(conformed, payloads, strict=True))
        ]

    stages["relay: build messages (no DB)"] = _best(build, repeat)
    messages = build()
    stages.update(_kafka(messages, repeat, bootstrap))

    # The quality suite: fixed cost per batch and cost per row, from two batch sizes.
    big = min(5000, len(records))
    big_conformed, _ = codec.conform(records[:big], KEY_FIELD)
    small_conformed = big_conformed[:100]
    t_small = _best(lambda: engine.check("bench", expectations, KEY_FIELD, small_conformed), 3)
    t_big = _best(lambda: engine.check("bench", expectations, KEY_FIELD, big_conformed), 3)
    per_row = (t_big - t_small) / (big - 100)
    gx = {
        "rules": len(expectations),
        "ms_at_100_rows": round(t_small * 1000, 1),
        f"ms_at_{big}_rows": round(t_big * 1000, 1),
        "fixed_ms_per_batch": round((t_small - per_row * 100) * 1000, 1),
        "us_per_row": round(per_row * 1e6, 1),
    }
    return {"rows": rows, "ms": {k: round(v * 1000, 2) for k, v in stages.items()}, "gx": gx}


def _kafka(messages: list[Any], repeat: int, bootstrap: str | None) -> dict[str, float]:
    from gateway.broker import EmbeddedBroker, ensure_topics
    from gateway.relay import kafka_producer

    with contextlib.ExitStack() as stack:
        if bootstrap is None:
            bootstrap = stack.enter_context(EmbeddedBroker()).bootstrap
        topic = f"stages.{uuid.uuid4().hex[:6]}"
        ensure_topics(bootstrap, [topic])
        producer = kafka_producer(bootstrap)  # the relay's own client settings
        stack.callback(producer.close, 5)
        producer.partitions_for(topic)

        def send_only() -> None:
            for m in messages:
                producer.send(topic, key=m.key, value=m.value, headers=m.headers)

        def send_and_flush() -> None:
            send_only()
            producer.flush(timeout=30)

        send_and_flush()
        t_send = []
        t_all = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            send_only()
            t1 = time.perf_counter()
            producer.flush(timeout=30)
            t2 = time.perf_counter()
            t_send.append(t1 - t0)
            t_all.append(t2 - t0)
        return {
            "relay: kafka-python send() calls": statistics.median(t_send),
            "relay: send() + flush (acks=all)": statistics.median(t_all),
        }


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stages")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--bootstrap")
    args = parser.parse_args(argv)
    result = measure(args.rows, args.repeat, args.bootstrap)
    console = Console()
    table = Table(title=f"one batch of {args.rows} tax.einvoice records, stage by stage")
    table.add_column("stage")
    table.add_column("ms per batch", justify="right")
    table.add_column("µs per record", justify="right")
    for stage, ms in result["ms"].items():
        table.add_row(stage, f"{ms:,.1f}", f"{ms * 1000 / args.rows:,.1f}")
    console.print(table)
    gx = result["gx"]
    console.print(
        f"quality suite ({gx['rules']} rules): {gx['fixed_ms_per_batch']} ms fixed per batch "
        f"+ {gx['us_per_row']} µs per row"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
