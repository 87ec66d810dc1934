"""The treasury and customs seed contracts: good records pass the codec and the whole suite,
and each quality rule catches the one bad row it is there for."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from schemas.codec import AvroCodec
from schemas.descriptor import DatasetDescriptor, seed_descriptors


def descriptor(dataset_id: str) -> DatasetDescriptor:
    [found] = [d for d in seed_descriptors() if d.id == dataset_id]
    return found


def txn(n: int = 1, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "txn_id": f"TB2026{n:010d}",
        "treasury_code": "0011",
        "posting_date": "2026-03-02",
        "value_date": "2026-03-03",
        "budget_level": 1,
        "chapter": "757",
        "economic_item": "1701",
        "budget_unit": "1012345",
        "area": "001",
        "direction": "revenue",
        "amount": "1250000.00",
        "payer_tax_code": "0100109106",
        "source_ref": None,
    }
    record.update(overrides)
    return record


def declaration(n: int = 1, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "declaration_no": f"{100000000000 + n}",
        "type_code": "A11",
        "customs_office": "01B1",
        "declared_at": "2026-03-02T09:30:00+07:00",
        "trader_tax_code": "0314409058-002",
        "hs_code": "85171300",
        "origin_country": "CN",
        "customs_value_vnd": "250000000",
        "import_duty": "0",
        "import_vat": "25000000",
        "channel": "green",
        "status": "registered",
        "updated_at": "2026-03-02T09:30:01.250000+07:00",
    }
    record.update(overrides)
    return record


FACTORIES = {"treasury.budget_txn": txn, "customs.declaration": declaration}


def check(engine: Any, dataset_id: str, records: list[dict[str, Any]]):
    d = descriptor(dataset_id)
    rows, conform_errors = AvroCodec(d.avro_schema).conform(records, d.key)
    errors, rules = engine.check(d.id, d.quality_configs, d.key, rows)
    return conform_errors, errors, rules


@pytest.mark.parametrize(
    ("dataset_id", "owner", "key"),
    [("treasury.budget_txn", "KBNN", "txn_id"), ("customs.declaration", "TCHQ", "declaration_no")],
)
def test_descriptor_is_registered_with_its_owner_and_key(dataset_id, owner, key):
    d = descriptor(dataset_id)
    assert (d.owner, d.key, d.domain) == (owner, key, dataset_id.split(".")[0])
    assert d.quality, "a seed dataset carries quality rules"


GOOD = {
    "treasury.budget_txn": [
        txn(1),
        txn(2, direction="expenditure", payer_tax_code=None, budget_level=4, area="26734"),
        txn(3, value_date="2026-03-02", source_ref="100000000007", amount="0.01"),
    ],
    "customs.declaration": [
        declaration(1),
        declaration(2, import_duty="0", import_vat="0", channel="red", status="cancelled"),
        declaration(3, type_code="E21", origin_country="VN", trader_tax_code="0100109106"),
    ],
}


@pytest.mark.parametrize("dataset_id", sorted(GOOD))
def test_good_records_pass_codec_and_every_rule(engine, dataset_id):
    conform_errors, errors, rules = check(engine, dataset_id, GOOD[dataset_id])
    assert conform_errors == []
    assert errors == []
    assert all((r.passed, r.failed) == (3, 0) for r in rules)
    assert len(rules) == len(descriptor(dataset_id).quality)


def test_two_states_of_one_declaration_in_one_batch_both_pass(engine):
    versions = [declaration(1), declaration(1, status="cleared", updated_at="2026-03-03T10:00:00Z")]
    conform_errors, errors, _ = check(engine, "customs.declaration", versions)
    assert (conform_errors, errors) == ([], [])


QUALITY_CASES = [
    ("treasury.budget_txn", {"txn_id": "tb 1"}, "txn_id", "expect_column_values_to_match_regex"),
    (
        "treasury.budget_txn",
        {"treasury_code": "11"},
        "treasury_code",
        "expect_column_values_to_match_regex",
    ),
    (
        "treasury.budget_txn",
        {"budget_level": 5},
        "budget_level",
        "expect_column_values_to_be_in_set",
    ),
    ("treasury.budget_txn", {"chapter": "75"}, "chapter", "expect_column_values_to_match_regex"),
    (
        "treasury.budget_txn",
        {"economic_item": "17O1"},
        "economic_item",
        "expect_column_values_to_match_regex",
    ),
    (
        "treasury.budget_txn",
        {"budget_unit": "101234"},
        "budget_unit",
        "expect_column_values_to_match_regex",
    ),
    ("treasury.budget_txn", {"area": "HN"}, "area", "expect_column_values_to_match_regex"),
    ("treasury.budget_txn", {"amount": "0"}, "amount", "expect_column_values_to_be_between"),
    ("treasury.budget_txn", {"amount": "-5.00"}, "amount", "expect_column_values_to_be_between"),
    (
        "treasury.budget_txn",
        {"value_date": "2026-03-01"},
        "value_date,posting_date",
        "expect_column_pair_values_a_to_be_greater_than_b",
    ),
    (
        "treasury.budget_txn",
        {"payer_tax_code": "0100109107"},
        "payer_tax_code",
        "expect_column_values_to_be_valid_mst",
    ),
    (
        "customs.declaration",
        {"declaration_no": "10000000001"},
        "declaration_no",
        "expect_column_values_to_match_regex",
    ),
    (
        "customs.declaration",
        {"type_code": "A1"},
        "type_code",
        "expect_column_values_to_match_regex",
    ),
    (
        "customs.declaration",
        {"customs_office": "01b1"},
        "customs_office",
        "expect_column_values_to_match_regex",
    ),
    (
        "customs.declaration",
        {"trader_tax_code": "0314409059"},
        "trader_tax_code",
        "expect_column_values_to_be_valid_mst",
    ),
    (
        "customs.declaration",
        {"hs_code": "8517130"},
        "hs_code",
        "expect_column_values_to_match_regex",
    ),
    (
        "customs.declaration",
        {"origin_country": "CHN"},
        "origin_country",
        "expect_column_values_to_match_regex",
    ),
    (
        "customs.declaration",
        {"customs_value_vnd": "0"},
        "customs_value_vnd",
        "expect_column_values_to_be_between",
    ),
    (
        "customs.declaration",
        {"import_duty": "-1"},
        "import_duty",
        "expect_column_values_to_be_between",
    ),
    (
        "customs.declaration",
        {"import_vat": "-0.01"},
        "import_vat",
        "expect_column_values_to_be_between",
    ),
]


@pytest.mark.parametrize(("dataset_id", "bad", "field", "rule"), QUALITY_CASES)
def test_each_rule_catches_its_bad_row(engine, dataset_id, bad, field, rule):
    make = FACTORIES[dataset_id]
    records = [make(1), make(2, **bad), make(3)]
    conform_errors, errors, _ = check(engine, dataset_id, records)
    assert conform_errors == []
    assert [(e.index, e.field, e.rule) for e in errors] == [(1, field, rule)]
    assert errors[0].key == records[1][descriptor(dataset_id).key]


def test_a_repeated_transaction_id_is_refused_in_both_rows(engine):
    _, errors, _ = check(engine, "treasury.budget_txn", [txn(1), txn(2), txn(1)])
    assert sorted((e.index, e.rule) for e in errors) == [
        (0, "expect_column_values_to_be_unique"),
        (2, "expect_column_values_to_be_unique"),
    ]


CODEC_CASES = [
    ("treasury.budget_txn", {"direction": "thu"}, "direction", "enum"),
    ("treasury.budget_txn", {"posting_date": "31/02/2026"}, "posting_date", "date"),
    ("treasury.budget_txn", {"amount": "1.250.000,00"}, "amount", "decimal"),
    ("treasury.budget_txn", {"chapter": None}, "chapter", "required"),
    ("customs.declaration", {"channel": "blue"}, "channel", "enum"),
    ("customs.declaration", {"status": "released"}, "status", "enum"),
    ("customs.declaration", {"declared_at": "02/03/2026 09:30"}, "declared_at", "timestamp"),
]


@pytest.mark.parametrize(("dataset_id", "bad", "field", "rule"), CODEC_CASES)
def test_the_codec_refuses_what_the_suite_does_not_repeat(engine, dataset_id, bad, field, rule):
    d = descriptor(dataset_id)
    make = FACTORIES[dataset_id]
    _, errors = AvroCodec(d.avro_schema).conform([make(1), make(2, **bad)], d.key)
    assert [(e.index, e.field, e.rule) for e in errors] == [(1, field, rule)]


def test_amounts_keep_their_exact_value(engine):
    d = descriptor("treasury.budget_txn")
    rows, _ = AvroCodec(d.avro_schema).conform([txn(1, amount="1250000.5")], d.key)
    assert rows[0][1]["amount"] == Decimal("1250000.50")
