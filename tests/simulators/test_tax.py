import json
import random
import re
import sqlite3
import threading
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from simulators.tax import (
    BAD_KINDS,
    STATUS_CODES,
    TaxSystem,
    generate,
    is_valid_mst,
    mst_check_digit,
    random_mst,
)
from simulators.tax.__main__ import main

SYMBOL_RE = re.compile(r"^[CK]\d{2}[TDLMNBGH][A-Z0-9]{2}$")
GOOD_RATES = {"0%", "5%", "8%", "10%", "KCT", "KKKNT"}
FIXED_CLOCK = datetime(2026, 3, 1, 8, 30)


def make_system(path: Path) -> TaxSystem:
    return TaxSystem(path, clock=lambda: FIXED_CLOCK)


def rows(path: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM hoa_don ORDER BY id").fetchall()
    finally:
        conn.close()


def found_defects(row: sqlite3.Row) -> set[str]:
    """Every defect kind this native row shows, judged independently of the generator."""
    found = set()
    seller = row["mst_nban"]
    if seller is None:
        found.add("missing_seller_mst")
    elif not is_valid_mst(seller):
        found.add("bad_mst_check")
    if not SYMBOL_RE.match(row["khhdon"]):
        found.add("bad_symbol")
    if row["tsuat"] not in GOOD_RATES:
        found.add("unknown_vat_rate")
    try:
        datetime.strptime(row["nlap"], "%d/%m/%Y")
    except ValueError:
        found.add("bad_date")
    if row["dvtte"] != "VND" and row["tgia"] is None:
        found.add("foreign_without_rate")
    before, vat, total = (Decimal(str(row[c])) for c in ("tgtcthue", "tgtthue", "tgttbso"))
    if min(before, vat, total) < 0:
        found.add("negative_amount")
    if before + vat != total:
        found.add("totals_mismatch")
    return found


def test_mst_check_digit_matches_the_published_rule():
    assert mst_check_digit("031440905") == 8
    assert is_valid_mst("0314409058")
    assert is_valid_mst("0314409058-002")
    assert not is_valid_mst("0314409059")
    assert not is_valid_mst("0314409058-000")
    assert not is_valid_mst("031440905")
    # a prefix whose weighted sum is divisible by 11 has no valid check digit
    assert mst_check_digit("000000000") is None


def test_random_mst_is_always_valid_and_sometimes_a_branch():
    rng = random.Random(1)
    codes = [random_mst(rng, branch_share=0.3) for _ in range(500)]
    assert all(is_valid_mst(code) for code in codes)
    assert any(len(code) == 14 for code in codes)
    assert any(len(code) == 10 for code in codes)


def test_same_seed_gives_the_same_rows(tmp_path):
    for name in ("a.db", "b.db", "c.db"):
        seed = 7 if name != "c.db" else 8
        make_system(tmp_path / name).issue(300, bad_share=0.2, rng=random.Random(seed))
    a, b, c = (rows(tmp_path / n) for n in ("a.db", "b.db", "c.db"))
    assert [tuple(r) for r in a] == [tuple(r) for r in b]
    assert [tuple(r) for r in a] != [tuple(r) for r in c]


def test_good_rows_are_valid_and_consistent(tmp_path):
    db = tmp_path / "tax.db"
    system = make_system(db)
    system.issue(2000, bad_share=0.0, rng=random.Random(3))
    all_rows = rows(db)
    assert len(all_rows) == system.count() == 2000
    assert system.defects() == {}
    for row in all_rows:
        assert found_defects(row) == set(), dict(row)
        assert row["khhdon"][1:3] == "26"
        assert (row["mccqt"] is not None) == row["khhdon"].startswith("C")
        assert row["tthai"] in STATUS_CODES
        assert date(2026, 1, 1) <= datetime.strptime(row["nlap"], "%d/%m/%Y").date()
        pct = Decimal(row["tsuat"].rstrip("%")) if row["tsuat"].endswith("%") else Decimal(0)
        before, vat = Decimal(str(row["tgtcthue"])), Decimal(str(row["tgtthue"]))
        quantum = Decimal(1) if row["dvtte"] == "VND" else Decimal("0.01")
        assert vat == (before * pct / 100).quantize(quantum, ROUND_HALF_UP)
    keys = [(r["mst_nban"], r["khmshdon"], r["khhdon"], r["shdon"]) for r in all_rows]
    assert len(set(keys)) == len(keys)
    # the realistic mix is there
    assert any(r["dvtte"] != "VND" and r["tgia"] for r in all_rows)
    assert any(r["mst_nmua"] is None for r in all_rows)
    assert any(r["mst_nmua"] == "" for r in all_rows)
    assert any(len(r["mst_nban"]) == 14 for r in all_rows)
    assert any(isinstance(r["tgtcthue"], str) for r in all_rows if r["dvtte"] == "VND")
    assert any(isinstance(r["tgtcthue"], int) for r in all_rows)
    assert {r["tthai"] for r in all_rows} == set(STATUS_CODES)


def test_bad_rows_carry_exactly_their_recorded_defect(tmp_path):
    db = tmp_path / "tax.db"
    system = make_system(db)
    summary = system.issue(1600, bad_share=0.1, rng=random.Random(11))
    truth = system.defects()
    assert summary.bad == len(truth) == 160
    assert summary.good == 1440
    assert summary.bad_by_kind == {kind: 20 for kind in BAD_KINDS}
    for row in rows(db):
        expected = {truth[row["id"]]} if row["id"] in truth else set()
        assert found_defects(row) == expected, (dict(row), expected)


def test_numbers_continue_across_calls_and_processes(tmp_path):
    db = tmp_path / "tax.db"
    first = make_system(db).issue(500, bad_share=0.1, rng=random.Random(1))
    # the same seed again would repeat sellers and series: numbers must still be fresh
    second = make_system(db).issue(500, bad_share=0.1, rng=random.Random(1))
    assert (first.first_id, first.last_id) == (1, 500)
    assert (second.first_id, second.last_id) == (501, 1000)
    assert make_system(db).count() == 1000


def test_generate_function_summary(tmp_path):
    summary = generate(tmp_path / "t.db", 100, bad_share=0.25, seed=5)
    assert summary.total == 100
    assert summary.bad == 25
    assert summary.to_dict()["good"] == 75


def test_issue_rejects_bad_arguments(tmp_path):
    system = make_system(tmp_path / "t.db")
    with pytest.raises(ValueError):
        system.issue(10, bad_share=1.5, rng=random.Random(1))
    with pytest.raises(ValueError):
        system.issue(-1, rng=random.Random(1))


def test_run_follow_issues_at_the_requested_rate(tmp_path):
    system = make_system(tmp_path / "t.db")
    stop = threading.Event()
    now = [0.0]
    waits = []

    def fake_wait(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds
        if len(waits) == 10:
            stop.set()

    summary = system.run_follow(
        40, stop, rng=random.Random(2), tick=0.25, monotonic=lambda: now[0], wait=fake_wait
    )
    # 10 ticks of 0.25 s at 40/s; the last tick's rows are due only after the stop
    assert summary.total == system.count() == 90
    assert waits == [0.25] * 10


def test_small_batches_still_cover_every_defect_kind(tmp_path):
    system = make_system(tmp_path / "t.db")
    rng = random.Random(4)
    for _ in range(60):
        system.issue(10, bad_share=0.2, rng=rng)
    assert set(system.defects().values()) == set(BAD_KINDS)


def test_run_follow_stops_at_max_count(tmp_path):
    system = make_system(tmp_path / "t.db")
    now = [0.0]

    def fake_wait(seconds: float) -> None:
        now[0] += seconds

    summary = system.run_follow(
        100, threading.Event(), rng=random.Random(2), max_count=35,
        monotonic=lambda: now[0], wait=fake_wait,
    )  # fmt: skip
    assert summary.total == system.count() == 35


def test_cli_issues_and_prints_a_summary(tmp_path, capsys):
    db = tmp_path / "cli.db"
    code = main(["--db", str(db), "--count", "80", "--bad-share", "0.5", "--seed", "3"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["issued"]["good"] + out["issued"]["bad"] == 80
    assert out["issued"]["bad"] == 40
    assert TaxSystem(db).count() == 80


def test_cli_refuses_a_bad_share_out_of_range(tmp_path):
    assert main(["--db", str(tmp_path / "x.db"), "--bad-share", "2"]) == 2
