"""The simulated tax system (TCT e-invoices): the outside world, importing nothing of the hub."""

from __future__ import annotations

import random
from pathlib import Path

from simulators.tax.generator import BAD_KINDS, STATUS_CODES, seller_msts
from simulators.tax.mst import is_valid_mst, mst_check_digit, random_mst
from simulators.tax.system import GenerateSummary, TaxSystem

__all__ = [
    "BAD_KINDS",
    "STATUS_CODES",
    "GenerateSummary",
    "TaxSystem",
    "generate",
    "is_valid_mst",
    "mst_check_digit",
    "random_mst",
    "seller_msts",
]


def generate(
    db_path: Path | str, count: int, bad_share: float = 0.0, seed: int = 42
) -> GenerateSummary:
    """Append `count` invoices to the tax system at `db_path` (created if missing)."""
    return TaxSystem(db_path).issue(count, bad_share=bad_share, rng=random.Random(seed))
