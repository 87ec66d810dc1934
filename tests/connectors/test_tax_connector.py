import json
import random
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import httpx
import orjson
import pytest

from connectors import (
    Checkpoint,
    CursorState,
    FatalError,
    HubClient,
    RetriableError,
    SkippableRowError,
    Stream,
    TaxEinvoiceStream,
    UnknownConnectorError,
    map_einvoice,
    page_idempotency_key,
    run_connector,
)
from connectors.__main__ import build_parser, main
from connectors.base import Row
from simulators.tax import TaxSystem

CANONICAL_FIELDS = [
    "invoice_id", "form_no", "symbol", "number", "issued_date", "seller_tax_code",
    "buyer_tax_code", "currency", "exchange_rate", "total_before_tax", "vat_amount",
    "total_amount", "vat_rate", "tax_authority_code", "status",
]  # fmt: skip
VAT_RATES = {"0", "5", "8", "10", "KCT", "KKKNT"}


def native(**overrides: Any) -> dict[str, Any]:
    row = {
        "id": 1, "khmshdon": 1, "khhdon": "C26TAA", "shdon": 42, "nlap": "05/03/2026",
        "mst_nban": "0314409058", "mst_nmua": "0100109106", "dvtte": "VND", "tgia": None,
        "tgtcthue": 1250000, "tgtthue": 125000, "tgttbso": 1375000, "tsuat": "10%",
        "mccqt": "00ABCDEF", "tthai": 1,
    }  # fmt: skip
    row.update(overrides)
    return row


def make_source(path: Path, count: int, *, bad_share: float = 0.0, seed: int = 1) -> TaxSystem:
    system = TaxSystem(path)
    system.issue(count, bad_share=bad_share, rng=random.Random(seed))
    return system


class FakeHub:
    """A stand-in for the gateway's ingest route: idempotent by key, a few contract checks."""

    def __init__(self, checkpoint: Checkpoint | None = None) -> None:
        self.checkpoint = checkpoint
        self.answers: dict[str, dict[str, Any]] = {}
        self.stored: list[dict[str, Any]] = []
        self.keys: list[str] = []
        self.sizes: list[int] = []
        self.checkpoint_seen: list[CursorState] = []
        self.crash_on_batch: int | None = None  # 1-based: raise after storing that batch
        self.unavailable = 0  # answer 503 to this many requests first

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/datasets/tax.einvoice/records"
        if self.unavailable:
            self.unavailable -= 1
            return httpx.Response(503, json={"type": "unavailable", "message": "down"})
        key = request.headers["Idempotency-Key"]
        records = orjson.loads(request.content)["records"]
        self.keys.append(key)
        self.sizes.append(len(records))
        if self.checkpoint is not None:
            self.checkpoint_seen.append(self.checkpoint.load())
        if key in self.answers:
            return httpx.Response(200, json=self.answers[key])
        errors = [e for i, r in enumerate(records) for e in self.check(i, r)]
        bad = {e["index"] for e in errors}
        self.stored.extend(r for i, r in enumerate(records) if i not in bad)
        answer = {
            "batch_id": f"batch-{len(self.answers) + 1}",
            "accepted": len(records) - len(bad),
            "rejected": len(bad),
            "errors": errors,
        }
        self.answers[key] = answer
        if self.crash_on_batch == len(self.answers):
            raise RuntimeError("connector killed after the hub committed")
        return httpx.Response(200, json=answer)

    @staticmethod
    def check(index: int, record: dict[str, Any]) -> list[dict[str, Any]]:
        def err(field: str, rule: str) -> dict[str, Any]:
            return {"index": index, "key": record["invoice_id"], "field": field, "rule": rule,
                    "message": f"{field} failed {rule}"}  # fmt: skip

        errors = []
        try:
            date.fromisoformat(record["issued_date"])
        except (TypeError, ValueError):
            errors.append(err("issued_date", "avro_type"))
        if record["seller_tax_code"] is None:
            errors.append(err("seller_tax_code", "avro_type"))
        if record["vat_rate"] not in VAT_RATES:
            errors.append(err("vat_rate", "value_in_set"))
        return errors


def client(hub: FakeHub, sleeps: list[float] | None = None, **kwargs: Any) -> HubClient:
    return HubClient(
        "http://hub.test",
        "tct-key",
        transport=httpx.MockTransport(hub),
        sleep=(sleeps if sleeps is not None else []).append,
        **kwargs,
    )


# --- mapping -----------------------------------------------------------------------------


def test_maps_a_plain_row_to_the_canonical_shape():
    record = map_einvoice(native())
    assert list(record) == CANONICAL_FIELDS
    assert record == {
        "invoice_id": "0314409058-1-C26TAA-42",
        "form_no": 1,
        "symbol": "C26TAA",
        "number": 42,
        "issued_date": "2026-03-05",
        "seller_tax_code": "0314409058",
        "buyer_tax_code": "0100109106",
        "currency": "VND",
        "exchange_rate": None,
        "total_before_tax": "1250000",
        "vat_amount": "125000",
        "total_amount": "1375000",
        "vat_rate": "10",
        "tax_authority_code": "00ABCDEF",
        "status": "issued",
    }


@pytest.mark.parametrize(
    ("overrides", "field", "expected"),
    [
        ({"nlap": "1/2/2026"}, "issued_date", "2026-02-01"),
        ({"nlap": "31/02/2026"}, "issued_date", "31/02/2026"),  # raw, for the hub to locate
        ({"nlap": "n/a"}, "issued_date", "n/a"),
        ({"nlap": None}, "issued_date", None),
        ({"tgtcthue": "1250000"}, "total_before_tax", "1250000"),
        ({"tgtcthue": " 1250000 "}, "total_before_tax", "1250000"),
        ({"tgtcthue": "38719.05"}, "total_before_tax", "38719.05"),
        ({"tgtcthue": -32625100}, "total_before_tax", "-32625100"),
        ({"tgtcthue": "12,5 tr"}, "total_before_tax", "12,5 tr"),
        ({"tgtcthue": None}, "total_before_tax", None),
        ({"tgia": 25400.5}, "exchange_rate", "25400.5"),
        ({"tgia": 26000.0}, "exchange_rate", "26000.0"),
        ({"tsuat": "5%"}, "vat_rate", "5"),
        ({"tsuat": "0%"}, "vat_rate", "0"),
        ({"tsuat": "KCT"}, "vat_rate", "KCT"),
        ({"tsuat": "KKKNT"}, "vat_rate", "KKKNT"),
        ({"tsuat": "7%"}, "vat_rate", "7"),
        ({"tthai": 3}, "status", "replaced"),
        ({"tthai": 4}, "status", "adjusted"),
        ({"tthai": 5}, "status", "cancelled"),
        ({"tthai": 9}, "status", "9"),
        ({"mst_nmua": ""}, "buyer_tax_code", None),
        ({"mst_nmua": None}, "buyer_tax_code", None),
        ({"mst_nban": "0314409058-002"}, "invoice_id", "0314409058-002-1-C26TAA-42"),
        ({"mst_nban": None}, "invoice_id", "-1-C26TAA-42"),
        ({"mst_nban": None}, "seller_tax_code", None),
        ({"mccqt": None, "khhdon": "K26TAA"}, "tax_authority_code", None),
        ({"dvtte": None}, "currency", "VND"),
    ],
)
def test_maps_each_native_quirk(overrides, field, expected):
    assert map_einvoice(native(**overrides))[field] == expected


def test_mapped_records_are_json_serialisable():
    record = map_einvoice(native(tgia=25400.5, dvtte="USD", tgtcthue="100.00"))
    assert orjson.loads(orjson.dumps(record)) == record


# --- reading the source --------------------------------------------------------------------


def test_reads_every_row_in_id_order_without_dropping_bad_ones(tmp_path):
    system = make_source(tmp_path / "tax.db", 300, bad_share=0.3)
    stream = TaxEinvoiceStream(tmp_path / "tax.db")
    rows = list(stream.get_records(CursorState(), limit=1000))
    assert [cursor for cursor, _ in rows] == list(range(1, 301))
    assert len(system.defects()) == 90
    assert all(list(record) == CANONICAL_FIELDS for _, record in rows)
    page = list(stream.get_records(CursorState(cursor=250), limit=20))
    assert [cursor for cursor, _ in page] == list(range(251, 271))


def test_the_source_is_opened_read_only(tmp_path):
    make_source(tmp_path / "tax.db", 5)
    stream = TaxEinvoiceStream(tmp_path / "tax.db")
    before = (tmp_path / "tax.db").read_bytes()
    assert len(list(stream.get_records(CursorState(), limit=10))) == 5
    assert (tmp_path / "tax.db").read_bytes() == before


def test_missing_source_is_fatal(tmp_path):
    stream = TaxEinvoiceStream(tmp_path / "nope.db")
    with pytest.raises(FatalError, match="not found"):
        list(stream.get_records(CursorState(), limit=10))
    assert not (tmp_path / "nope.db").exists()


def test_pages_and_keys_are_deterministic(tmp_path):
    make_source(tmp_path / "tax.db", 50)
    stream = TaxEinvoiceStream(tmp_path / "tax.db")
    state = CursorState(cursor=10)
    first, again = (stream.read_page(state, batch_size=15) for _ in range(2))
    assert first == again
    assert (first.after, first.until, len(first.rows)) == (10, 25, 15)
    assert stream.idempotency_key(first) == stream.idempotency_key(again)
    assert stream.idempotency_key(first) == page_idempotency_key("tax", "tax.einvoice", 10, 25, 15)
    other = stream.read_page(state, batch_size=16)
    assert stream.idempotency_key(other) != stream.idempotency_key(first)
    assert page_idempotency_key("tax", "tax.einvoice", None, 25, 15) != page_idempotency_key(
        "tax", "tax.einvoice", 0, 25, 15
    )
    with_origin = stream.read_page(CursorState(cursor=10, origin="o1"), batch_size=15)
    assert with_origin.rows == first.rows
    assert stream.idempotency_key(with_origin) == page_idempotency_key(
        "tax", "tax.einvoice", 10, 25, 15, "o1"
    )
    assert stream.idempotency_key(with_origin) != stream.idempotency_key(first)


def test_a_pending_page_is_re_read_exactly_even_if_the_source_grew(tmp_path):
    system = make_source(tmp_path / "tax.db", 7)
    stream = TaxEinvoiceStream(tmp_path / "tax.db")
    state = CursorState().begin_page(7, 7)
    system.issue(30, rng=random.Random(9))
    page = stream.read_page(state, batch_size=20)
    assert [cursor for cursor, _ in page.rows] == list(range(1, 8))


# --- syncing -------------------------------------------------------------------------------


def test_sync_sends_every_page_once_and_checkpoints_after_each_ack(tmp_path):
    system = make_source(tmp_path / "tax.db", 230, bad_share=0.2)
    checkpoint = Checkpoint(tmp_path / "cp.json")
    hub = FakeHub(checkpoint)
    progress = []
    summary = TaxEinvoiceStream(tmp_path / "tax.db").sync(
        client(hub), checkpoint, batch_size=100, on_progress=lambda s: progress.append(s.cursor)
    )
    assert hub.sizes == [100, 100, 30]
    assert len(set(hub.keys)) == 3
    # while the hub handled a page, the saved cursor was still the previous page's end
    assert [s.cursor for s in hub.checkpoint_seen] == [None, 100, 200]
    assert [s.pending.until for s in hub.checkpoint_seen if s.pending] == [100, 200, 230]
    saved = checkpoint.load()
    assert (saved.cursor, saved.pending, saved.batches, saved.records) == (230, None, 3, 230)
    assert saved.origin is not None
    assert {s.origin for s in hub.checkpoint_seen} == {saved.origin}
    assert progress == [100, 200, 230]
    assert (summary.batches, summary.sent, summary.cursor) == (3, 230, 230)
    truth = system.defects()
    expected_rejects = sum(
        1 for kind in truth.values()
        if kind in {"bad_date", "missing_seller_mst", "unknown_vat_rate"}
    )  # fmt: skip
    assert summary.rejected == expected_rejects > 0
    assert summary.accepted == 230 - expected_rejects
    assert summary.rejected_by_rule == {
        "avro_type": sum(1 for k in truth.values() if k in {"bad_date", "missing_seller_mst"}),
        "value_in_set": sum(1 for k in truth.values() if k == "unknown_vat_rate"),
    }
    again = TaxEinvoiceStream(tmp_path / "tax.db").sync(client(hub), checkpoint, batch_size=100)
    assert again.batches == 0
    assert len(hub.keys) == 3


def test_resume_after_a_crash_resends_the_same_key_and_stores_nothing_twice(tmp_path):
    make_source(tmp_path / "tax.db", 250)
    checkpoint = Checkpoint(tmp_path / "cp.json")
    hub = FakeHub(checkpoint)
    hub.crash_on_batch = 2
    stream = TaxEinvoiceStream(tmp_path / "tax.db")
    with pytest.raises(RuntimeError, match="connector killed"):
        stream.sync(client(hub), checkpoint, batch_size=100)
    crashed_key = hub.keys[-1]
    saved = checkpoint.load()
    assert saved.cursor == 100  # the second page was committed by the hub, not checkpointed
    assert saved.pending is not None and saved.pending.until == 200
    assert len(hub.stored) == 200

    hub.crash_on_batch = None
    summary = TaxEinvoiceStream(tmp_path / "tax.db").sync(client(hub), checkpoint, batch_size=100)
    assert hub.keys[2] == crashed_key
    assert summary.batch_ids == ["batch-2", "batch-3"]  # the first answer, replayed
    assert len(hub.stored) == 250
    assert len({r["invoice_id"] for r in hub.stored}) == 250
    assert checkpoint.load().cursor == 250


def test_resume_replays_the_pending_page_even_after_the_source_grew(tmp_path):
    system = make_source(tmp_path / "tax.db", 5)
    checkpoint = Checkpoint(tmp_path / "cp.json")
    hub = FakeHub()
    hub.crash_on_batch = 1
    with pytest.raises(RuntimeError):
        TaxEinvoiceStream(tmp_path / "tax.db").sync(client(hub), checkpoint, batch_size=10)
    system.issue(20, rng=random.Random(4))
    hub.crash_on_batch = None
    TaxEinvoiceStream(tmp_path / "tax.db").sync(client(hub), checkpoint, batch_size=10)
    assert hub.keys[1] == hub.keys[0]
    assert hub.sizes == [5, 5, 10, 10]
    assert len(hub.stored) == 25


def test_two_sources_with_the_same_id_range_never_share_a_key(tmp_path):
    # The hub scopes keys by unit and dataset: a second tax database (or one rebuilt from
    # scratch with a fresh checkpoint) must not collide with pages already sent.
    hub = FakeHub()
    for name in ("a", "b"):
        make_source(tmp_path / f"{name}.db", 30, seed=ord(name))
        TaxEinvoiceStream(tmp_path / f"{name}.db").sync(
            client(hub), Checkpoint(tmp_path / f"{name}.json"), batch_size=10
        )
    assert len(hub.keys) == len(set(hub.keys)) == 6
    assert len(hub.stored) == 60


def test_hub_down_in_once_mode_raises_and_keeps_the_cursor(tmp_path):
    make_source(tmp_path / "tax.db", 30)
    checkpoint = Checkpoint(tmp_path / "cp.json")
    checkpoint.save(CursorState(cursor=10, batches=1, records=10))
    hub = FakeHub()
    hub.unavailable = 100
    sleeps: list[float] = []
    with pytest.raises(RetriableError):
        TaxEinvoiceStream(tmp_path / "tax.db").sync(
            client(hub, sleeps, max_attempts=3), checkpoint, batch_size=10
        )
    assert len(sleeps) == 2
    assert checkpoint.load().cursor == 10
    assert hub.keys == []


def test_max_batches_stops_early(tmp_path):
    make_source(tmp_path / "tax.db", 50)
    checkpoint = Checkpoint(tmp_path / "cp.json")
    hub = FakeHub()
    summary = TaxEinvoiceStream(tmp_path / "tax.db").sync(
        client(hub), checkpoint, batch_size=10, max_batches=2
    )
    assert summary.batches == 2
    assert checkpoint.load().cursor == 20


def test_follow_picks_up_new_rows_and_survives_an_outage(tmp_path):
    system = make_source(tmp_path / "tax.db", 20)
    checkpoint = Checkpoint(tmp_path / "cp.json")
    hub = FakeHub()
    stop = threading.Event()
    outcome: dict[str, Any] = {}

    def on_progress(summary: Any) -> None:
        if summary.sent == 20:
            hub.unavailable = 3  # the hub goes down, then new invoices arrive
            system.issue(15, rng=random.Random(5))
        if summary.sent == 35:
            stop.set()

    def run() -> None:
        outcome["summary"] = TaxEinvoiceStream(tmp_path / "tax.db").sync(
            client(hub, max_attempts=2),
            checkpoint,
            batch_size=10,
            follow=True,
            poll_interval=0.001,
            stop_event=stop,
            on_progress=on_progress,
        )

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert outcome["summary"].sent == 35
    assert len(hub.stored) == 35
    assert checkpoint.load().cursor == 35


class TwoRowStream(Stream):
    name = "two"
    dataset_id = "tax.einvoice"
    primary_key = "invoice_id"
    replication_key = "id"
    rows: ClassVar[list[Row]] = [
        (1, SkippableRowError("row 1 is binary garbage")),
        (2, map_einvoice(native(id=2))),
    ]

    def get_records(self, state: CursorState, *, limit: int) -> Iterator[Row]:
        after = state.cursor if isinstance(state.cursor, int) else 0
        yield from [row for row in self.rows if row[0] > after][:limit]


def test_skippable_rows_are_counted_and_passed_over(tmp_path):
    checkpoint = Checkpoint(tmp_path / "cp.json")
    hub = FakeHub()
    summary = TwoRowStream().sync(client(hub), checkpoint, batch_size=1)
    assert summary.skipped == 1
    assert summary.sent == 1
    assert hub.sizes == [1]
    assert checkpoint.load().cursor == 2


# --- runner and command line ---------------------------------------------------------------


def test_run_connector_end_to_end(tmp_path):
    make_source(tmp_path / "tax.db", 120, bad_share=0.1)
    hub = FakeHub()
    summary = run_connector(
        "tax",
        hub_url="http://hub.test",
        api_key="tct-key",
        source=tmp_path / "tax.db",
        checkpoint_path=tmp_path / "cp" / "tax.json",
        batch_size=50,
        transport=httpx.MockTransport(hub),
    )
    assert summary.batches == 3
    assert summary.accepted + summary.rejected == 120
    assert Checkpoint(tmp_path / "cp" / "tax.json").load().cursor == 120


def test_unknown_connector_is_fatal(tmp_path):
    with pytest.raises(UnknownConnectorError, match=r"known: .*tax"):
        run_connector(
            "nope", hub_url="http://x", api_key="k", source="s", checkpoint_path=tmp_path / "c"
        )


def test_cli_reports_a_fatal_error_with_exit_code_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FDXP_CONNECTOR_KEY", "from-env")
    code = main(
        ["tax", "--source", str(tmp_path / "missing.db"), "--hub", "http://127.0.0.1:9",
         "--checkpoint", str(tmp_path / "cp.json")]
    )  # fmt: skip
    assert code == 2
    assert "tax system database not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "follow"), [([], False), (["--once"], False), (["--follow"], True)]
)
def test_cli_runs_once_unless_asked_to_follow(flags, follow):
    args = build_parser().parse_args(
        ["tax", "--source", "s", "--hub", "h", "--checkpoint", "c", *flags]
    )
    assert args.follow is follow


def test_cli_requires_a_key(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("FDXP_CONNECTOR_KEY", raising=False)
    with pytest.raises(SystemExit) as info:
        main(["tax", "--source", "s", "--hub", "h", "--checkpoint", str(tmp_path / "c")])
    assert info.value.code == 2
    assert "FDXP_CONNECTOR_KEY" in capsys.readouterr().err


def test_cli_prints_the_summary_as_json(tmp_path, capsys, monkeypatch):
    make_source(tmp_path / "tax.db", 3)
    hub = FakeHub()
    real_client = HubClient.__init__

    def with_fake_transport(self: HubClient, *args: Any, **kwargs: Any) -> None:
        kwargs["transport"] = httpx.MockTransport(hub)
        real_client(self, *args, **kwargs)

    monkeypatch.setattr(HubClient, "__init__", with_fake_transport)
    code = main(
        ["tax", "--source", str(tmp_path / "tax.db"), "--hub", "http://hub.test", "--key", "k",
         "--checkpoint", str(tmp_path / "cp.json"), "--once"]
    )  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sent"] == 3
    assert out["cursor"] == 3
