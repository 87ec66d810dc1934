"""Realistic, valid `tax.einvoice` records, made deterministically from a seed.

Every record passes the dataset's whole contract: MST check digits (10 digits, or 10-3 for a
branch), symbols of the right shape, a tax-authority code iff the symbol starts with C, totals
that add up at the VAT rate, an exchange rate iff the currency is not VND, unique invoice ids.
The baseline producer needs the same rows as Avro-native values; `to_avro_native` converts.
"""

from __future__ import annotations

import io
import json
import random
import struct
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro

from schemas.mst import mst_check_digit

DATASET = "tax.einvoice"
KEY_FIELD = "invoice_id"

_SYMBOLS_C = ("C26TAA", "C26TBB", "C26TKT", "C26MHN", "C26DAB", "C26TYY")
_SYMBOLS_K = ("K26TAA", "K26TLC", "K26NAB")
_STATUSES = ("issued",) * 94 + ("replaced",) * 3 + ("adjusted",) * 2 + ("cancelled",)
_VAT_RATES = ("10",) * 6 + ("8",) * 2 + ("5", "0", "KCT", "KKKNT")
_RATE_OF = {"10": 10, "8": 8, "5": 5, "0": 0, "KCT": 0, "KKKNT": 0}
_FOREIGN = (("USD", "25430.000000"), ("EUR", "27615.500000"), ("JPY", "168.250000"))
_FIRST_DAY = date(2026, 1, 1)
_CONFLUENT = struct.Struct(">bI")


def _mst(rng: random.Random) -> str:
    while True:
        first9 = str(rng.randint(100_000_000, 999_999_999))
        check = mst_check_digit(first9)
        if check is not None:
            return f"{first9}{check}"


class EinvoiceGenerator:
    """Makes records `start+1 .. start+count` of one deterministic stream (seeded)."""

    def __init__(self, seed: int = 2026, *, sellers: int = 400, buyers: int = 3000) -> None:
        rng = random.Random(seed)
        self.seed = seed
        self.sellers = [
            _mst(rng) + (f"-{rng.randint(1, 999):03d}" if rng.random() < 0.06 else "")
            for _ in range(sellers)
        ]
        self.buyers = [_mst(rng) for _ in range(buyers)]

    def record(self, n: int) -> dict[str, Any]:
        """Record number `n` (>= 1) of the stream: the same n always gives the same record."""
        rng = random.Random(self.seed * 1_000_003 + n)
        seller = self.sellers[rng.randrange(len(self.sellers))]
        if rng.random() < 0.85:
            form_no, symbol = 1, rng.choice(_SYMBOLS_C)
        else:
            form_no, symbol = rng.choice((1, 2)), rng.choice(_SYMBOLS_K)
        vat_rate = rng.choice(_VAT_RATES) if form_no == 1 else rng.choice(("KCT", "0"))
        rate = _RATE_OF[vat_rate]
        currency, exchange_rate = "VND", None
        if rng.random() < 0.04:
            currency, exchange_rate = rng.choice(_FOREIGN)
            before_cents = rng.randint(1_000, 5_000_000)  # 10.00 .. 50,000.00
        else:
            before_cents = rng.randint(10, 250_000) * 1_000_00  # 1,000 .. 250,000,000 VND
        vat_cents = before_cents * rate // 100
        issued = _FIRST_DAY + timedelta(days=rng.randrange(90))
        return {
            "invoice_id": f"{seller}-{form_no}-{symbol}-{n}",
            "form_no": form_no,
            "symbol": symbol,
            "number": n,
            "issued_date": issued.isoformat(),
            "seller_tax_code": seller,
            "buyer_tax_code": None if rng.random() < 0.12 else rng.choice(self.buyers),
            "currency": currency,
            "exchange_rate": exchange_rate,
            "total_before_tax": _money(before_cents),
            "vat_amount": _money(vat_cents),
            "total_amount": _money(before_cents + vat_cents),
            "vat_rate": vat_rate,
            "tax_authority_code": (
                f"00{rng.getrandbits(128):032X}" if symbol.startswith("C") else None
            ),
            "status": rng.choice(_STATUSES),
        }

    def records(self, count: int, *, start: int = 0) -> list[dict[str, Any]]:
        if start + count > 99_999_999:
            raise ValueError("invoice numbers go up to 99,999,999")
        return [self.record(start + i + 1) for i in range(count)]


def _money(cents: int) -> str:
    whole, frac = divmod(cents, 100)
    return f"{whole}.{frac:02d}" if frac else str(whole)


# --- the baseline's encoding: Avro binary in the Confluent wire format, like the hub's ---------
def einvoice_schema() -> dict[str, Any]:
    """The seed schema of `tax.einvoice` (the same .avsc the hub registers)."""
    import schemas

    path = Path(schemas.__file__).parent / "seed" / "tax.einvoice.avsc"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


_CENT = Decimal("0.01")
_MICRO = Decimal("0.000001")


def to_avro_native(record: dict[str, Any]) -> dict[str, Any]:
    """The JSON-shaped record as the Avro-native values fastavro writes."""
    out = dict(record)
    out["issued_date"] = date.fromisoformat(record["issued_date"])
    for name in ("total_before_tax", "vat_amount", "total_amount"):
        out[name] = Decimal(record[name]).quantize(_CENT)
    if record["exchange_rate"] is not None:
        out["exchange_rate"] = Decimal(record["exchange_rate"]).quantize(_MICRO)
    return out


class FramedEncoder:
    """Avro binary (fastavro schemaless_writer) framed as Confluent: 0x00, schema id, datum."""

    def __init__(self, schema: dict[str, Any], schema_id: int = 1) -> None:
        self.parsed = fastavro.parse_schema(schema)
        self.prefix = _CONFLUENT.pack(0, schema_id)

    def encode(self, record: dict[str, Any]) -> bytes:
        buffer = io.BytesIO()
        buffer.write(self.prefix)
        fastavro.schemaless_writer(buffer, self.parsed, to_avro_native(record))
        return buffer.getvalue()
