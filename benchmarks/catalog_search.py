"""Catalog search with thousands of datasets: `python -m benchmarks.catalog_search`.

Registers N datasets (bulk, straight into the catalog tables), then times the search API in
process, side by side with a baseline that describes each hit with its own queries (the
per-row pattern the search avoids)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from catalog import datasets as catalog
from catalog import repository
from catalog.models import Dataset, QualitySuite, SchemaVersion
from gateway.app import prepare_database
from gateway.database import build_engine, session_factory
from gateway.settings import Settings

DOMAINS = ("tax", "treasury", "customs", "budget", "debt", "securities")
OWNERS = ("TCT", "KBNN", "TCHQ", "THTK")
WORDS = ("invoice", "refund", "declaration", "payment", "revenue", "ledger", "tariff", "bond")


def fake_datasets(count: int) -> list[dict[str, Any]]:
    rows = []
    for n in range(count):
        domain = DOMAINS[n % len(DOMAINS)]
        word = WORDS[n % len(WORDS)]
        tags = [word, domain, f"batch{n % 50}"]
        fields = [f"{word}_id", "amount", f"field_{n}"]
        dataset_id = f"{domain}.{word}_{n}"
        title = f"{word.title()} register {n}"
        rows.append(
            {
                "id": dataset_id,
                "title": title,
                "description": f"Synthetic {word} dataset number {n} for the search benchmark",
                "owner": OWNERS[n % len(OWNERS)],
                "domain": domain,
                "classification": ("public", "internal", "confidential")[n % 3],
                "key_field": fields[0],
                "compatibility": "BACKWARD",
                "status": ("active", "deprecated", "draft")[n % 3],
                "tags": tags,
                "sla": {},
                "ndxp": n % 2 == 0,
                "last_seq": 0,
                "search_text": catalog.search_text(
                    dataset_id=dataset_id, title=title, description="synthetic", tags=tags,
                    fields=fields,
                ),
                "tags_text": catalog.tags_text(tags),
                "_fields": fields,
            }
        )
    return rows


def populate(session: Session, count: int) -> None:
    rows = fake_datasets(count)
    schemas = []
    suites = []
    for row in rows:
        fields = row.pop("_fields")
        schema = {
            "type": "record",
            "name": "R",
            "fields": [{"name": f, "type": "string"} for f in fields],
        }
        schemas.append(
            {"dataset_id": row["id"], "version": 1, "schema_json": json.dumps(schema),
             "fingerprint": repository.schema_fingerprint(schema)}
        )
        suites.append({"dataset_id": row["id"], "version": 1, "expectations": []})
    session.execute(insert(Dataset), rows)
    session.execute(insert(SchemaVersion), schemas)
    session.execute(insert(QualitySuite), suites)
    session.commit()


def per_row_search(session: Session, **filters: Any) -> int:
    """The baseline: find the page, then fetch each hit's schema and suite on its own."""
    page = catalog.search_datasets(session, **filters)
    for dataset in page.datasets:
        repository.latest_schema(session, dataset_id=dataset.id)
        repository.latest_quality_suite(session, dataset_id=dataset.id)
    return page.total


def batched_search(session: Session, **filters: Any) -> int:
    return catalog.search_datasets(session, **filters).total


QUERIES: dict[str, dict[str, Any]] = {
    "all, first page of 50": {"limit": 50},
    "q=refund": {"q": "refund", "limit": 50},
    "q='ledger register' + owner": {"q": "ledger register", "owner": "KBNN", "limit": 50},
    "tag + status + classification": {
        "tag": "bond", "status": "active", "classification": "public", "limit": 50,
    },
    "deep page (offset 4000)": {"limit": 50, "offset": 4000},
    "page of 500": {"limit": 500},
}


def time_it(fn: Callable[[], int], repeats: int) -> tuple[float, float, int]:
    samples = []
    result = 0
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1], result


def run(database_url: str, count: int, repeats: int, console: Console) -> list[dict[str, Any]]:
    engine = build_engine(database_url)
    prepare_database(engine, Settings(admin_key="bench-admin-key-0123456789abcdef"))
    sessions = session_factory(engine)
    with sessions() as session:
        populate(session, count)
        total = len(session.scalars(select(Dataset.id)).all())
    results = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"searching {total} datasets", total=len(QUERIES))
        for name, filters in QUERIES.items():
            with sessions() as session:
                base_p50, base_p95, hits = time_it(
                    lambda f=filters, s=session: per_row_search(s, **f), repeats
                )
                p50, p95, hits2 = time_it(
                    lambda f=filters, s=session: batched_search(s, **f), repeats
                )
            assert hits == hits2
            results.append(
                {"query": name, "hits": hits, "baseline_p50_ms": base_p50,
                 "baseline_p95_ms": base_p95, "p50_ms": p50, "p95_ms": p95}
            )
            progress.advance(task)
    engine.dispose()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.catalog_search")
    parser.add_argument("--datasets", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args(argv)
    console = Console(width=110)
    backends: list[tuple[str, str]] = []
    tmp = tempfile.mkdtemp(prefix="fdxp-search-")
    backends.append(("SQLite", f"sqlite:///{Path(tmp) / 'search.db'}"))
    cleanup: Callable[[], None] | None = None
    if not args.skip_postgres:
        from sqlalchemy import create_engine, text

        name = f"fdxp_search_{os.getpid()}"
        admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        backends.append(("PostgreSQL", args.postgres_url.rsplit("/", 1)[0] + f"/{name}"))

        def cleanup() -> None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    try:
        for label, url in backends:
            rows = run(url, args.datasets, args.repeats, console)
            table = Table(title=f"Catalog search, {args.datasets} datasets, {label} (ms)")
            for column in ("query", "hits", "per-row p50", "per-row p95", "search p50",
                           "search p95", "speed-up"):
                table.add_column(column, justify="left" if column == "query" else "right")
            for row in rows:
                table.add_row(
                    row["query"], str(row["hits"]),
                    f"{row['baseline_p50_ms']:.1f}", f"{row['baseline_p95_ms']:.1f}",
                    f"{row['p50_ms']:.1f}", f"{row['p95_ms']:.1f}",
                    f"{row['baseline_p50_ms'] / row['p50_ms']:.1f}x",
                )
            console.print(table)
    finally:
        if cleanup is not None:
            cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
