import random
import threading
from typing import Any

import httpx
import pytest

from connectors import (
    Checkpoint,
    CursorState,
    CustomsDeclarationStream,
    FatalError,
    HubClient,
    RetriableError,
    map_declaration,
    run_connector,
)
from simulators.customs import CustomsSystem, Faults, running
from tests.connectors.fakehub import FakeHub
from tests.support import poll_until

TOKEN = "vnaccs-unit-token"


def native(**overrides: Any) -> dict[str, Any]:
    item = {
        "soToKhai": "103456789012", "maLoaiHinh": "A11", "maHQ": "01B1",
        "ngayDangKy": "02/03/2026 09:30:00", "maSoThue": "0100109106", "maHS": "85171300",
        "nuocXuatXu": "CN", "triGiaTinhThue": 250000000, "thueNK": 12500000.0,
        "thueGTGT": 26250000, "maPhanLuong": "2", "trangThai": "DK",
        "ngayCapNhat": "2026-03-02 09:30:00.125000", "phienBan": 1,
    }  # fmt: skip
    item.update(overrides)
    return item


def versions_of(records: list[dict]) -> list[tuple[str, str, str]]:
    return sorted((r["declaration_no"], r["status"], r["updated_at"]) for r in records)


def truth(system: CustomsSystem, *, good: bool = True) -> list[tuple[str, str, str]]:
    return sorted(
        (r["declaration_no"], r["status"], r["updated_at"])
        for r in (
            map_declaration(v.native) for v in system.versions() if (v.defect is None) == good
        )
    )


def stream(url: str, **kwargs: Any) -> CustomsDeclarationStream:
    defaults: dict[str, Any] = {"timeout": 0.5, "page_size": 40, "sleep": lambda s: None}
    return CustomsDeclarationStream(url, TOKEN, **{**defaults, **kwargs})


def hub_client(hub: FakeHub, **kwargs: Any) -> HubClient:
    return HubClient("http://hub.test", "tchq-key", transport=hub.transport(),
                     sleep=lambda s: None, connector="customs", **kwargs)  # fmt: skip


# --- mapping ---------------------------------------------------------------------------------


def test_maps_a_native_declaration():
    assert map_declaration(native()) == {
        "declaration_no": "103456789012",
        "type_code": "A11",
        "customs_office": "01B1",
        "declared_at": "2026-03-02T09:30:00+07:00",
        "trader_tax_code": "0100109106",
        "hs_code": "85171300",
        "origin_country": "CN",
        "customs_value_vnd": "250000000",
        "import_duty": "12500000.0",
        "import_vat": "26250000",
        "channel": "yellow",
        "status": "registered",
        "updated_at": "2026-03-02T09:30:00.125000+07:00",
    }


@pytest.mark.parametrize(
    ("overrides", "field", "expected"),
    [
        ({"trangThai": "TQ"}, "status", "cleared"),
        ({"trangThai": "HUY"}, "status", "cancelled"),
        ({"trangThai": "XX"}, "status", "XX"),
        ({"maPhanLuong": "1"}, "channel", "green"),
        ({"maPhanLuong": "3"}, "channel", "red"),
        ({"maPhanLuong": "4"}, "channel", "4"),
        ({"ngayDangKy": "31/02/2026 10:00:00"}, "declared_at", "31/02/2026 10:00:00"),
        ({"thueNK": -1000}, "import_duty", "-1000"),
        ({"thueNK": None}, "import_duty", None),
        ({"soToKhai": 103456789012}, "declaration_no", "103456789012"),
    ],
)
def test_maps_each_native_quirk(overrides, field, expected):
    assert map_declaration(native(**overrides))[field] == expected


# --- reading the API -----------------------------------------------------------------------


def test_reads_past_shared_timestamps_without_skipping_or_repeating():
    fixed = __import__("datetime").datetime(2026, 3, 2, tzinfo=__import__("datetime").UTC)
    system = CustomsSystem(clock=lambda: fixed)  # every declaration shares one time
    system.register(95, rng=random.Random(1))
    with running(system, token=TOKEN) as url:
        source = stream(url, page_size=10)
        state, seen = CursorState(), []
        while True:
            rows = list(source.get_records(state, limit=30))
            if not rows:
                break
            seen += [r[1]["declaration_no"] for r in rows]
            state = state.advance(rows[-1][0], len(rows))
        source.close()
    assert len(seen) == len(set(seen)) == 95


def test_every_state_reaches_the_hub_once_as_a_version_through_faults():
    system = CustomsSystem()
    rng = random.Random(2)
    system.register(150, bad_share=0.1, rng=rng)
    faults = Faults(rate_limit=0.1, server_error=0.1, slow=0.05, hang=0.03, hang_seconds=0.8,
                    retry_after=0, seed=3)  # fmt: skip
    hub = FakeHub("declaration_no")
    sleeps: list[float] = []
    with running(system, token=TOKEN, faults=faults) as url, hub_client(hub) as client:
        checkpoint = Checkpoint(__import__("tempfile").mkdtemp() + "/cp.json")
        first = stream(url, sleep=sleeps.append).sync(client, checkpoint, batch_size=50)
        system.advance(0.5, rng=rng)
        system.register(30, rng=rng)
        second = stream(url, sleep=sleeps.append).sync(client, checkpoint, batch_size=50)
    assert versions_of(hub.stored) == sorted(truth(system) + truth(system, good=False))
    assert first.sent == 150 and second.sent == len(system.versions()) - 150
    assert faults.injected["rate_limit"] and faults.injected["hang"], faults.injected
    assert 0 in sleeps  # Retry-After: 0 was honoured as given
    assert set(hub.connector_headers) == {"customs"}


def test_retry_after_is_honoured():
    system = CustomsSystem()
    system.register(5, rng=random.Random(4))
    faults = Faults(rate_limit=1.0, retry_after=3)
    sleeps: list[float] = []
    with running(system, token=TOKEN, faults=faults) as url:
        source = stream(url, sleep=sleeps.append, max_attempts=3)
        with pytest.raises(RetriableError, match="429"):
            list(source.get_records(CursorState(), limit=10))
    assert sleeps == [3.0, 3.0]


def test_backoff_grows_with_jitter_when_no_retry_after():
    system = CustomsSystem()
    faults = Faults(server_error=1.0)
    sleeps: list[float] = []
    with running(system, token=TOKEN, faults=faults) as url:
        source = stream(url, sleep=sleeps.append, max_attempts=5, backoff_initial=1.0,
                        jitter=lambda: 1.0)  # fmt: skip
        with pytest.raises(RetriableError):
            list(source.get_records(CursorState(), limit=10))
    assert sleeps == [1.0, 2.0, 4.0, 8.0]


def test_a_bad_token_is_fatal_with_a_clear_message():
    with running(CustomsSystem(), token=TOKEN) as url:
        source = CustomsDeclarationStream(url, "wrong-token")
        with pytest.raises(FatalError, match=r"401.*check the VNACCS API token"):
            list(source.get_records(CursorState(), limit=10))
    with pytest.raises(FatalError, match="needs the VNACCS API token"):
        CustomsDeclarationStream("http://x", None)


def test_a_source_that_is_down_is_waited_for_in_follow_mode(tmp_path):
    system = CustomsSystem()
    system.register(40, rng=random.Random(5))
    faults = Faults(down=True)
    hub = FakeHub("declaration_no")
    stop = threading.Event()
    with running(system, token=TOKEN, faults=faults) as url, hub_client(hub) as client:
        source = stream(url, max_attempts=2)
        worker = threading.Thread(
            target=source.sync,
            args=(client, Checkpoint(tmp_path / "cp.json")),
            kwargs={"follow": True, "poll_interval": 0.02, "stop_event": stop},
        )
        worker.start()
        poll_until(lambda: faults.injected["down"] >= 4, timeout=10, what="retries while down")
        assert hub.stored == [] and worker.is_alive()
        faults.down = False
        poll_until(lambda: len(hub.stored) == 40, timeout=10, what="records after recovery")
        stop.set()
        worker.join(5)
    errors = [b["last_error"] for b in hub.heartbeats if b["last_error"]]
    assert errors and "source unavailable" in errors[0]
    assert hub.heartbeats[-1]["last_error"] is None and hub.heartbeats[-1]["lag"] == 0


def test_a_crash_after_the_hub_stored_a_page_resends_exactly_that_page(tmp_path):
    system = CustomsSystem()
    rng = random.Random(6)
    system.register(60, rng=rng)
    hub = FakeHub("declaration_no")
    hub.crash_on_batch = 2
    checkpoint = Checkpoint(tmp_path / "cp.json")
    with running(system, token=TOKEN) as url, hub_client(hub) as client:
        with pytest.raises(RuntimeError):
            stream(url).sync(client, checkpoint, batch_size=20)
        assert checkpoint.load().pending is not None and len(hub.stored) == 40
        system.advance(1.0, rng=rng)  # every row of the pending page changed meanwhile
        stream(url).sync(client, checkpoint, batch_size=20)
    assert hub.keys[1] == hub.keys[2]  # the same page again, answered from the first answer
    stored = versions_of(hub.stored)
    # 40 first states, then all 60 second states; the 20 unread first states changed unseen
    assert len(stored) == len(set(stored)) == 100
    assert set(stored) <= set(truth(system))
    assert {v for v in truth(system) if v[1] != "registered"} <= set(stored)


def test_batches_close_by_time_in_follow_mode(tmp_path):
    system = CustomsSystem()
    system.register(3, rng=random.Random(7))
    hub = FakeHub("declaration_no")
    stop = threading.Event()
    with running(system, token=TOKEN) as url, hub_client(hub) as client:
        worker = threading.Thread(
            target=stream(url).sync,
            args=(client, Checkpoint(tmp_path / "cp.json")),
            kwargs={"follow": True, "poll_interval": 0.05, "stop_event": stop,
                    "batch_size": 100, "linger": 0.6},
        )  # fmt: skip
        worker.start()
        poll_until(lambda: system.count() and True, what="start")
        system.register(4, rng=random.Random(8))
        poll_until(lambda: len(hub.stored) == 7, timeout=10, what="the lingering batch")
        stop.set()
        worker.join(5)
    assert len(hub.keys) == 1  # one batch of 7, not one of 3 and one of 4


def test_run_connector_passes_the_source_token(tmp_path):
    system = CustomsSystem()
    system.register(12, rng=random.Random(9))
    hub = FakeHub("declaration_no")
    with running(system, token=TOKEN) as url:
        summary = run_connector(
            "customs",
            hub_url="http://hub.test",
            api_key="k",
            source=url,
            source_token=TOKEN,
            options={"timeout": 2.0},
            checkpoint_path=tmp_path / "cp.json",
            transport=httpx.MockTransport(hub),
        )
        with pytest.raises(FatalError, match="unknown source options"):
            run_connector("customs", hub_url="http://hub.test", api_key="k", source=url,
                          source_token=TOKEN, options={"nope": 1},
                          checkpoint_path=tmp_path / "x.json")  # fmt: skip
    assert summary.accepted == 12
