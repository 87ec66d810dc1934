from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from schemas.codec import AvroCodec, codec_for, frame, unframe
from schemas.results import RowError

SEED = Path(__file__).resolve().parents[2] / "schemas" / "seed" / "tax.einvoice.avsc"
EINVOICE = json.loads(SEED.read_text())


@pytest.fixture(scope="module")
def codec() -> AvroCodec:
    return AvroCodec(EINVOICE)


def only_error(errors: list[RowError]) -> RowError:
    assert len(errors) == 1, errors
    return errors[0]


# --- conform: the good path -------------------------------------------------------------------


def test_conform_converts_json_to_avro_native_values(codec, make_invoice):
    valid, errors = codec.conform(
        [make_invoice(total_before_tax=1000000.5, vat_amount=100000, total_amount="1100000.50")],
        "invoice_id",
    )
    assert errors == []
    [(index, datum)] = valid
    assert index == 0
    assert datum["issued_date"] == date(2026, 1, 15)
    assert datum["total_before_tax"] == Decimal("1000000.50")
    assert datum["vat_amount"].as_tuple().exponent == -2  # quantized to the field's scale
    assert datum["total_amount"] == Decimal("1100000.50")
    assert datum["status"] == "issued"


def test_conform_applies_defaults_and_nulls_for_absent_fields(codec, make_invoice):
    record = make_invoice()
    for name in ("currency", "buyer_tax_code", "exchange_rate", "tax_authority_code"):
        record.pop(name, None)
    [(_, datum)], errors = codec.conform([record], "invoice_id")
    assert errors == []
    assert datum["currency"] == "VND"
    assert datum["buyer_tax_code"] is None
    assert datum["exchange_rate"] is None
    assert datum["tax_authority_code"] is None


def test_conform_accepts_trailing_zeros_within_scale(codec, make_invoice):
    [(_, datum)], errors = codec.conform([make_invoice(vat_amount="100000.000")], "invoice_id")
    assert errors == []
    assert datum["vat_amount"] == Decimal("100000.00")


def test_float_decimals_keep_their_shortest_meaning(codec, make_invoice):
    [(_, datum)], errors = codec.conform(
        [make_invoice(currency="USD", exchange_rate=25432.1)], "invoice_id"
    )
    assert errors == []
    assert datum["exchange_rate"] == Decimal("25432.100000")


# --- conform: every rule, located ---------------------------------------------------------------


def test_record_rule_for_non_objects(codec, make_invoice):
    valid, errors = codec.conform([make_invoice(), ["not", "an", "object"]], "invoice_id")
    assert [i for i, _ in valid] == [0]
    error = only_error(errors)
    assert (error.index, error.key, error.field, error.rule) == (1, None, None, "record")
    assert "array" in error.message


def test_unknown_field(codec, make_invoice):
    _, errors = codec.conform([make_invoice(), make_invoice(2, colour="red")], "invoice_id")
    error = only_error(errors)
    assert (error.index, error.key, error.field, error.rule) == (
        1,
        "0100109106-1-C26TAA-2",
        "colour",
        "unknown_field",
    )


@pytest.mark.parametrize("value", ["missing", None])
def test_required_field_missing_or_null(codec, make_invoice, value):
    record = make_invoice()
    if value == "missing":
        del record["seller_tax_code"]
    else:
        record["seller_tax_code"] = None
    _, errors = codec.conform([record], "invoice_id")
    error = only_error(errors)
    assert (error.field, error.rule) == ("seller_tax_code", "required")
    assert ("missing" if value == "missing" else "null") in error.message


@pytest.mark.parametrize(
    ("field", "value", "rule", "text"),
    [
        ("form_no", "1", "type", "expected an integer"),
        ("form_no", True, "type", "expected an integer"),
        ("form_no", 2**31, "range", "between"),
        ("symbol", 26, "type", "expected a string"),
        ("status", "lost", "enum", "expected one of issued, replaced, adjusted, cancelled"),
        (
            "total_amount",
            "12.345",
            "decimal",
            "expected a decimal with at most 2 fractional digits, got '12.345'",
        ),
        ("total_amount", "abc", "decimal", "expected a decimal number"),
        ("total_amount", "NaN", "decimal", "finite"),
        ("total_amount", "1" * 19, "decimal", "at most 18 integer digits"),
        ("total_amount", [1], "type", "expected a decimal number"),
        ("issued_date", "2026-02-30", "date", "YYYY-MM-DD"),
        ("issued_date", "15/01/2026", "date", "YYYY-MM-DD"),
        ("issued_date", 20260115, "date", "YYYY-MM-DD"),
    ],
)
def test_field_rules(codec, make_invoice, field, value, rule, text):
    bad = make_invoice(7, **{field: value})
    valid, errors = codec.conform([make_invoice(), bad], "invoice_id")
    assert [i for i, _ in valid] == [0]
    error = only_error(errors)
    assert (error.index, error.key, error.field, error.rule) == (1, bad["invoice_id"], field, rule)
    assert text in error.message


def test_all_errors_of_a_record_are_reported(codec, make_invoice):
    record = make_invoice(invoice_id=42, status="x", total_amount="1.001", extra=1)
    del record["issued_date"]
    _, errors = codec.conform([record], "invoice_id")
    assert {(e.field, e.rule) for e in errors} == {
        ("invoice_id", "type"),
        ("status", "enum"),
        ("total_amount", "decimal"),
        ("extra", "unknown_field"),
        ("issued_date", "required"),
    }
    assert all(e.index == 0 and e.key is None for e in errors)  # a non-string key is no key


# --- other types ---------------------------------------------------------------------------------

RICH: dict[str, Any] = {
    "type": "record",
    "name": "Rich",
    "namespace": "t",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {
            "name": "at_us",
            "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}],
            "default": None,
        },
        {"name": "ok", "type": "boolean", "default": True},
        {"name": "ratio", "type": "double"},
        {
            "name": "address",
            "type": {
                "type": "record",
                "name": "Address",
                "fields": [
                    {"name": "city", "type": "string"},
                    {"name": "zip", "type": ["null", "int"], "default": None},
                ],
            },
        },
        {"name": "previous", "type": ["null", "Address"], "default": None},
        {
            "name": "lines",
            "type": {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": "Line",
                    "fields": [
                        {"name": "qty", "type": "int"},
                        {
                            "name": "price",
                            "type": {
                                "type": "bytes",
                                "logicalType": "decimal",
                                "precision": 9,
                                "scale": 0,
                            },
                        },
                    ],
                },
            },
            "default": [],
        },
        {"name": "attrs", "type": {"type": "map", "values": "long"}, "default": {}},
        {"name": "either", "type": ["null", "long", "string"], "default": None},
    ],
}


def rich(**overrides: Any) -> dict[str, Any]:
    record = {
        "id": "r1",
        "at": "2026-01-15T08:30:00.123456+07:00",
        "ratio": 1,
        "address": {"city": "Hà Nội"},
        "lines": [{"qty": 2, "price": "15000"}],
        "attrs": {"a": 1},
        "either": "x",
    }
    record.update(overrides)
    return record


def test_rich_types_round_trip():
    codec = AvroCodec(RICH)
    [(_, datum)], errors = codec.conform([rich()], "id")
    assert errors == []
    assert datum["at"] == datetime(2026, 1, 15, 1, 30, 0, 123000, tzinfo=UTC)  # UTC, millis
    assert datum["ok"] is True and datum["ratio"] == 1.0
    assert datum["address"] == {"city": "Hà Nội", "zip": None}
    assert datum["lines"] == [{"qty": 2, "price": Decimal("15000")}]
    assert codec.decode(codec.encode(datum)) == datum


@pytest.mark.parametrize(
    ("overrides", "field", "rule"),
    [
        ({"at": "2026-01-15T08:30:00"}, "at", "timestamp"),  # no UTC offset
        ({"at": "yesterday"}, "at", "timestamp"),
        ({"address": {"city": 1}}, "address.city", "type"),
        ({"address": {"city": "x", "street": "y"}}, "address.street", "unknown_field"),
        ({"previous": {"zip": 1}}, "previous.city", "required"),
        (
            {"lines": [{"qty": 1, "price": "1"}, {"qty": "2", "price": "1.5"}]},
            "lines[1].qty",
            "type",
        ),
        ({"attrs": {"a": "1"}}, "attrs['a']", "type"),
        ({"either": 1.5}, "either", "union"),
        ({"ok": "yes"}, "ok", "type"),
    ],
)
def test_rich_types_errors_name_the_nested_path(overrides, field, rule):
    _, errors = AvroCodec(RICH).conform([rich(**overrides)], "id")
    assert (field, rule) in {(e.field, e.rule) for e in errors}, errors


def test_timestamp_converts_offsets_to_utc():
    codec = AvroCodec(RICH)
    moment = datetime(2026, 1, 1, 7, 0, tzinfo=timezone(timedelta(hours=7)))
    [(_, datum)], _ = codec.conform([rich(at=moment, at_us="2026-01-01T00:00:00.000001Z")], "id")
    assert datum["at"] == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    assert datum["at_us"].microsecond == 1


def test_bytes_fields_are_refused():
    schema = {"type": "record", "name": "B", "fields": [{"name": "blob", "type": "bytes"}]}
    _, errors = AvroCodec(schema).conform([{"blob": "AAEC"}], "blob")
    assert only_error(errors).rule == "type"


def test_codec_needs_a_record_schema():
    with pytest.raises(ValueError, match="record"):
        AvroCodec({"type": "string"})  # type: ignore[arg-type]


# --- binary and JSON out -----------------------------------------------------------------


def test_encode_decode_round_trip(codec, make_invoice):
    valid, _ = codec.conform([make_invoice(n) for n in range(1, 6)], "invoice_id")
    data = [d for _, d in valid]
    payloads = codec.encode_many(data)
    assert payloads[2] == codec.encode(data[2])
    assert [codec.decode(p) for p in payloads] == data


def test_to_json_gives_rest_shapes(codec, make_invoice):
    [(_, datum)], _ = codec.conform([make_invoice(vat_amount=5)], "invoice_id")
    out = codec.to_json(codec.decode(codec.encode(datum)))
    assert out["vat_amount"] == "5.00"
    assert out["issued_date"] == "2026-01-15"
    assert out["status"] == "issued"
    json.dumps(out)  # serialisable as is
    assert AvroCodec.to_json({"at": datetime(2026, 1, 1, tzinfo=UTC)}) == {
        "at": "2026-01-01T00:00:00+00:00"
    }


def test_codec_for_caches_per_schema_text():
    text = json.dumps(EINVOICE)
    assert codec_for(text) is codec_for(text)
    assert codec_for(text).field_names[0] == "invoice_id"


# --- Confluent framing ---------------------------------------------------------------------


def test_frame_and_unframe():
    message = frame(258, b"\x02ab")
    assert message == b"\x00\x00\x00\x01\x02\x02ab"
    assert unframe(message) == (258, b"\x02ab")


@pytest.mark.parametrize("message", [b"", b"\x00\x00\x01", b"\x01\x00\x00\x00\x01payload"])
def test_unframe_refuses_bad_input(message):
    with pytest.raises(ValueError):
        unframe(message)


def test_frame_refuses_ids_beyond_four_bytes():
    with pytest.raises(ValueError):
        frame(2**32, b"")
