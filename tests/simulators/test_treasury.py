import random
from decimal import Decimal

import pytest

from simulators.treasury import (
    BAD_KINDS,
    HEADER,
    MALFORMED_KINDS,
    TRAILER,
    TreasurySystem,
    export,
    format_amount,
)


def lines_of(data: bytes) -> list[str]:
    return data.decode("utf-8-sig").split("\r\n")[:-1]


def test_writes_native_csv_files_with_header_rows_and_trailer(tmp_path):
    summary = export(tmp_path / "drop", 450, rows_per_file=200, seed=3)
    files = sorted((tmp_path / "drop").iterdir())
    assert [f.name for f in files] == [t.name for t in summary.files]
    assert [len(t.good) for t in summary.files] == [200, 200, 50]
    data = files[0].read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    lines = lines_of(data)
    assert lines[0] == ";".join(HEADER)
    assert lines[-1] == f"{TRAILER};200"
    assert all(len(line.split(";")) == len(HEADER) for line in lines[1:-1])
    assert [line.split(";")[0] for line in lines[1:-1]] == summary.files[0].good


def test_no_temporary_file_is_left_behind(tmp_path):
    export(tmp_path / "drop", 100, rows_per_file=30, malformed=3, duplicates=1, seed=1)
    assert not [p for p in (tmp_path / "drop").iterdir() if p.name.startswith(".")]


def test_bad_rows_are_recorded_with_their_kind(tmp_path):
    summary = export(tmp_path / "drop", 900, rows_per_file=300, bad_share=0.1, seed=5)
    assert len(summary.bad) == 90
    assert set(summary.bad.values()) == set(BAD_KINDS)
    assert len(summary.good) + len(summary.bad) == 900
    assert not set(summary.good) & set(summary.bad)


def test_txn_ids_stay_unique_across_exports(tmp_path):
    system = TreasurySystem(tmp_path / "drop")
    first = system.export(100, rows_per_file=50, rng=random.Random(1))
    second = system.export(100, rows_per_file=50, rng=random.Random(1))
    ids = first.good + second.good
    assert len(ids) == len(set(ids)) == 200
    assert len(system.truth().files) == 4
    assert len({p.name for p in (tmp_path / "drop").iterdir()}) == 4


def test_same_seed_same_files(tmp_path):
    export(tmp_path / "a", 120, rows_per_file=60, bad_share=0.2, seed=8)
    export(tmp_path / "b", 120, rows_per_file=60, bad_share=0.2, seed=8)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert all(
        (tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes() for n in names
    )


def test_malformed_files_are_broken_each_in_its_way(tmp_path):
    summary = export(tmp_path / "drop", 0, malformed=3, seed=2)
    by_kind = {t.kind: (tmp_path / "drop" / t.name).read_bytes() for t in summary.files}
    assert set(by_kind) == set(MALFORMED_KINDS)
    with pytest.raises(UnicodeDecodeError):
        by_kind["wrong_encoding"].decode("utf-8")
    assert "Mã địa bàn" not in lines_of(by_kind["wrong_header"])[0]
    truncated = by_kind["truncated"].decode("utf-8-sig")
    assert TRAILER not in truncated and truncated.startswith(";".join(HEADER))
    assert summary.good == [] and summary.bad == {}


def test_duplicates_repeat_an_earlier_file_byte_for_byte(tmp_path):
    summary = export(tmp_path / "drop", 100, rows_per_file=50, duplicates=2, seed=4)
    dups = [t for t in summary.files if t.kind == "duplicate"]
    assert len(dups) == 2
    for dup in dups:
        original = (tmp_path / "drop" / str(dup.duplicate_of)).read_bytes()
        assert (tmp_path / "drop" / dup.name).read_bytes() == original
    assert len(summary.good) == 100  # a duplicate brings no new good record


@pytest.mark.parametrize(
    ("value", "text"),
    [(Decimal("1250000"), "1.250.000,00"), (Decimal("0.5"), "0,50"), (Decimal(999), "999,00")],
)
def test_amounts_use_the_vietnamese_format(value, text):
    assert format_amount(value) == text


def test_the_command_line_exports(tmp_path, capsys):
    from simulators.treasury.__main__ import main

    assert main(["--drop", str(tmp_path / "d"), "--count", "60", "--rows-per-file", "25",
                 "--bad-share", "0.1", "--malformed", "1"]) == 0  # fmt: skip
    assert '"files": 4' in capsys.readouterr().out
    assert len(list((tmp_path / "d").glob("*.csv"))) == 4
