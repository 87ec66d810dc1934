"""The Vietnamese tax code (mã số thuế, MST) check digit, as a pure function."""

from __future__ import annotations

import re

_MST_RE = re.compile(r"\d{10}(?:-\d{3})?")
_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)


def mst_check_digit(first9: str) -> int | None:
    """The check digit for nine leading digits, or None when no digit can make them valid."""
    check = 10 - sum(w * int(d) for w, d in zip(_WEIGHTS, first9, strict=True)) % 11
    return None if check == 10 else check


def mst_is_valid(code: str) -> bool:
    """True for ``dddddddddd`` or ``dddddddddd-ddd`` whose tenth digit is the right check digit."""
    if not isinstance(code, str) or _MST_RE.fullmatch(code) is None:
        return False
    return mst_check_digit(code[:9]) == int(code[9])
