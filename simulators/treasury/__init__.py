"""The simulated treasury system (KBNN TABMIS): CSV exports dropped into a folder."""

from __future__ import annotations

import random
from pathlib import Path

from simulators.treasury.generator import BAD_KINDS, HEADER, format_amount
from simulators.treasury.system import (
    MALFORMED_KINDS,
    TRAILER,
    ExportSummary,
    FileTruth,
    TreasurySystem,
)

__all__ = [
    "BAD_KINDS",
    "HEADER",
    "MALFORMED_KINDS",
    "TRAILER",
    "ExportSummary",
    "FileTruth",
    "TreasurySystem",
    "export",
    "format_amount",
]


def export(
    drop_dir: Path | str,
    count: int,
    *,
    rows_per_file: int = 200,
    bad_share: float = 0.0,
    malformed: int = 0,
    duplicates: int = 0,
    seed: int = 42,
    truth_path: Path | str | None = None,
) -> ExportSummary:
    """Drop `count` transactions (plus broken and duplicate files) into `drop_dir`."""
    return TreasurySystem(drop_dir, truth_path=truth_path).export(
        count,
        rows_per_file=rows_per_file,
        bad_share=bad_share,
        malformed=malformed,
        duplicates=duplicates,
        rng=random.Random(seed),
    )
