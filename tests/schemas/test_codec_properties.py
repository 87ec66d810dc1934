"""Property: any valid `tax.einvoice` record survives conform -> encode -> decode -> to_json."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import AvroCodec

SEED = Path(__file__).resolve().parents[2] / "schemas" / "seed" / "tax.einvoice.avsc"
CODEC = AvroCodec(json.loads(SEED.read_text()))
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


def decimal_text(precision: int, scale: int) -> st.SearchStrategy[str]:
    """A decimal that fits (precision, scale), written with exactly `scale` places."""
    limit = 10 ** (precision - scale) - 1
    return st.decimals(
        min_value=-limit, max_value=limit, places=scale, allow_nan=False, allow_infinity=False
    ).map(lambda d: f"{d:.{scale}f}")


@st.composite
def einvoices(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "invoice_id": draw(TEXT),
        "form_no": draw(st.integers(-(2**31), 2**31 - 1)),
        "symbol": draw(TEXT),
        "number": draw(st.integers(-(2**63), 2**63 - 1)),
        "issued_date": draw(st.dates(date(1970, 1, 1), date(9999, 12, 31))).isoformat(),
        "seller_tax_code": draw(TEXT),
        "buyer_tax_code": draw(st.none() | TEXT),
        "currency": draw(TEXT),
        "exchange_rate": draw(st.none() | decimal_text(18, 6)),
        "total_before_tax": draw(decimal_text(20, 2)),
        "vat_amount": draw(decimal_text(20, 2)),
        "total_amount": draw(decimal_text(20, 2)),
        "vat_rate": draw(TEXT),
        "tax_authority_code": draw(st.none() | TEXT),
        "status": draw(st.sampled_from(["issued", "replaced", "adjusted", "cancelled"])),
    }


@settings(max_examples=200, deadline=None)
@given(record=einvoices())
def test_round_trip_gives_back_the_record(record: dict[str, Any]) -> None:
    valid, errors = CODEC.conform([record], "invoice_id")
    assert errors == []
    [(_, datum)] = valid
    payload = CODEC.encode(datum)
    assert CODEC.decode(payload) == datum
    assert CODEC.to_json(CODEC.decode(payload)) == record


@settings(max_examples=50, deadline=None)
@given(records=st.lists(einvoices(), min_size=1, max_size=20))
def test_batch_encoding_matches_one_by_one(records: list[dict[str, Any]]) -> None:
    valid, errors = CODEC.conform(records, "invoice_id")
    assert errors == [] and len(valid) == len(records)
    data = [datum for _, datum in valid]
    assert CODEC.encode_many(data) == [CODEC.encode(d) for d in data]
    assert Decimal(CODEC.to_json(CODEC.decode(CODEC.encode(data[0])))["vat_amount"]) == Decimal(
        records[0]["vat_amount"]
    )
