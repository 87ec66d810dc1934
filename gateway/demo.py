"""`fdxp demo`: the whole path on real parts, start to finish, with a summary table.

broker (embedded Tansu) + database (SQLite) + gateway (uvicorn) + relay
  <- tax, treasury and customs connectors <- the three simulated unit systems;
  a Kafka consumer per topic reads everything back and decodes it.
"""

from __future__ import annotations

import json
import random
import secrets
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
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


@dataclass
class TopicReader:
    """A plain Kafka consumer of one topic, as a subscriber would run it: it decodes the
    Confluent-framed Avro values and counts distinct record ids (ce_id)."""

    bootstrap: str
    topic: str
    schema: dict[str, Any]
    record_ids: set[str] = field(default_factory=set)
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
                            codec.decode(unframe(message.value)[1])
                        except Exception:  # counted and shown in the summary
                            self.decode_errors += 1
                            continue
                        self.record_ids.add(header(message.headers, "ce_id") or "")
        finally:
            consumer.close()


@dataclass
class Source:
    """One unit system and its connector, set up for the demo."""

    connector: str
    dataset_id: str
    unit: str
    source: str
    described: str
    source_token: str | None = None
    summary: Any = None
    error: str | None = None


@contextmanager
def unit_systems(
    workdir: Path, *, count: int, bad_share: float, seed: int
) -> Iterator[list[Source]]:
    """The tax database, the treasury drop folder and the customs API, filled and running."""
    from simulators.customs import CustomsSystem, Faults, running
    from simulators.tax import generate
    from simulators.treasury import export

    tax_db = workdir / "tax.db"
    tax = generate(tax_db, count, bad_share=bad_share, seed=seed)
    drop = workdir / "treasury-drop"
    treasury = export(
        drop,
        count,
        rows_per_file=250,
        bad_share=bad_share,
        malformed=1,
        duplicates=1,
        seed=seed,
        truth_path=workdir / "treasury-truth.jsonl",
    )
    customs = CustomsSystem()
    rng = random.Random(seed)
    customs.register(count, bad_share=bad_share, rng=rng)
    customs.advance(0.3, rng=rng)  # some declarations are cleared or cancelled already
    token = secrets.token_urlsafe(16)
    faults = Faults(rate_limit=0.03, server_error=0.03, seed=seed)
    with running(customs, token=token, faults=faults) as customs_url:
        yield [
            Source("tax", "tax.einvoice", "TCT", str(tax_db),
                   f"{tax.total} e-invoices ({tax.bad} with defects), SQLite"),
            Source("treasury", "treasury.budget_txn", "KBNN", str(drop),
                   f"{len(treasury.files)} TABMIS CSV files ({len(treasury.good)} good rows, "
                   f"{len(treasury.bad)} bad; 1 malformed and 1 duplicate file)"),
            Source("customs", "customs.declaration", "TCHQ", customs_url,
                   f"{customs.count()} VNACCS declarations, {len(customs.versions())} states, "
                   "over HTTP with 429s and 5xx injected", source_token=token),
        ]  # fmt: skip


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
        admin = httpx.Client(
            base_url=hub_url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=30
        )
        stack.callback(admin.close)

        sources = stack.enter_context(
            unit_systems(workdir, count=count, bad_share=bad_share, seed=seed)
        )
        readers: dict[str, TopicReader] = {}
        for source in sources:
            console.print(f"{source.unit:<11} {source.described}")
            dataset = admin.get(f"/v1/datasets/{source.dataset_id}").json()
            ensure_topics(broker.bootstrap, [dataset["topic"]])
            reader = TopicReader(broker.bootstrap, dataset["topic"], dataset["schema"])
            reader_thread = threading.Thread(target=reader.run, daemon=True)
            reader_thread.start()
            stack.callback(reader_thread.join, 5)
            stack.callback(reader.stop.set)
            readers[source.dataset_id] = reader

        started = time.perf_counter()
        with Progress(
            TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=console,
        ) as progress:  # fmt: skip

            def connect(source: Source) -> None:
                task = progress.add_task(f"{source.connector} connector", total=None)
                key = admin.post("/v1/keys", json={"unit": source.unit, "role": "publisher"})

                def on_progress(summary: SyncSummary) -> None:
                    progress.update(task, completed=summary.sent)

                try:
                    source.summary = run_connector(
                        source.connector,
                        hub_url=hub_url,
                        api_key=key.json()["key"],
                        source=source.source,
                        source_token=source.source_token,
                        checkpoint_path=workdir / f"{source.connector}.checkpoint.json",
                        batch_size=batch_size,
                        once=True,
                        on_progress=on_progress,
                    )
                    progress.update(task, total=source.summary.sent)
                except Exception as exc:  # shown in the summary; the demo then fails
                    source.error = f"{type(exc).__name__}: {exc}"

            workers = [threading.Thread(target=connect, args=(s,)) for s in sources]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            expected = sum(s.summary.accepted for s in sources if s.summary)
            consumed_task = progress.add_task("consumed from Kafka", total=expected)

            def consumed() -> int:
                return sum(len(r.record_ids) for r in readers.values())

            deadline = time.monotonic() + 60
            while consumed() < expected and time.monotonic() < deadline:
                progress.update(consumed_task, completed=consumed())
                time.sleep(0.05)
            progress.update(consumed_task, completed=consumed())
        elapsed = time.perf_counter() - started

        ok = _summary(console, sources, readers, elapsed=elapsed)
        tax = next(s for s in sources if s.dataset_id == "tax.einvoice")
        expected_tax = tax.summary.accepted if tax.summary else 0
        ok = ndxp_reading(admin, settings, hub_url, expected=expected_tax, console=console) and ok
        connectors = admin.get("/v1/connectors").json()
        console.print(
            "connector health: "
            + ", ".join(f"{c['name']} {c['status']} (cursor {c['cursor']})" for c in connectors)
        )
        if serve:
            console.print(
                f"\nThe gateway stays up: {hub_url}/docs  (admin key: {admin_key})\nCtrl-C to stop."
            )
            try:
                while thread.is_alive():
                    thread.join(0.5)
            except KeyboardInterrupt:
                pass
        return ok


HUB_MEMBER = "VN/GOV/000.00.00.G12/FDXP"
MOIT_MEMBER = "VN/GOV/000.00.00.G09/BCT"  # the Ministry of Industry and Trade (illustrative)


def ndxp_reading(
    admin: httpx.Client, settings: Settings, hub_url: str, *, expected: int, console: Console
) -> bool:
    """Another ministry reads the hub's e-invoices through the national platform (NDXP)."""
    from simulators.ndxp import Platform, bootstrap_member, running

    platform_token = secrets.token_urlsafe(16)
    with running(Platform(), admin_token=platform_token) as ndxp_url:
        member = bootstrap_member(ndxp_url, platform_token, HUB_MEMBER, "FDXP", hub_url)
        # the running hub reads its NDXP settings at each use: joining needs no restart
        settings.ndxp_url = ndxp_url
        settings.ndxp_token = member["token"]
        settings.ndxp_proof_key = member["proof_key"]
        moit = bootstrap_member(ndxp_url, platform_token, MOIT_MEMBER, "Bộ Công Thương")
        admin.post("/v1/ndxp/services/register").raise_for_status()
        fields = ["invoice_id", "issued_date", "seller_tax_code", "total_amount", "status"]
        admin.post(
            "/v1/ndxp/rights",
            json={"client": MOIT_MEMBER, "dataset_id": "tax.einvoice", "fields": fields},
        ).raise_for_status()
        keys: set[str] = set()
        narrowed = True  # the grant's field list is all the ministry sees
        latencies: list[float] = []
        after = 0
        with httpx.Client(timeout=30) as ministry:
            while True:
                started = time.perf_counter()
                response = ministry.get(
                    f"{ndxp_url}/r/{HUB_MEMBER}/tax.einvoice/records",
                    params={"after": after, "limit": 500},
                    headers={
                        "Authorization": f"Bearer {moit['token']}",
                        "X-Road-Client": MOIT_MEMBER,
                        "X-Road-Id": secrets.token_hex(16),
                        "X-Road-UserId": "VN-CCCD-001099012345",
                        "X-Road-Issue": "BCT-2026-0042",
                    },
                )
                latencies.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                page = response.json()
                if not page["items"]:
                    break
                keys.update(item["key"] for item in page["items"])
                narrowed = narrowed and all(set(i["data"]) <= set(fields) for i in page["items"])
                after = page["next_after"]
        verified = admin.get("/v1/ndxp/messages/verify").json()
    latencies.sort()
    complete = len(keys) == expected and verified["valid"] and narrowed
    console.print(
        f"NDXP: {MOIT_MEMBER} (Bộ Công Thương) read {len(keys)} of {expected} e-invoices "
        f"through the national platform, fields limited to {len(fields)}; "
        f"{len(latencies)} pages, median round trip {latencies[len(latencies) // 2]:.0f} ms; "
        f"message log {'verified ✓' if verified['valid'] else 'BROKEN ✗'}"
        + ("" if complete else "  [red]✗[/red]")
    )
    return complete


def _summary(
    console: Console,
    sources: list[Source],
    readers: dict[str, TopicReader],
    *,
    elapsed: float,
) -> bool:
    table = Table(
        title="unit systems -> connectors -> gateway -> Kafka",
        caption="balanced: accepted + rejected = sent; complete: consumed = accepted",
    )
    for column in ("dataset", "sent", "accepted", "rejected", "consumed", "balanced", "complete"):
        table.add_column(column, justify="left" if column == "dataset" else "right")
    all_ok = True
    total_sent = 0
    reasons: Counter[str] = Counter()
    for source in sources:
        reader = readers[source.dataset_id]
        summary = source.summary
        if summary is None:
            table.add_row(source.dataset_id, "-", "-", "-", "-", "✗", "✗")
            console.print(f"[red]{source.connector} connector failed:[/red] {source.error}")
            all_ok = False
            continue
        balanced = summary.accepted + summary.rejected == summary.sent
        complete = len(reader.record_ids) == summary.accepted and reader.decode_errors == 0
        all_ok = all_ok and balanced and complete
        total_sent += summary.sent
        reasons.update(
            {f"{source.dataset_id}: {r}": n for r, n in summary.rejected_by_rule.items()}
        )
        table.add_row(
            source.dataset_id,
            str(summary.sent),
            str(summary.accepted),
            str(summary.rejected),
            str(len(reader.record_ids)),
            "✓" if balanced else "✗",
            "✓" if complete else "✗",
        )  # fmt: skip
    console.print(table)
    console.print(
        f"whole path: {total_sent} records in {elapsed:.1f} s = "
        f"[bold]{total_sent / elapsed:,.0f} records/s[/bold] (source -> consumed)"
    )
    why = Table(title="Why rows were rejected (a row may break several rules)")
    why.add_column("dataset: rule")
    why.add_column("errors", justify="right")
    for rule, n in reasons.most_common():
        why.add_row(rule, str(n))
    console.print(why)
    if not all_ok:
        console.print("[red]the demo's invariants do not hold[/red]")
    return all_ok
