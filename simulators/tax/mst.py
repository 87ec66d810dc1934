"""Vietnamese tax codes (MST): 10 digits with a check digit, or 13 written `0314409058-002`."""

from __future__ import annotations

import random
import re

__all__ = ["is_valid_mst", "mst_check_digit", "random_mst"]

WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)
MST_RE = re.compile(r"^(\d{10})(?:-(\d{3}))?$")


def mst_check_digit(first9: str) -> int | None:
    """The 10th digit for these 9, or None when the prefix has no valid check digit."""
    if len(first9) != 9 or not first9.isdigit():
        raise ValueError(f"need 9 digits, got {first9!r}")
    check = 10 - sum(w * int(d) for w, d in zip(WEIGHTS, first9, strict=True)) % 11
    return None if check == 10 else check


def is_valid_mst(value: str | None) -> bool:
    if value is None:
        return False
    match = MST_RE.match(value)
    if not match:
        return False
    digits = match.group(1)
    return mst_check_digit(digits[:9]) == int(digits[9]) and match.group(2) != "000"


def random_mst(rng: random.Random, *, branch_share: float = 0.0) -> str:
    """A valid MST; a branch (13-digit form) with probability `branch_share`."""
    while True:
        # Province codes 01..96 lead real MSTs; leading digits "0x" are the common shape.
        first9 = f"{rng.randint(1, 96):02d}{rng.randint(0, 9_999_999):07d}"
        check = mst_check_digit(first9)
        if check is not None:
            break
    mst = f"{first9}{check}"
    if rng.random() < branch_share:
        mst += f"-{rng.randint(1, 30):03d}"
    return mst
