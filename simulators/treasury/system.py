"""The simulated TABMIS export: CSV files of budget transactions dropped into a folder.

File format (what the treasury's export job writes):
  name      TABMIS_<MA_KBNN>_<yyyymmdd>_<nnnnnn>.csv, written as `.<name>.tmp` and renamed
            when complete, so a reader never sees half a file under the final name
  encoding  UTF-8 with a BOM; separator `;`; line ends CRLF
  header    the Vietnamese column titles of `generator.HEADER`
  rows      dates dd/mm/yyyy; amounts with a decimal comma and '.' thousands (1.250.000,00);
            `Thu/Chi` is Thu (revenue) or Chi (expenditure); empty text for no value
  trailer   `#TỔNG CỘNG;<number of rows>`: its absence means the file is incomplete

Faults on demand: rows with one known defect, malformed files (truncated: cut mid-row with no
trailer; wrong header: an old export layout; wrong encoding: UTF-16 from a desktop re-save) and
duplicate files (the same bytes exported again under a new name).

Ground truth (`truth_path`, JSON lines, one per file written): name, kind (`ok`, `truncated`,
`wrong_header`, `wrong_encoding`, `duplicate`), duplicate_of, the txn ids of good rows, and the
defect of each bad row. It lives outside the drop folder.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from simulators.treasury.generator import BAD_KINDS, HEADER, apply_defect, draft_txn, render_row

__all__ = ["MALFORMED_KINDS", "TRAILER", "ExportSummary", "FileTruth", "TreasurySystem"]

MALFORMED_KINDS: tuple[str, ...] = ("truncated", "wrong_header", "wrong_encoding")
TRAILER = "#TỔNG CỘNG"
OLD_HEADER = HEADER[:8] + HEADER[9:]  # the layout before `Mã địa bàn` was added
EXPORT_DAY = date(2026, 3, 2)


@dataclass
class FileTruth:
    """What one dropped file holds, as the simulator made it."""

    name: str
    kind: str
    good: list[str] = field(default_factory=list)
    bad: dict[str, str] = field(default_factory=dict)
    duplicate_of: str | None = None
    last_seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "duplicate_of": self.duplicate_of,
            "good": self.good,
            "bad": self.bad,
            "last_seq": self.last_seq,
        }


@dataclass
class ExportSummary:
    files: list[FileTruth] = field(default_factory=list)

    @property
    def good(self) -> list[str]:
        """Txn ids of good rows in well-formed, first-time files: what must reach the hub."""
        return [t for f in self.files if f.kind == "ok" for t in f.good]

    @property
    def bad(self) -> dict[str, str]:
        return {t: k for f in self.files if f.kind == "ok" for t, k in f.bad.items()}

    def to_dict(self) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        for f in self.files:
            kinds[f.kind] = kinds.get(f.kind, 0) + 1
        return {"files": len(self.files), "by_kind": kinds, "good": len(self.good),
                "bad": len(self.bad)}  # fmt: skip


class TreasurySystem:
    """The treasury's export job writing into `drop_dir`; ground truth at `truth_path`."""

    def __init__(
        self, drop_dir: Path | str, *, truth_path: Path | str | None = None, treasury: str = "0011"
    ) -> None:
        self.drop_dir = Path(drop_dir)
        self.truth_path = (
            Path(truth_path)
            if truth_path is not None
            else self.drop_dir.with_name(self.drop_dir.name + ".truth.jsonl")
        )
        self.treasury = treasury
        self.drop_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    # -- ground truth -------------------------------------------------------------------------

    def truth(self) -> ExportSummary:
        """Every file written so far, in order."""
        if not self.truth_path.exists():
            return ExportSummary()
        files = []
        for line in self.truth_path.read_text(encoding="utf-8").splitlines():
            data = json.loads(line)
            files.append(FileTruth(**data))
        return ExportSummary(files)

    def _record(self, truth: FileTruth) -> None:
        with self.truth_path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(truth.to_dict(), ensure_ascii=False) + "\n")

    # -- exporting ----------------------------------------------------------------------------

    def export(
        self,
        count: int,
        *,
        rows_per_file: int = 200,
        bad_share: float = 0.0,
        malformed: int = 0,
        duplicates: int = 0,
        rng: random.Random,
    ) -> ExportSummary:
        """Write `count` transactions in files of `rows_per_file`, then `malformed` extra broken
        files (cycling through MALFORMED_KINDS) and `duplicates` re-exports of earlier files."""
        if count < 0 or rows_per_file < 1 or malformed < 0 or duplicates < 0:
            raise ValueError("count, malformed, duplicates >= 0 and rows_per_file >= 1")
        if not 0.0 <= bad_share <= 1.0:
            raise ValueError("bad_share must be within [0, 1]")
        with self._lock:
            history = self.truth().files
            seq = max((f.last_seq for f in history), default=0)
            number = len(history)
            summary = ExportSummary()
            written: list[tuple[FileTruth, bytes]] = []
            sizes = [rows_per_file] * (count // rows_per_file)
            if count % rows_per_file:
                sizes.append(count % rows_per_file)
            plan = [("ok", n) for n in sizes]
            plan += [
                (MALFORMED_KINDS[i % 3], max(3, min(rows_per_file, 20))) for i in range(malformed)
            ]
            for kind, rows in plan:
                number += 1
                name = f"TABMIS_{self.treasury}_{EXPORT_DAY:%Y%m%d}_{number:06d}.csv"
                truth, data, seq = self._build(name, kind, rows, seq, bad_share, rng)
                self._drop(name, data)
                self._record(truth)
                summary.files.append(truth)
                if kind == "ok":
                    written.append((truth, data))
            for i in range(duplicates):
                if not written:
                    break
                original, data = written[i % len(written)]
                number += 1
                name = f"TABMIS_{self.treasury}_{EXPORT_DAY:%Y%m%d}_{number:06d}.csv"
                truth = FileTruth(name, "duplicate", duplicate_of=original.name, last_seq=seq)
                self._drop(name, data)
                self._record(truth)
                summary.files.append(truth)
            return summary

    def _build(
        self, name: str, kind: str, rows: int, seq: int, bad_share: float, rng: random.Random
    ) -> tuple[FileTruth, bytes, int]:
        truth = FileTruth(name, kind)
        n_bad = min(rows, int(rows * bad_share + rng.random())) if kind == "ok" else 0
        first = rng.randrange(len(BAD_KINDS))
        defects = {
            at: BAD_KINDS[(first + i) % len(BAD_KINDS)]
            for i, at in enumerate(sorted(rng.sample(range(rows), n_bad)))
        }
        lines = []
        for i in range(rows):
            seq += 1
            txn = draft_txn(rng, seq)
            kind_of_row = defects.get(i)
            if kind_of_row is not None:
                txn = apply_defect(txn, kind_of_row, rng)
                truth.bad[txn.txn_id] = kind_of_row
            else:
                truth.good.append(txn.txn_id)
            lines.append(render_row(txn))
        truth.last_seq = seq
        header = OLD_HEADER if kind == "wrong_header" else HEADER
        text = "\r\n".join([";".join(header), *lines, f"{TRAILER};{rows}"]) + "\r\n"
        if kind == "wrong_encoding":
            return truth, text.encode("utf-16"), seq
        data = text.encode("utf-8-sig")
        if kind == "truncated":
            # Cut somewhere inside the rows: the trailer (and part of a row) is gone.
            body_start = len(";".join(header).encode("utf-8-sig")) + 2
            data = data[: rng.randint(body_start + 10, len(data) - len(TRAILER.encode()) - 8)]
        return truth, data, seq

    def _drop(self, name: str, data: bytes) -> None:
        """Write under a temporary name, flush to disk, then rename: readers see whole files."""
        tmp = self.drop_dir / f".{name}.tmp"
        with tmp.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.drop_dir / name)

    def run_follow(
        self,
        interval: float,
        stop_event: threading.Event,
        *,
        rows_per_file: int = 200,
        bad_share: float = 0.0,
        rng: random.Random,
        max_files: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> ExportSummary:
        """Drop one file every `interval` seconds until `stop_event` is set (or `max_files`)."""
        if interval <= 0:
            raise ValueError("interval must be > 0")
        total = ExportSummary()
        while not stop_event.is_set():
            started = monotonic()
            summary = self.export(rows_per_file, rows_per_file=rows_per_file,
                                  bad_share=bad_share, rng=rng)  # fmt: skip
            total.files.extend(summary.files)
            if max_files is not None and len(total.files) >= max_files:
                break
            stop_event.wait(max(0.0, interval - (monotonic() - started)))
        return total
