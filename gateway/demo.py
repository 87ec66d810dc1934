"""`fdxp demo`: the whole path on real parts, start to finish, with a summary table.

broker (embedded Tansu) + database (SQLite) + gateway (uvicorn) + relay
  <- tax connector <- simulated tax system;   a Kafka consumer reads the topic back.
"""

from __future__ import annotations

import json
import secrets
import shutil
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from kafka import KafkaConsumer, TopicPartition
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gateway.app import create_app
from gateway.broker import EmbeddedBroker, ensure_topics, free_port
from gateway.messages import header
from gateway.settings import Settings
from schemas.codec import codec_for, unframe

DATASET = "tax.einvoice"


@dataclass
class TopicReader:
    """A plain Kafka consumer of one topic, as a subscriber would run it: it decodes the
    Confluent-framed Avro values and counts distinct record ids (ce_id)."""

    bootstrap: str
    topic: str
    schema: dict[str, Any]
    record_ids: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)
    decode_errors: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        codec = codec_for(json.dumps(self.schema))
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, consumer_timeout_ms=200
        )
        try:
            partitions = [
                TopicPartition(self.topic, p)
                for p in sorted(consumer.partitions_for_topic(self.topic) or {0})
            ]
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            while not self.stop.is_set():
                for batch in consumer.poll(timeout_ms=200).values():
                    for message in batch:
                        try:
                            _, payload = unframe(message.value)
                            datum = codec.decode(payload)
                        except Exception:  # counted and shown in the summary
                            self.decode_errors += 1
                            continue
                        self.record_ids.add(header(message.headers, "ce_id") or "")
                        self.keys.add(str(datum["invoice_id"]))
        finally:
            consumer.close()


def run_demo(
    *,
    count: int,
    bad_share: float,
    seed: int,
    batch_size: int,
    serve: bool,
    port: int,
    console: Console,
) -> bool:
    from connectors import SyncSummary, run_connector
    from simulators.tax import generate

    workdir = Path("var/demo")
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    admin_key = secrets.token_urlsafe(32)
    settings = Settings(
        env="development", data_dir=str(workdir), database_url="", admin_key=admin_key
    )
    with ExitStack() as stack:
        console.rule("[bold]FDXP demo")
        broker = stack.enter_context(EmbeddedBroker())
        console.print(f"broker      Tansu on {broker.bootstrap}")
        port = port if serve else free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings, kafka_bootstrap=broker.bootstrap),
                host="127.0.0.1",
                port=port,
                log_level="warning",
            )
        )
        thread = threading.Thread(target=server.run, name="gateway", daemon=True)
        thread.start()
        stack.callback(thread.join, 10)
        stack.callback(setattr, server, "should_exit", True)
        hub_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                console.print("[red]the gateway did not start[/red]")
                return False
            time.sleep(0.05)
        console.print(f"gateway     {hub_url}  (database {settings.resolved_database_url})")

        admin = httpx.Client(base_url=hub_url, headers={"Authorization": f"Bearer {admin_key}"})
        stack.callback(admin.close)
        tct_key = admin.post("/v1/keys", json={"unit": "TCT", "role": "publisher"}).json()["key"]
        dataset = admin.get(f"/v1/datasets/{DATASET}").json()

        tax_db = workdir / "tax.db"
        generated = generate(tax_db, count, bad_share=bad_share, seed=seed)
        console.print(
            f"tax system  issued {generated.total} e-invoices ({generated.bad} with defects) "
            f"in {tax_db}"
        )

        ensure_topics(broker.bootstrap, [dataset["topic"]])
        reader = TopicReader(broker.bootstrap, dataset["topic"], dataset["schema"])
        reader_thread = threading.Thread(target=reader.run, name="consumer", daemon=True)
        reader_thread.start()

        started = time.perf_counter()
        with Progress(
            TextColumn("{task.description:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            sent_task = progress.add_task("connector", total=generated.total)
            consumed_task = progress.add_task("consumed", total=None)

            def on_progress(summary: SyncSummary) -> None:
                progress.update(sent_task, completed=summary.sent)
                progress.update(consumed_task, completed=len(reader.record_ids))

            summary = run_connector(
                "tax",
                hub_url=hub_url,
                api_key=tct_key,
                source=tax_db,
                checkpoint_path=workdir / "tax.checkpoint.json",
                batch_size=batch_size,
                once=True,
                on_progress=on_progress,
            )
            progress.update(consumed_task, total=summary.accepted)
            deadline = time.monotonic() + 60
            while len(reader.record_ids) < summary.accepted and time.monotonic() < deadline:
                progress.update(consumed_task, completed=len(reader.record_ids))
                time.sleep(0.05)
            progress.update(consumed_task, completed=len(reader.record_ids))
        elapsed = time.perf_counter() - started
        reader.stop.set()
        reader_thread.join(5)

        ready = admin.get("/readyz").json()
        published = (ready.get("relay") or {}).get("published", 0)
        ok = _summary(
            console,
            generated=generated.total,
            generated_bad=generated.bad,
            summary=summary,
            published=published,
            consumed=len(reader.record_ids),
            decode_errors=reader.decode_errors,
            elapsed=elapsed,
        )
        if serve:
            console.print(
                f"\nThe gateway stays up: {hub_url}/docs  (admin key: {admin_key})\n"
                f"TCT publisher key: {tct_key}\nCtrl-C to stop."
            )
            try:
                while thread.is_alive():
                    thread.join(0.5)
            except KeyboardInterrupt:
                pass
        return ok


def _summary(
    console: Console,
    *,
    generated: int,
    generated_bad: int,
    summary: Any,
    published: int,
    consumed: int,
    decode_errors: int,
    elapsed: float,
) -> bool:
    table = Table(title="tax.einvoice: tax system -> connector -> gateway -> Kafka")
    table.add_column("stage")
    table.add_column("records", justify="right")
    table.add_column("check")
    balanced = summary.accepted + summary.rejected == generated
    complete = consumed == summary.accepted and decode_errors == 0
    table.add_row("issued by the tax system", str(generated), f"{generated_bad} with defects")
    table.add_row("accepted by the hub", str(summary.accepted), "")
    table.add_row(
        "rejected (in quarantine)",
        str(summary.rejected),
        "= generated - accepted" + (" ✓" if balanced else " ✗"),
    )
    table.add_row("published by the relay", str(published), "incl. dead letters")
    table.add_row(
        "consumed from Kafka",
        str(consumed),
        "distinct ce_id = accepted" + (" ✓" if complete else " ✗"),
    )
    table.add_row(
        "throughput, whole path", f"{generated / elapsed:,.0f}/s", f"{elapsed:.2f} s in all"
    )
    console.print(table)
    reasons = Table(title="Why rows were rejected (a row may break several rules)")
    reasons.add_column("rule")
    reasons.add_column("errors", justify="right")
    for rule, n in Counter(summary.rejected_by_rule).most_common():
        reasons.add_row(rule, str(n))
    console.print(reasons)
    if not (balanced and complete):
        console.print("[red]the demo's invariants do not hold[/red]")
    return balanced and complete
