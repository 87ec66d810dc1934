"""The simulated TCT e-invoice system: its own SQLite database in its own native shape.

Table `hoa_don` (columns named after the Circular 78 XML tags):
  id        INTEGER autoincrement; the order rows were stored in (a connector's cursor)
  khmshdon  form number 1..6           khhdon  symbol, e.g. C26TAA     shdon  number
  nlap      issue date as text 'dd/mm/yyyy'
  mst_nban  seller MST (10 digits or 0314409058-002)   mst_nmua  buyer MST, NULL or '' (retail)
  dvtte     currency        tgia  exchange rate (REAL), NULL for VND
  tgtcthue, tgtthue, tgttbso   total before tax, VAT, total: INTEGER for VND, though some older
            tills wrote TEXT ('1250000'); foreign-currency amounts are TEXT with 2 decimals
  tsuat     rate text: '0%', '5%', '8%', '10%', 'KCT', 'KKKNT'
  mccqt     tax-authority code, only for symbols starting with C
  tthai     status code: 1 issued, 3 replaced, 4 adjusted, 5 cancelled
  tao_luc   local timestamp the row was stored, 'YYYY-MM-DD HH:MM:SS'
Table `loi_mo_phong(hoa_don_id, kind)`: the simulator's ground truth, one row per bad invoice.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from simulators.tax.generator import (
    BAD_KINDS,
    POPULATION_SEED,
    SELLERS,
    Draft,
    apply_defect,
    draft_invoice,
    make_sellers,
    render,
)

__all__ = ["GenerateSummary", "TaxSystem"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS hoa_don (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    khmshdon INTEGER NOT NULL,
    khhdon TEXT NOT NULL,
    shdon INTEGER NOT NULL,
    nlap TEXT,
    mst_nban TEXT,
    mst_nmua TEXT,
    dvtte TEXT NOT NULL DEFAULT 'VND',
    tgia REAL,
    tgtcthue,
    tgtthue,
    tgttbso,
    tsuat TEXT,
    mccqt TEXT,
    tthai INTEGER NOT NULL DEFAULT 1,
    tao_luc TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS hoa_don_so ON hoa_don (mst_nban, khmshdon, khhdon, shdon);
CREATE TABLE IF NOT EXISTS loi_mo_phong (
    hoa_don_id INTEGER PRIMARY KEY REFERENCES hoa_don (id),
    kind TEXT NOT NULL
);
"""
COLUMNS = (
    "khmshdon", "khhdon", "shdon", "nlap", "mst_nban", "mst_nmua", "dvtte", "tgia",
    "tgtcthue", "tgtthue", "tgttbso", "tsuat", "mccqt", "tthai", "tao_luc",
)  # fmt: skip
INSERT = f"INSERT INTO hoa_don ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
COMMIT_EVERY = 10_000
SeriesKey = tuple[str | None, int, str]


@dataclass
class GenerateSummary:
    """How many invoices were stored, good and bad by defect kind, and their id range."""

    good: int = 0
    bad_by_kind: dict[str, int] = field(default_factory=dict)
    first_id: int | None = None
    last_id: int | None = None

    @property
    def bad(self) -> int:
        return sum(self.bad_by_kind.values())

    @property
    def total(self) -> int:
        return self.good + self.bad

    def merge(self, other: GenerateSummary) -> None:
        self.good += other.good
        self.bad_by_kind = dict(Counter(self.bad_by_kind) + Counter(other.bad_by_kind))
        if self.first_id is None:
            self.first_id = other.first_id
        if other.last_id is not None:
            self.last_id = other.last_id

    def to_dict(self) -> dict[str, object]:
        return {
            "good": self.good,
            "bad": self.bad,
            "bad_by_kind": dict(sorted(self.bad_by_kind.items())),
            "first_id": self.first_id,
            "last_id": self.last_id,
        }


class TaxSystem:
    """The tax system's invoice store; safe to use from several threads and processes."""

    def __init__(
        self,
        db_path: Path | str,
        *,
        sellers: int = SELLERS,
        population_seed: int = POPULATION_SEED,
        clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.db_path = Path(db_path)
        self._clock = clock
        # The seller population is part of the simulated world, stable across runs and seeds.
        self._sellers = make_sellers(random.Random(population_seed), sellers)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(self._connect()) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def issue(self, count: int, *, bad_share: float = 0.0, rng: random.Random) -> GenerateSummary:
        """Store `count` new invoices, about `bad_share` of them with one known defect each."""
        if count < 0:
            raise ValueError("count must be >= 0")
        if not 0.0 <= bad_share <= 1.0:
            raise ValueError("bad_share must be within [0, 1]")
        # Stochastic rounding: exact for large counts, right on average for small ticks.
        n_bad = min(count, int(count * bad_share + rng.random()))
        # Every kind equally often; a random starting kind so small follow ticks cover them all.
        first = rng.randrange(len(BAD_KINDS))
        kinds = [BAD_KINDS[(first + i) % len(BAD_KINDS)] for i in range(n_bad)]
        rng.shuffle(kinds)
        defect_at = dict(zip(sorted(rng.sample(range(count), n_bad)), kinds, strict=True))

        summary = GenerateSummary()
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            numbers = self._last_numbers(conn)
            for i in range(count):
                draft = draft_invoice(rng, self._sellers)
                kind = defect_at.get(i)
                if kind is not None:
                    draft = apply_defect(draft, kind, rng)
                row_id = self._insert(conn, draft, numbers)
                if kind is None:
                    summary.good += 1
                else:
                    conn.execute(
                        "INSERT INTO loi_mo_phong (hoa_don_id, kind) VALUES (?, ?)", (row_id, kind)
                    )
                    summary.bad_by_kind[kind] = summary.bad_by_kind.get(kind, 0) + 1
                if summary.first_id is None:
                    summary.first_id = row_id
                summary.last_id = row_id
                if (i + 1) % COMMIT_EVERY == 0:
                    conn.execute("COMMIT")
                    conn.execute("BEGIN IMMEDIATE")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()
        return summary

    def _insert(self, conn: sqlite3.Connection, draft: Draft, numbers: dict[SeriesKey, int]) -> int:
        key = (draft.seller, draft.form, draft.symbol)
        number = numbers.get(key, 0) + 1
        numbers[key] = number
        created = self._clock().strftime("%Y-%m-%d %H:%M:%S")
        row = render(draft, number, created)
        cursor = conn.execute(INSERT, [row[c] for c in COLUMNS])
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    @staticmethod
    def _last_numbers(conn: sqlite3.Connection) -> dict[SeriesKey, int]:
        rows = conn.execute(
            "SELECT mst_nban, khmshdon, khhdon, MAX(shdon) FROM hoa_don "
            "GROUP BY mst_nban, khmshdon, khhdon"
        )
        return {(seller, form, symbol): last for seller, form, symbol, last in rows}

    def count(self) -> int:
        with contextlib.closing(self._connect()) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM hoa_don").fetchone()[0])

    def defects(self) -> dict[int, str]:
        """Ground truth: hoa_don.id -> defect kind, for every bad row."""
        with contextlib.closing(self._connect()) as conn:
            return dict(conn.execute("SELECT hoa_don_id, kind FROM loi_mo_phong"))

    def run_follow(
        self,
        rate_per_s: float,
        stop_event: threading.Event,
        *,
        bad_share: float = 0.0,
        rng: random.Random,
        tick: float = 0.2,
        max_count: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wait: Callable[[float], object] | None = None,
    ) -> GenerateSummary:
        """Keep issuing invoices at `rate_per_s` until `stop_event` is set (or `max_count`)."""
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be > 0")
        pause = wait if wait is not None else stop_event.wait
        total = GenerateSummary()
        start = monotonic()
        issued = 0
        while not stop_event.is_set():
            due = int((monotonic() - start) * rate_per_s) - issued
            if max_count is not None:
                due = min(due, max_count - issued)
            if due > 0:
                total.merge(self.issue(due, bad_share=bad_share, rng=rng))
                issued += due
            if max_count is not None and issued >= max_count:
                break
            pause(tick)
        return total
