"""Deterministic TABMIS budget transactions in the treasury's native CSV shape, with known
defects on demand. All randomness comes from the `random.Random` passed in."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from simulators.tax.mst import random_mst

__all__ = [
    "BAD_KINDS",
    "HEADER",
    "Txn",
    "apply_defect",
    "draft_txn",
    "format_amount",
    "render_row",
]

# The export's columns, as TABMIS writes them (Vietnamese headers, in this order).
HEADER: tuple[str, ...] = (
    "Số giao dịch",
    "Mã KBNN",
    "Ngày hạch toán",
    "Ngày hiệu lực",
    "Cấp ngân sách",
    "Mã chương",
    "Mã NDKT",
    "Mã ĐVQHNS",
    "Mã địa bàn",
    "Thu/Chi",
    "Số tiền",
    "MST người nộp",
    "Số tham chiếu",
)

# Defects a bad row can carry, exactly one per bad row; each is one the hub's contract refuses.
BAD_KINDS: tuple[str, ...] = (
    "bad_treasury_code",
    "zero_amount",
    "negative_amount",
    "value_before_posting",
    "bad_chapter",
    "bad_budget_level",
    "bad_payer_mst",
    "bad_date",
    "unknown_direction",
)

TREASURIES = ("0011", "0012", "0111", "0711", "1711", "2711")
AREAS = ("01", "001", "079", "00004", "26734", "760")
CHAPTERS = ("757", "754", "755", "556", "018", "160")
REVENUE_ITEMS = ("1701", "1702", "1901", "1052", "1003")
SPENDING_ITEMS = ("6001", "6051", "6501", "6701", "7001", "9062")
FIRST_DAY = date(2026, 1, 2)
DAYS = 170


@dataclass(frozen=True, slots=True)
class Txn:
    """One transaction as the export writes it (native texts)."""

    txn_id: str
    treasury: str
    posting: str  # dd/mm/yyyy
    value: str
    level: str
    chapter: str
    item: str
    unit: str
    area: str
    direction: str  # "Thu" (revenue) or "Chi" (expenditure)
    amount: str  # 1.250.000,00
    payer: str
    ref: str


def format_amount(value: Decimal) -> str:
    """Vietnamese number format: '.' groups thousands, ',' before the two decimals."""
    text = f"{value:,.2f}"  # 1,250,000.00
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def draft_txn(rng: random.Random, seq: int) -> Txn:
    """A good transaction; `seq` makes its number unique in the treasury."""
    posting = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
    value = posting + timedelta(days=rng.choice((0, 0, 0, 1, 2)))
    treasury = rng.choice(TREASURIES)
    revenue = rng.random() < 0.7
    item = rng.choice(REVENUE_ITEMS if revenue else SPENDING_ITEMS)
    amount = Decimal(rng.randint(1, 50_000_000) * 1000) / (100 if rng.random() < 0.1 else 1)
    if item in ("1702", "1901"):
        ref = f"{rng.randint(10**11, 10**12 - 1)}"  # the customs declaration it settles
    elif item == "1701" and rng.random() < 0.5:
        ref = f"HD-{rng.randint(1, 99_999_999):08d}"
    else:
        ref = ""
    return Txn(
        txn_id=f"TB{posting:%y%m%d}{treasury}{seq:08d}",
        treasury=treasury,
        posting=posting.strftime("%d/%m/%Y"),
        value=value.strftime("%d/%m/%Y"),
        level=str(rng.choice((1, 1, 2, 2, 3, 4))),
        chapter=rng.choice(CHAPTERS),
        item=item,
        unit=f"{rng.randint(1_000_000, 9_999_999)}",
        area=rng.choice(AREAS),
        direction="Thu" if revenue else "Chi",
        amount=format_amount(amount),
        payer=random_mst(rng, branch_share=0.1) if revenue else "",
        ref=ref,
    )


def apply_defect(txn: Txn, kind: str, rng: random.Random) -> Txn:
    """The same transaction with exactly one defect of `kind`."""
    if kind == "bad_treasury_code":
        return replace(txn, treasury=txn.treasury[1:])
    if kind == "zero_amount":
        return replace(txn, amount="0,00")
    if kind == "negative_amount":
        return replace(txn, amount=f"-{txn.amount}")
    if kind == "value_before_posting":
        day, month, year = (int(p) for p in txn.posting.split("/"))
        earlier = date(year, month, day) - timedelta(days=rng.randint(1, 9))
        return replace(txn, value=earlier.strftime("%d/%m/%Y"))
    if kind == "bad_chapter":
        return replace(txn, chapter=txn.chapter[:2])
    if kind == "bad_budget_level":
        return replace(txn, level=rng.choice(("0", "5", "9")))
    if kind == "bad_payer_mst":
        payer = txn.payer or random_mst(rng)
        wrong = (int(payer[9]) + rng.randint(1, 9)) % 10
        return replace(txn, payer=f"{payer[:9]}{wrong}{payer[10:]}")
    if kind == "bad_date":
        return replace(txn, posting=rng.choice(("31/02/2026", "30/02/2026", "00/01/2026")))
    if kind == "unknown_direction":
        return replace(txn, direction=rng.choice(("Chuyển", "T", "?")))
    raise ValueError(f"unknown defect kind {kind!r}")


def render_row(txn: Txn) -> str:
    return ";".join(
        (
            txn.txn_id, txn.treasury, txn.posting, txn.value, txn.level, txn.chapter, txn.item,
            txn.unit, txn.area, txn.direction, txn.amount, txn.payer, txn.ref,
        )
    )  # fmt: skip
