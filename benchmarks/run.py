"""`fdxp bench`: the hub against a plain kafka-python producer, same broker, same records.

One run: an embedded broker (Tansu); the baseline producer sends the N records straight to a
topic; then, per database, a fresh gateway process (with its relay) takes the same N records by
HTTP from C publishers until a consumer has read all N back; then a second, paced run at half
the measured maximum rate gives the latency at half load.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy.engine import make_url

from benchmarks.hub import (
    BatchTiming,
    GatewayError,
    GatewayProcess,
    Profiler,
    RelayProcess,
    RssSampler,
    broker_pid,
    cpu_seconds,
    latencies,
    publish,
)
from benchmarks.kafka_io import BASELINE_PRODUCER, TopicWatcher, baseline_producer, prepare_topic
from benchmarks.records import DATASET, KEY_FIELD, EinvoiceGenerator, FramedEncoder, einvoice_schema
from benchmarks.report import (
    BaselineResult,
    BenchReport,
    HalfLoad,
    HubResult,
    Latency,
    machine_info,
    render_table,
    write_chart,
    write_json,
)
from gateway.broker import EmbeddedBroker

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DATABASES = ("sqlite", "postgresql")
CONSUME_TIMEOUT = 180.0
MB = 1024 * 1024


def run_bench(
    *,
    records: int = 20_000,
    batch_size: int = 1_000,
    publishers: int = 2,
    databases: list[str] | None = None,
    postgres_url: str | None = None,
    out_dir: Path | None = None,
    console: Console | None = None,
    half_load: bool = True,
    profile: bool = False,
    profile_gil: bool = False,
    seed: int = 2026,
    bootstrap: str | None = None,
    gateway_env: dict[str, str] | None = None,
    relay_process: bool = False,
) -> BenchReport:
    """Run the bench and print its table; with `out_dir`, write bench.json and bench.png.

    `bootstrap`: an already running broker instead of the embedded one. `profile`: record the
    gateway with py-spy during the max-load run (the figures of that run include its overhead)
    and summarise where the time goes, per stage (`profile_gil`: only GIL-holding samples).
    `gateway_env`: extra FDXP_* settings for the gateway process (e.g. the relay's batch size),
    to measure a tuning without changing code. `relay_process`: run the relay as its own
    process (`fdxp relay`) instead of a thread of the gateway.
    """
    console = console or Console()
    databases = list(databases or DATABASES)
    unknown = sorted(set(databases) - set(DATABASES))
    if unknown:
        raise ValueError(f"unknown database(s) {unknown}; choose from {list(DATABASES)}")
    if records < 1 or batch_size < 1 or publishers < 1:
        raise ValueError("records, batch size and publishers must be positive")
    postgres_url = postgres_url or DEFAULT_POSTGRES_URL
    run_id = secrets.token_hex(3)
    started = time.monotonic()
    generator = EinvoiceGenerator(seed)
    main_records = generator.records(records)
    half_count = _half_load_count(records, batch_size) if half_load else 0
    half_records = generator.records(half_count, start=records)
    warmup_records = generator.records(min(batch_size, records), start=records + half_count)
    report = BenchReport(
        parameters={
            "records": records,
            "batch_size": batch_size,
            "publishers": publishers,
            "databases": databases,
            "half_load_records": half_count,
            "seed": seed,
            "dataset": DATASET,
            "profile": profile,
            "profile_gil": profile_gil,
            "gateway_env": dict(gateway_env or {}),
            "relay_process": relay_process,
            "run_id": run_id,
            "started_at": datetime.now(UTC).isoformat(),
        },
        machine=machine_info(),
        baseline=None,
    )
    if profile:
        report.notes.append(
            "profiled: py-spy sampled the gateway during the max-load runs, so their figures "
            "carry its overhead; run without --profile for clean numbers"
        )
    workdir = Path(tempfile.mkdtemp(prefix=f"fdxp-bench-{run_id}-"))
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    console.rule(f"[bold]fdxp bench[/bold] ({run_id})")
    try:
        with contextlib.ExitStack() as stack:
            if bootstrap is None:
                broker = stack.enter_context(EmbeddedBroker())
                bootstrap = broker.bootstrap
                console.print(f"broker      Tansu (embedded) on {bootstrap}")
            else:
                console.print(f"broker      {bootstrap}")
            console.print(
                f"records     {records:,} tax.einvoice (+{half_count:,} for the half-load run), "
                f"batches of {batch_size}, {publishers} publishers"
            )
            with _progress(console) as progress:
                report.baseline = _run_baseline(
                    bootstrap,
                    main_records,
                    topic=f"bench{run_id}.baseline.{DATASET}",
                    progress=progress,
                )
            console.print(
                f"baseline    {report.baseline.records_per_s:,.0f} records/s "
                f"({report.baseline.elapsed_s:.2f} s, acks=all)"
            )
            for database in databases:
                result = _run_hub(
                    database,
                    bootstrap=bootstrap,
                    postgres_url=postgres_url,
                    run_id=run_id,
                    main_records=main_records,
                    half_records=half_records,
                    warmup_records=warmup_records,
                    batch_size=batch_size,
                    publishers=publishers,
                    workdir=workdir,
                    out_dir=out_dir,
                    profile=profile,
                    profile_gil=profile_gil,
                    gateway_env=gateway_env or {},
                    relay_process=relay_process,
                    console=console,
                )
                if result.status == "ok" and report.baseline.records_per_s > 0:
                    result.ratio = round(result.records_per_s / report.baseline.records_per_s, 3)
                report.hubs.append(result)
                if result.status == "ok":
                    console.print(
                        f"{result.label:<18} {result.records_per_s:,.0f} records/s, "
                        f"ratio {result.ratio:.2f}, peak RSS {result.peak_rss_mb:,.0f} MB"
                    )
                else:
                    console.print(f"[yellow]{result.label}: {result.status}[/yellow] {result.note}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report.elapsed_s = round(time.monotonic() - started, 2)
    render_table(report, console)
    if out_dir is not None:
        write_json(report, out_dir / "bench.json")
        write_chart(report, out_dir / "bench.png")
        console.print(f"wrote {out_dir / 'bench.json'} and {out_dir / 'bench.png'}")
    return report


def _half_load_count(records: int, batch_size: int) -> int:
    # Half the records at half the rate: about as long as the max-load run, at least 4 batches.
    count = max(records // 2, 4 * batch_size)
    return min(count, max(records, batch_size))


@contextlib.contextmanager
def _progress(console: Console) -> Iterator[Progress]:
    with Progress(
        TextColumn("{task.description:<30}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        yield progress


# --- (a) the baseline --------------------------------------------------------------------------
def _run_baseline(
    bootstrap: str, records: list[dict[str, Any]], *, topic: str, progress: Progress
) -> BaselineResult:
    """A plain kafka-python producer: the same records, Avro + Confluent framing, CloudEvents
    headers like the hub's, acks=all; timed from the first encode to the last ack."""
    prepare_topic(bootstrap, topic)
    encoder = FramedEncoder(einvoice_schema())
    producer = baseline_producer(bootstrap)
    watcher: TopicWatcher | None = None
    sent_task = progress.add_task("baseline: sent (acks=all)", total=len(records))
    consumed_task = progress.add_task("baseline: consumed", total=len(records))
    try:
        producer.partitions_for(topic)  # metadata first, as a long-running unit would have it
        batch_id = str(uuid.uuid4())
        traceparent = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
        futures = []
        encode_s = 0.0
        t0 = time.monotonic()
        for i, record in enumerate(records):
            e0 = time.perf_counter()
            value = encoder.encode(record)
            headers = [
                ("ce_specversion", b"1.0"),
                ("ce_id", str(uuid.uuid4()).encode()),
                ("ce_source", b"/fdxp/units/TCT"),
                ("ce_type", b"vn.gov.mof.fdxp.tax.einvoice.v1"),
                ("ce_time", datetime.now(UTC).isoformat().encode()),
                ("content-type", b"application/avro"),
                ("fdxp_seq", str(i + 1).encode()),
                ("fdxp_batch_id", batch_id.encode()),
                ("traceparent", traceparent.encode()),
            ]
            encode_s += time.perf_counter() - e0
            futures.append(
                producer.send(topic, key=record[KEY_FIELD].encode(), value=value, headers=headers)
            )
            if i % 1000 == 999:
                progress.update(sent_task, completed=i + 1)
        producer.flush(timeout=120)
        elapsed = time.monotonic() - t0
        acked = sum(1 for f in futures if f.succeeded())
        progress.update(sent_task, completed=acked)
        # Read back only now: a consumer in this process while sending would take the GIL
        # from the producer (a unit's producer process has nothing else to do).
        watcher = TopicWatcher(bootstrap, topic).start()
        keys = {str(r[KEY_FIELD]) for r in records}
        watcher.wait_for(
            keys,
            timeout=CONSUME_TIMEOUT,
            tick=lambda n: progress.update(consumed_task, completed=n),
        )
        return BaselineResult(
            records=len(records),
            elapsed_s=round(elapsed, 3),
            encode_s=round(encode_s, 3),
            records_per_s=round(acked / elapsed, 1) if elapsed > 0 else 0.0,
            acked=acked,
            consumed=watcher.count(keys),
            topic=topic,
            producer=dict(BASELINE_PRODUCER),
        )
    finally:
        producer.close(timeout=5)
        if watcher is not None:
            watcher.close()


# --- (b) the hub -------------------------------------------------------------------------------
def _run_hub(
    database: str,
    *,
    bootstrap: str,
    postgres_url: str,
    run_id: str,
    main_records: list[dict[str, Any]],
    half_records: list[dict[str, Any]],
    warmup_records: list[dict[str, Any]],
    batch_size: int,
    publishers: int,
    workdir: Path,
    out_dir: Path | None,
    profile: bool,
    profile_gil: bool,
    gateway_env: dict[str, str],
    relay_process: bool,
    console: Console,
) -> HubResult:
    result = HubResult(database=database, status="ok", records=len(main_records))
    data_dir = workdir / database
    with contextlib.ExitStack() as stack:
        if database == "postgresql":
            try:
                database_url = stack.enter_context(_fresh_postgres(postgres_url, run_id))
            except Exception as exc:
                result.status = "skipped"
                first_line = (str(exc).strip().splitlines() or [""])[0]
                result.note = (
                    f"PostgreSQL is not reachable at {_redact(postgres_url)} "
                    f"({type(exc).__name__}: {first_line})"
                )
                return result
        else:
            database_url = f"sqlite:///{data_dir}/fdxp.db"
        topic_prefix = f"bench{run_id}{database[:2]}"
        admin_key = secrets.token_urlsafe(32)
        gateway = GatewayProcess(
            bootstrap=bootstrap,
            database_url=database_url,
            data_dir=data_dir,
            topic_prefix=topic_prefix,
            admin_key=admin_key,
            extra_env={**gateway_env, **({"FDXP_RELAY_ENABLED": "false"} if relay_process else {})},
        )
        console.print(f"[bold]{result.label}[/bold]: starting the gateway ...")
        try:
            gateway.start()
        except GatewayError as exc:
            result.status = "failed"
            result.note = str(exc)
            return result
        stack.callback(gateway.stop)
        result.startup_s = round(gateway.startup_s, 2)
        relay: RelayProcess | None = None
        if relay_process:
            relay = RelayProcess(gateway).start()
            stack.callback(relay.stop)
        sampler = RssSampler(gateway.pid)
        result.idle_rss_mb = round(sampler.now() / MB, 1)
        sampler.start()
        stack.callback(sampler.stop)
        with httpx.Client(
            base_url=gateway.url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=30
        ) as admin:
            key = admin.post("/v1/keys", json={"unit": "TCT", "role": "publisher"})
            key.raise_for_status()
            api_key = key.json()["key"]
            dataset = admin.get(f"/v1/datasets/{DATASET}")
            dataset.raise_for_status()
            topic = str(dataset.json()["topic"])
        result.topic = topic
        prepare_topic(bootstrap, topic)
        watcher = TopicWatcher(bootstrap, topic).start()
        stack.callback(watcher.close)

        def run_phase(
            name: str, records: list[dict[str, Any]], rate: float | None, progress: Progress
        ) -> tuple[Any, int]:
            batches = [records[i : i + batch_size] for i in range(0, len(records), batch_size)]
            keys = {str(r[KEY_FIELD]) for r in records}
            sent_task = progress.add_task(f"{result.label}: {name} accepted", total=len(records))
            consumed_task = progress.add_task(
                f"{result.label}: {name} consumed", total=len(records)
            )
            done = [0]

            def on_batch(timing: BatchTiming) -> None:
                done[0] += len(timing.keys)
                progress.update(sent_task, completed=done[0])
                progress.update(consumed_task, completed=watcher.count(keys))

            run = publish(
                hub_url=gateway.url,
                api_key=api_key,
                dataset_id=DATASET,
                key_field=KEY_FIELD,
                batches=batches,
                publishers=publishers,
                idempotency_prefix=f"bench-{run_id}-{database}-{name}",
                rate=rate,
                on_batch=on_batch,
            )
            consumed = watcher.wait_for(
                keys,
                timeout=CONSUME_TIMEOUT,
                tick=lambda n: progress.update(consumed_task, completed=n),
            )
            if run.errors:
                result.note += f" {name}: {len(run.errors)} batch errors, first: {run.errors[0]}"
            return run, consumed

        with _progress(console) as progress:
            warm, _ = run_phase("warm-up", warmup_records, None, progress)
            result.warmup_batch_ms = round(
                (warm.timings[0].answered - warm.timings[0].sent) * 1000, 1
            )
            profiler = None
            if profile:
                target = out_dir or workdir
                profiler = Profiler(
                    gateway.pid, target / f"profile-{database}.txt", gil_only=profile_gil
                ).start()
            tansu = broker_pid()
            cpu_before = _cpu(gateway.pid, tansu, relay.pid if relay else None)
            try:
                run, consumed = run_phase("max load", main_records, None, progress)
            finally:
                profile_path = profiler.stop() if profiler else None
            cpu_after = _cpu(gateway.pid, tansu, relay.pid if relay else None)
            last_seen = max(
                (watcher.seen.get(k, 0.0) for t in run.timings for k in t.keys), default=0.0
            )
            end = max(last_seen, run.finished)
            result.consumed = consumed
            result.distinct_ce_ids = len(watcher.record_ids)
            result.accepted = sum(t.accepted for t in run.timings)
            result.rejected = sum(t.rejected for t in run.timings)
            result.batches = len(run.timings)
            result.elapsed_s = round(end - run.started, 3)
            wall = time.monotonic() - run.started
            result.cpu = {
                name: round((cpu_after[name] - cpu_before[name]) / wall, 3) for name in cpu_before
            }
            result.records_per_s = round(consumed / (end - run.started), 1)
            result.ingest_records_per_s = round(result.accepted / (run.finished - run.started), 1)
            batch, from_sent, from_answer = latencies(run, watcher.seen)
            result.batch_latency = Latency.of(batch)
            result.e2e_sent = Latency.of(from_sent)
            result.e2e_accepted = Latency.of(from_answer)
            if profile_path is not None:
                from benchmarks.profile import summarize

                result.profile = summarize(profile_path)
            if half_records and result.records_per_s > 0:
                target_rate = result.records_per_s / 2
                half, half_consumed = run_phase("half load", half_records, target_rate, progress)
                h_batch, h_sent, h_answer = latencies(half, watcher.seen)
                h_end = max(
                    (watcher.seen.get(k, 0.0) for t in half.timings for k in t.keys),
                    default=half.finished,
                )
                result.half_load = HalfLoad(
                    target_records_per_s=round(target_rate, 1),
                    achieved_records_per_s=round(half_consumed / (h_end - half.started), 1),
                    records=len(half_records),
                    consumed=half_consumed,
                    batch_latency=Latency.of(h_batch),
                    e2e_sent=Latency.of(h_sent),
                    e2e_accepted=Latency.of(h_answer),
                )
        result.peak_rss_mb = round(sampler.stop() / MB, 1)
        if watcher.error:
            result.note += f" consumer: {watcher.error}"
        if watcher.bad_frames:
            result.note += f" {watcher.bad_frames} values not Confluent-framed"
        if consumed < len(main_records):
            result.note += f" only {consumed} of {len(main_records)} consumed;"
            result.note += f" gateway log:\n{gateway.log_tail()}"
        result.note = result.note.strip()
    return result


def _cpu(gateway_pid: int, tansu_pid: int | None, relay_pid: int | None) -> dict[str, float]:
    """CPU seconds so far of the gateway, the broker, this process (publishers, consumer) and
    a separate relay process."""
    cpu = {
        "gateway": cpu_seconds(gateway_pid),
        "broker": cpu_seconds(tansu_pid) if tansu_pid else 0.0,
        "bench": cpu_seconds(os.getpid()),
    }
    if relay_pid is not None:
        cpu["relay"] = cpu_seconds(relay_pid)
    return cpu


@contextlib.contextmanager
def _fresh_postgres(admin_url: str, run_id: str) -> Iterator[str]:
    """A new database `fdxp_bench_<id>` on the server of `admin_url`, dropped afterwards."""
    import psycopg

    url = make_url(admin_url)
    name = f"fdxp_bench_{run_id}"
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _redact(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
