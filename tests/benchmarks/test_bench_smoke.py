"""`fdxp bench` end to end on a tiny run (SQLite only): the report is complete and the files
are written. No timing assertions: this machine's speed is not the test's business."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console

from benchmarks import run_bench
from benchmarks.records import EinvoiceGenerator, FramedEncoder, einvoice_schema
from schemas.codec import unframe
from schemas.mst import mst_is_valid

pytestmark = pytest.mark.integration


def test_generated_records_are_valid_and_deterministic() -> None:
    first = EinvoiceGenerator(7).records(300)
    assert first == EinvoiceGenerator(7).records(300)
    assert len({r["invoice_id"] for r in first}) == 300
    for record in first:
        assert mst_is_valid(record["seller_tax_code"])
        assert record["buyer_tax_code"] is None or mst_is_valid(record["buyer_tax_code"])
        total = Decimal(record["total_before_tax"]) + Decimal(record["vat_amount"])
        assert total == Decimal(record["total_amount"])
        assert (record["tax_authority_code"] is not None) == record["symbol"].startswith("C")
    schema_id, payload = unframe(FramedEncoder(einvoice_schema(), 5).encode(first[0]))
    assert schema_id == 5 and payload


def test_tiny_bench_on_sqlite(broker: str, tmp_path: Path) -> None:
    out = io.StringIO()
    report = run_bench(
        records=500,
        batch_size=100,
        publishers=2,
        databases=["sqlite"],
        postgres_url=None,
        out_dir=tmp_path,
        console=Console(file=out, width=140),
        bootstrap=broker,
    )
    baseline = report.baseline
    assert baseline is not None
    assert baseline.acked == baseline.consumed == 500
    assert baseline.records_per_s > 0

    (hub,) = report.hubs
    assert hub.status == "ok", hub.note
    assert hub.accepted == 500 and hub.rejected == 0
    assert hub.consumed == 500 and hub.distinct_ce_ids >= 500
    assert hub.records_per_s > 0 and hub.ingest_records_per_s > 0 and hub.ratio > 0
    for latency in (hub.batch_latency, hub.e2e_sent, hub.e2e_accepted):
        assert latency is not None and latency.count > 0 and latency.p99 >= latency.p50 >= 0
    assert hub.peak_rss_mb > 0
    assert hub.half_load is not None and hub.half_load.consumed == hub.half_load.records

    data = json.loads((tmp_path / "bench.json").read_text())
    assert data["parameters"]["records"] == 500
    assert data["hubs"][0]["consumed"] == 500
    assert data["machine"]["cpus"]
    assert "sqlite" in data["goals"]
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "fdxp bench" in out.getvalue()
