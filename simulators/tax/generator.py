"""Deterministic e-invoices in the tax system's native shape, with known defects on demand.

All randomness comes from the `random.Random` passed in, so a seed reproduces the same rows.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from simulators.tax.mst import random_mst

__all__ = [
    "BAD_KINDS",
    "POPULATION_SEED",
    "SELLERS",
    "STATUS_CODES",
    "Draft",
    "Seller",
    "Series",
    "apply_defect",
    "draft_invoice",
    "make_sellers",
    "render",
    "seller_msts",
]

# Defects a bad row can carry, exactly one per bad row.
BAD_KINDS: tuple[str, ...] = (
    "bad_mst_check",
    "bad_symbol",
    "totals_mismatch",
    "unknown_vat_rate",
    "missing_seller_mst",
    "negative_amount",
    "bad_date",
    "foreign_without_rate",
)

# Native status codes (column `tthai`) -> the hub's status names.
STATUS_CODES: dict[int, str] = {1: "issued", 3: "replaced", 4: "adjusted", 5: "cancelled"}

FIRST_DAY = date(2026, 1, 1)
DAYS = 181  # 1 Jan .. 30 Jun 2026, matching the year "26" in the symbols
VAT_RATES = ("10%", "8%", "5%", "0%", "KCT", "KKKNT")
VAT_WEIGHTS = (50, 20, 10, 8, 8, 4)
STATUS_WEIGHTS = {1: 90, 3: 4, 4: 4, 5: 2}
FX = {"USD": (24_800, 26_500), "EUR": (26_500, 29_500)}
TYPE_LETTERS = "TDLMNBGH"
SERIES_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXY"
BAD_DATES = ("31/02/2026", "30/02/2026", "n/a", "00/00/0000", "2026-13-45")
CENT = Decimal("0.01")
# The default seller population of `TaxSystem`: part of the simulated world, stable across runs.
SELLERS = 40
POPULATION_SEED = 2026


@dataclass(frozen=True, slots=True)
class Series:
    """An invoice series of one seller: form number + symbol."""

    form: int
    symbol: str


@dataclass(frozen=True, slots=True)
class Seller:
    mst: str
    series: tuple[Series, ...]
    retail: bool


@dataclass(frozen=True, slots=True)
class Draft:
    """An invoice before it gets its number and native rendering."""

    form: int
    symbol: str
    issued: str  # native text, normally dd/mm/yyyy
    seller: str | None
    buyer: str | None  # "" is the native "no buyer" of some retail tills, like None
    currency: str
    rate: Decimal | None
    before: Decimal
    vat: Decimal
    total: Decimal
    tsuat: str
    mccqt: str | None
    status: int
    amounts_as_text: bool


def make_sellers(rng: random.Random, count: int) -> list[Seller]:
    """A stable population of sellers, each with one to three invoice series."""
    sellers = []
    for _ in range(count):
        mst = random_mst(rng, branch_share=0.15)
        retail = rng.random() < 0.2
        series: list[Series] = []
        for _ in range(rng.randint(1, 3)):
            form = 1 if rng.random() < 0.8 else 2
            letter = "M" if retail else rng.choice("TTTTTDLNBGH")
            symbol = f"{rng.choice('CCCK')}26{letter}{_tail(rng)}"
            candidate = Series(form=form, symbol=symbol)
            if candidate not in series:
                series.append(candidate)
        sellers.append(Seller(mst=mst, series=tuple(series), retail=retail))
    return sellers


def seller_msts(count: int = SELLERS, seed: int = POPULATION_SEED) -> list[str]:
    """The tax codes of the seller population a `TaxSystem(sellers=count,
    population_seed=seed)` issues invoices for, in population order."""
    return [seller.mst for seller in make_sellers(random.Random(seed), count)]


def draft_invoice(rng: random.Random, sellers: list[Seller]) -> Draft:
    """A good invoice: valid codes, consistent totals, realistic mix."""
    seller = rng.choice(sellers)
    series = rng.choice(seller.series)
    day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
    if seller.retail:
        buyer: str | None = rng.choice((None, ""))
    elif rng.random() < 0.05:
        buyer = None
    else:
        buyer = random_mst(rng, branch_share=0.1)
    tsuat = "KCT" if series.form == 2 else rng.choices(VAT_RATES, VAT_WEIGHTS)[0]
    foreign = not seller.retail and rng.random() < 0.06
    draft = Draft(
        form=series.form,
        symbol=series.symbol,
        issued=day.strftime("%d/%m/%Y"),
        seller=seller.mst,
        buyer=buyer,
        currency="VND",
        rate=None,
        before=Decimal(0),
        vat=Decimal(0),
        total=Decimal(0),
        tsuat=tsuat,
        mccqt=_mccqt(rng) if series.symbol.startswith("C") else None,
        status=rng.choices(list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values()))[0],
        amounts_as_text=rng.random() < 0.2,
    )
    return _priced(draft, rng, currency=rng.choice(("USD", "USD", "EUR")) if foreign else "VND")


def apply_defect(draft: Draft, kind: str, rng: random.Random) -> Draft:
    """The same invoice with exactly one defect of `kind`."""
    if kind == "bad_mst_check":
        seller = draft.seller or ""
        wrong = (int(seller[9]) + rng.randint(1, 9)) % 10
        return replace(draft, seller=f"{seller[:9]}{wrong}{seller[10:]}")
    if kind == "bad_symbol":
        symbol = draft.symbol
        variants = (
            f"{symbol[:3]}{rng.choice('AEFIJ')}{symbol[4:]}",  # unknown type letter
            f"{symbol[:4]}{symbol[4:].lower()}",  # lower-case series
            f"{symbol}{rng.choice(SERIES_LETTERS)}",  # seven characters
        )
        return replace(draft, symbol=rng.choice(variants))
    if kind == "totals_mismatch":
        step = Decimal(1000) if draft.currency == "VND" else Decimal(1)
        delta = step * rng.randint(1, 50) * rng.choice((-1, 1))
        return replace(draft, total=draft.total + delta)
    if kind == "unknown_vat_rate":
        return _priced(replace(draft, tsuat=rng.choice(("7%", "12%", "15%"))), rng, draft.currency)
    if kind == "missing_seller_mst":
        return replace(draft, seller=None)
    if kind == "negative_amount":
        return replace(draft, before=-draft.before, vat=-draft.vat, total=-draft.total)
    if kind == "bad_date":
        return replace(draft, issued=rng.choice(BAD_DATES))
    if kind == "foreign_without_rate":
        priced = draft if draft.currency != "VND" else _priced(draft, rng, currency="USD")
        return replace(priced, rate=None)
    raise ValueError(f"unknown defect kind {kind!r}")


def render(draft: Draft, number: int, created: str) -> dict[str, Any]:
    """The native row (table `hoa_don`, without its id)."""
    amount: Callable[[Decimal], int | str]
    if draft.currency != "VND":
        amount = _text_2dp
    elif draft.amounts_as_text:
        amount = _text_int
    else:
        amount = int
    return {
        "khmshdon": draft.form,
        "khhdon": draft.symbol,
        "shdon": number,
        "nlap": draft.issued,
        "mst_nban": draft.seller,
        "mst_nmua": draft.buyer,
        "dvtte": draft.currency,
        "tgia": None if draft.rate is None else float(draft.rate),
        "tgtcthue": amount(draft.before),
        "tgtthue": amount(draft.vat),
        "tgttbso": amount(draft.total),
        "tsuat": draft.tsuat,
        "mccqt": draft.mccqt,
        "tthai": draft.status,
        "tao_luc": created,
    }


def rate_percent(tsuat: str) -> Decimal:
    """The VAT percentage of a native rate text; KCT/KKKNT carry no VAT."""
    return Decimal(tsuat.rstrip("%")) if tsuat.endswith("%") else Decimal(0)


def _priced(draft: Draft, rng: random.Random, currency: str) -> Draft:
    pct = rate_percent(draft.tsuat)
    if currency == "VND":
        before = Decimal(rng.randint(10, 500_000) * 100)
        if rng.random() < 0.05:
            before *= 1000  # the occasional large contract
        vat = (before * pct / 100).quantize(Decimal(1), ROUND_HALF_UP)
        rate = None
    else:
        before = Decimal(rng.randint(1_000, 5_000_000)) / 100
        vat = (before * pct / 100).quantize(CENT, ROUND_HALF_UP)
        low, high = FX[currency]
        rate = Decimal(rng.randint(low * 10, high * 10)) / 10
    return replace(draft, currency=currency, rate=rate, before=before, vat=vat, total=before + vat)


def _tail(rng: random.Random) -> str:
    return rng.choice(SERIES_LETTERS) + rng.choice(SERIES_LETTERS)


def _mccqt(rng: random.Random) -> str:
    return f"00{rng.getrandbits(128):032X}"


def _text_int(value: Decimal) -> str:
    return str(int(value))


def _text_2dp(value: Decimal) -> str:
    return str(value.quantize(CENT))
