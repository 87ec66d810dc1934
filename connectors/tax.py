"""The tax connector: the TCT e-invoice system's SQLite table `hoa_don` -> `tax.einvoice`.

It maps shapes only. Business rules (MST check digits, symbol pattern, totals, rates) are the
hub's job: an odd value is passed on as it is, so the hub quarantines the row with a located
reason instead of the row vanishing here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from connectors.base import Row, Stream
from connectors.errors import FatalError
from connectors.state import CursorState

__all__ = ["TaxEinvoiceStream", "map_einvoice"]

# The tax system's status codes (column `tthai`).
STATUS_NAMES = {1: "issued", 3: "replaced", 4: "adjusted", 5: "cancelled"}
COLUMNS = (
    "id", "khmshdon", "khhdon", "shdon", "nlap", "mst_nban", "mst_nmua", "dvtte", "tgia",
    "tgtcthue", "tgtthue", "tgttbso", "tsuat", "mccqt", "tthai",
)  # fmt: skip
QUERY = f"SELECT {', '.join(COLUMNS)} FROM hoa_don WHERE id > ? ORDER BY id LIMIT ?"


class TaxEinvoiceStream(Stream):
    """Reads `hoa_don` by its autoincrement id (SQLite has one writer at a time, so ids become
    visible in increasing order and `id > cursor` misses nothing)."""

    name = "tax"
    dataset_id = "tax.einvoice"
    primary_key = "invoice_id"
    replication_key = "id"

    def __init__(self, source_db: Path | str) -> None:
        self.source_db = Path(source_db)

    def get_records(self, state: CursorState, *, limit: int) -> Iterator[Row]:
        after = state.cursor if state.cursor is not None else 0
        if not isinstance(after, int):
            raise FatalError(f"the tax stream's cursor is an integer id, not {after!r}")
        for row in self._fetch(after, limit):
            yield row["id"], map_einvoice(row)

    def _fetch(self, after: int, limit: int) -> list[dict[str, Any]]:
        if not self.source_db.exists():
            raise FatalError(f"tax system database not found: {self.source_db}")
        uri = f"{self.source_db.resolve().as_uri()}?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=30.0)
        except sqlite3.Error as exc:
            raise FatalError(f"cannot open tax system database {self.source_db}: {exc}") from exc
        try:
            # fetchall ends the read transaction at once, so the writer's WAL can checkpoint.
            rows = conn.execute(QUERY, (after, limit)).fetchall()
        except sqlite3.OperationalError as exc:
            raise FatalError(f"cannot read hoa_don from {self.source_db}: {exc}") from exc
        finally:
            conn.close()
        return [dict(zip(COLUMNS, row, strict=True)) for row in rows]


def map_einvoice(row: dict[str, Any]) -> dict[str, Any]:
    """One native `hoa_don` row -> one canonical `tax.einvoice` record (JSON-ready)."""
    seller = _text(row["mst_nban"])
    form, symbol, number = row["khmshdon"], _text(row["khhdon"]), row["shdon"]
    return {
        "invoice_id": f"{seller or ''}-{form}-{symbol}-{number}",
        "form_no": form,
        "symbol": symbol,
        "number": number,
        "issued_date": _date(row["nlap"]),
        "seller_tax_code": seller,
        "buyer_tax_code": _text(row["mst_nmua"]) or None,
        "currency": _text(row["dvtte"]) or "VND",
        "exchange_rate": _decimal(row["tgia"]),
        "total_before_tax": _decimal(row["tgtcthue"]),
        "vat_amount": _decimal(row["tgtthue"]),
        "total_amount": _decimal(row["tgttbso"]),
        "vat_rate": _rate(row["tsuat"]),
        "tax_authority_code": _text(row["mccqt"]) or None,
        "status": _status(row["tthai"]),
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value).strip()


def _date(value: Any) -> str | None:
    """'dd/mm/yyyy' -> 'YYYY-MM-DD'; anything else goes through raw for the hub to reject."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        return datetime.strptime(text, "%d/%m/%Y").date().isoformat()
    except ValueError:
        return text


def _decimal(value: Any) -> str | None:
    """INTEGER, REAL or TEXT amounts -> a decimal string; unparseable text goes through raw."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(Decimal(repr(value)))  # repr is the shortest exact text: 25400.5, not 25400.500…
    text = str(value).strip()
    try:
        parsed = Decimal(text)
    except InvalidOperation:
        return text
    return str(parsed) if parsed.is_finite() else text


def _rate(value: Any) -> str | None:
    """'10%' -> '10'; 'KCT' and 'KKKNT' unchanged."""
    if value is None:
        return None
    text = str(value).strip()
    return text[:-1].strip() if text.endswith("%") else text


def _status(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and value in STATUS_NAMES:
        return STATUS_NAMES[value]
    return str(value)  # an unknown code goes through for the hub's enum check to reject
