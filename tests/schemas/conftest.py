"""Shared factories for the schemas tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

SELLER = "0100109106"  # Viettel: a real, valid MST
BUYER_BRANCH = "0314409058-002"

InvoiceFactory = Callable[..., dict[str, Any]]


@pytest.fixture
def make_invoice() -> InvoiceFactory:
    """A valid JSON-shaped e-invoice (as a REST body carries it); keyword overrides win."""

    def make(number: int = 1, **overrides: Any) -> dict[str, Any]:
        symbol = overrides.get("symbol", "C26TAA")
        record: dict[str, Any] = {
            "invoice_id": f"{SELLER}-1-{symbol}-{number}",
            "form_no": 1,
            "symbol": symbol,
            "number": number,
            "issued_date": "2026-01-15",
            "seller_tax_code": SELLER,
            "buyer_tax_code": BUYER_BRANCH,
            "currency": "VND",
            "total_before_tax": "1000000",
            "vat_amount": "100000",
            "total_amount": "1100000",
            "vat_rate": "10",
            "tax_authority_code": "00A1B2C3D4E5F60718293A4B5C6D7E8F9A",
            "status": "issued",
        }
        record.update(overrides)
        return record

    return make


@pytest.fixture(scope="session")
def engine() -> Any:
    """One QualityEngine (one GX context) for the whole session, as one per process in prod."""
    from schemas.quality import QualityEngine

    return QualityEngine()
