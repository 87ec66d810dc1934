"""Factories for canonical records: valid by default, broken on request."""

from __future__ import annotations

import itertools
import random
from typing import Any

from schemas.mst import mst_check_digit

_numbers = itertools.count(1)


def valid_mst(rng: random.Random) -> str:
    while True:
        first9 = "".join(str(rng.randint(0, 9)) for _ in range(9))
        check = mst_check_digit(first9)
        if check is not None and first9[0] != "0":
            return f"{first9}{check}"


def einvoice(rng: random.Random | None = None, **overrides: Any) -> dict[str, Any]:
    """A canonical `tax.einvoice` record that passes the whole contract."""
    rng = rng or random.Random()
    seller = valid_mst(rng)
    number = next(_numbers) + rng.randint(0, 9_000) * 10_000
    symbol = "C26TAA"
    before = rng.randint(1, 500) * 10_000
    vat = before // 10
    record: dict[str, Any] = {
        "invoice_id": f"{seller}-1-{symbol}-{number}",
        "form_no": 1,
        "symbol": symbol,
        "number": number,
        "issued_date": "2026-03-15",
        "seller_tax_code": seller,
        "buyer_tax_code": valid_mst(rng),
        "currency": "VND",
        "exchange_rate": None,
        "total_before_tax": str(before),
        "vat_amount": str(vat),
        "total_amount": str(before + vat),
        "vat_rate": "10",
        "tax_authority_code": "00A1B2C3D4E5F60718293A4B5C6D7E8F90",
        "status": "issued",
    }
    record.update(overrides)
    return record


def einvoices(count: int, *, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [einvoice(rng) for _ in range(count)]
