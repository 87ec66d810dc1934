import threading

import httpx
import pytest

from connectors import (
    Checkpoint,
    FatalError,
    HubClient,
    MalformedFile,
    RetriableError,
    TreasuryFolderConnector,
    map_budget_txn,
    parse_export,
    run_connector,
)
from connectors.treasury import HEADER
from simulators.treasury import HEADER as SIM_HEADER
from simulators.treasury import TreasurySystem, export
from tests.connectors.fakehub import FakeHub


def row(**overrides: str) -> list[str]:
    cells = {
        "txn_id": "TB2603020011000001", "treasury": "0011", "posting": "02/03/2026",
        "value": "03/03/2026", "level": "1", "chapter": "757", "item": "1701",
        "unit": "1012345", "area": "001", "direction": "Thu", "amount": "1.250.000,00",
        "payer": "0100109106", "ref": "",
    }  # fmt: skip
    cells.update(overrides)
    return list(cells.values())


def check(index: int, record: dict) -> list[dict]:
    """A few of the hub's rules, enough to tell good rows from the simulator's bad ones."""
    try:
        amount_ok = float(record["amount"]) > 0
    except ValueError:
        amount_ok = False
    ok = (
        amount_ok
        and record["direction"] in ("revenue", "expenditure")
        and len(record["treasury_code"]) == 4
    )
    return [] if ok else [{"index": index, "key": record["txn_id"], "field": None,
                           "rule": "fake", "message": "bad"}]  # fmt: skip


def hub_client(hub: FakeHub, **kwargs) -> HubClient:
    return HubClient("http://hub.test", "kbnn-key", transport=hub.transport(),
                     sleep=lambda s: None, connector="treasury", **kwargs)  # fmt: skip


def sync(drop, checkpoint, hub, **kwargs):
    with hub_client(hub) as client:
        return TreasuryFolderConnector(drop).sync(client, Checkpoint(checkpoint), **kwargs)


# --- mapping and parsing -------------------------------------------------------------------


def test_the_connector_expects_the_simulators_header():
    assert HEADER == SIM_HEADER


def test_maps_a_native_row():
    assert map_budget_txn(row()) == {
        "txn_id": "TB2603020011000001",
        "treasury_code": "0011",
        "posting_date": "2026-03-02",
        "value_date": "2026-03-03",
        "budget_level": 1,
        "chapter": "757",
        "economic_item": "1701",
        "budget_unit": "1012345",
        "area": "001",
        "direction": "revenue",
        "amount": "1250000.00",
        "payer_tax_code": "0100109106",
        "source_ref": None,
    }


@pytest.mark.parametrize(
    ("overrides", "field", "expected"),
    [
        ({"direction": "Chi"}, "direction", "expenditure"),
        ({"direction": "Chuyển"}, "direction", "Chuyển"),
        ({"amount": "0,50"}, "amount", "0.50"),
        ({"amount": "-1.000,00"}, "amount", "-1000.00"),
        ({"amount": "abc"}, "amount", "abc"),
        ({"posting": "31/02/2026"}, "posting_date", "31/02/2026"),
        ({"level": "x"}, "budget_level", "x"),
        ({"payer": ""}, "payer_tax_code", None),
        ({"ref": "103456789012"}, "source_ref", "103456789012"),
        ({"chapter": " 757 "}, "chapter", "757"),
    ],
)
def test_maps_each_native_quirk(overrides, field, expected):
    assert map_budget_txn(row(**overrides))[field] == expected


def export_bytes(rows: list[list[str]], *, trailer: int | None = None) -> bytes:
    lines = [";".join(HEADER), *(";".join(r) for r in rows)]
    lines.append(f"#TỔNG CỘNG;{len(rows) if trailer is None else trailer}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8-sig")


def test_parses_a_whole_file():
    assert parse_export(export_bytes([row(), row(txn_id="B")])) == [row(), row(txn_id="B")]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (export_bytes([row()])[:-30], "truncated"),
        (export_bytes([row()], trailer=2), "truncated: the trailer says 2 rows"),
        (export_bytes([row()]).decode("utf-8-sig").encode("utf-16"), "wrong encoding"),
        (export_bytes([row()]).replace("Mã địa bàn;".encode(), b""), "wrong header"),
        (export_bytes([row()[:-1]]), "line 2 has 12 fields"),
        (b"", "empty file"),
    ],
)
def test_refuses_a_malformed_file_with_a_reason(data, reason):
    with pytest.raises(MalformedFile, match=reason):
        parse_export(data)


# --- the folder ------------------------------------------------------------------------------


def test_publishes_every_file_once_and_files_them_away(tmp_path):
    drop = tmp_path / "drop"
    summary_sim = export(drop, 250, rows_per_file=100, bad_share=0.1, malformed=3, duplicates=2,
                         seed=11)  # fmt: skip
    (drop / ".TABMIS_0011_20260302_999999.csv.tmp").write_bytes(b"half a file")
    (drop / "notes.txt").write_text("not an export")
    hub = FakeHub("txn_id", check)
    summary = sync(drop, tmp_path / "cp.json", hub, batch_size=40)

    quarantined = [r["txn_id"] for r in hub.quarantined]
    # every row of the well-formed files went once; the fake's few rules catch some bad ones
    assert sorted(hub.stored_keys + quarantined) == sorted(summary_sim.good + list(summary_sim.bad))
    assert set(summary_sim.good) <= set(hub.stored_keys)
    assert quarantined and set(quarantined) <= set(summary_sim.bad)
    assert (summary.accepted, summary.rejected) == (len(hub.stored), len(quarantined))
    assert summary.files == {"done": 3, "failed": 3, "duplicate": 2}
    assert set(hub.connector_headers) == {"treasury"}
    # files went where they belong; temp and foreign files were left alone
    assert sorted(p.name for p in drop.iterdir() if p.is_file()) == [
        ".TABMIS_0011_20260302_999999.csv.tmp",
        "notes.txt",
    ]
    failed = {t.name: t.kind for t in summary_sim.files if t.kind != "ok" and t.kind != "duplicate"}
    for name, kind in failed.items():
        reason = (drop / "failed" / f"{name}.reason.txt").read_text()
        assert kind.replace("_", " ") in reason
    for dup in (t for t in summary_sim.files if t.kind == "duplicate"):
        assert (drop / "done" / dup.name).exists()
        assert (
            f"duplicate of {dup.duplicate_of}"
            in (drop / "done" / f"{dup.name}.reason.txt").read_text()
        )


def test_a_file_sent_again_later_is_not_published_twice(tmp_path):
    drop = tmp_path / "drop"
    sim = export(drop, 30, rows_per_file=30, seed=12)
    hub = FakeHub("txn_id")
    sync(drop, tmp_path / "cp.json", hub)
    name = sim.files[0].name
    (drop / name).write_bytes((drop / "done" / name).read_bytes())  # the same name, again
    again = sync(drop, tmp_path / "cp.json", hub)
    assert again.files == {"duplicate": 1} and again.sent == 0
    assert len(hub.stored) == 30
    assert len(list((drop / "done").glob("*.csv"))) == 2


def test_a_crash_mid_file_resumes_without_duplicates(tmp_path):
    drop = tmp_path / "drop"
    sim = export(drop, 300, rows_per_file=150, seed=13)
    hub = FakeHub("txn_id")
    hub.crash_on_batch = 3  # the hub stored batch 3, the connector never heard back
    with pytest.raises(RuntimeError):
        sync(drop, tmp_path / "cp.json", hub, batch_size=50)
    assert len(hub.stored) == 150
    sync(drop, tmp_path / "cp.json", hub, batch_size=70)  # even with another batch size
    assert sorted(hub.stored_keys) == sorted(sim.good)
    assert len(hub.keys) == 7  # 3 + the third again (answered from the hub) + 3 of file 2
    assert not list(drop.glob("*.csv"))


def test_a_crash_between_the_last_ack_and_the_move_finishes_the_move(tmp_path):
    drop = tmp_path / "drop"
    export(drop, 20, rows_per_file=20, seed=14)
    hub = FakeHub("txn_id")
    sync(drop, tmp_path / "cp.json", hub)
    [done] = list((drop / "done").glob("*.csv"))
    done.rename(drop / done.name)  # as if the run died before moving it
    again = sync(drop, tmp_path / "cp.json", hub)
    assert again.files == {} and len(hub.stored) == 20
    assert (drop / "done" / done.name).exists() and not (
        drop / "done" / f"{done.name}.reason.txt"
    ).exists()


def test_hub_down_in_once_mode_raises_and_resumes_later(tmp_path):
    drop = tmp_path / "drop"
    export(drop, 40, rows_per_file=40, seed=15)
    hub = FakeHub("txn_id")
    hub.unavailable = 100
    with pytest.raises(RetriableError), hub_client(hub, max_attempts=2) as client:
        TreasuryFolderConnector(drop).sync(client, Checkpoint(tmp_path / "cp.json"))
    assert list(drop.glob("*.csv"))  # still waiting in the folder
    hub.unavailable = 0
    sync(drop, tmp_path / "cp.json", hub)
    assert len(hub.stored) == 40


def test_follow_mode_picks_up_new_files_beats_and_waits_out_the_hub(tmp_path):
    drop = tmp_path / "drop"
    system = TreasurySystem(drop)
    hub = FakeHub("txn_id")
    hub.unavailable = 3
    stop = threading.Event()
    client = hub_client(hub, max_attempts=1)
    result = {}
    worker = threading.Thread(
        target=lambda: result.update(
            summary=TreasuryFolderConnector(drop).sync(
                client,
                Checkpoint(tmp_path / "cp.json"),
                follow=True,
                poll_interval=0.01,
                stop_event=stop,
            )
        )
    )
    worker.start()
    import random

    system.export(60, rows_per_file=30, rng=random.Random(16))
    from tests.support import poll_until

    poll_until(lambda: len(hub.stored) == 60, timeout=10, what="both files published")
    stop.set()
    worker.join(5)
    client.close()
    assert result["summary"].files == {"done": 2}
    errors = [b["last_error"] for b in hub.heartbeats if b["last_error"]]
    assert errors and "hub unavailable" in errors[0]
    assert hub.heartbeats[-1]["last_error"] is None
    assert {b["name"] for b in hub.heartbeats} == {"treasury"}
    assert hub.heartbeats[-1]["records_sent"] == 60


def test_a_failing_heartbeat_does_not_stop_the_connector(tmp_path):
    drop = tmp_path / "drop"
    export(drop, 20, rows_per_file=10, seed=17)
    hub = FakeHub("txn_id")
    hub.heartbeat_status = 500
    summary = sync(drop, tmp_path / "cp.json", hub)
    assert summary.accepted == 20 and hub.heartbeats


def test_missing_folder_is_fatal(tmp_path):
    with pytest.raises(FatalError, match="drop folder not found"):
        sync(tmp_path / "nope", tmp_path / "cp.json", FakeHub("txn_id"))


def test_run_connector_wires_the_treasury_connector(tmp_path):
    drop = tmp_path / "drop"
    export(drop, 25, rows_per_file=25, seed=18)
    hub = FakeHub("txn_id")
    summary = run_connector(
        "treasury",
        hub_url="http://hub.test",
        api_key="k",
        source=drop,
        checkpoint_path=tmp_path / "cp.json",
        transport=httpx.MockTransport(hub),
    )
    assert summary.accepted == 25 and hub.connector_headers == ["treasury"]
