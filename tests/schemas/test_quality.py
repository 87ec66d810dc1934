from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from schemas.codec import AvroCodec
from schemas.descriptor import DatasetDescriptor, seed_descriptors
from schemas.quality import validate_expectations
from schemas.results import RowError


@pytest.fixture(scope="module")
def einvoice() -> DatasetDescriptor:
    [descriptor] = [d for d in seed_descriptors() if d.id == "tax.einvoice"]
    return descriptor


@pytest.fixture
def batch(einvoice, make_invoice):
    """Four conformed, valid invoices with original indexes 10, 11, 12, 13."""
    codec = AvroCodec(einvoice.avro_schema)

    def build(**bad: Any) -> list[tuple[int, dict[str, Any]]]:
        valid, errors = codec.conform([make_invoice(n) for n in range(1, 5)], "invoice_id")
        assert errors == []
        rows = [(index + 10, datum) for index, datum in valid]
        rows[2][1].update(bad)  # Avro-native values, as if conform had let them through
        return rows

    return build


def run(engine, descriptor: DatasetDescriptor, rows) -> tuple[list[RowError], Any]:
    return engine.check(descriptor.id, descriptor.quality_configs, descriptor.key, rows)


def test_good_rows_pass_every_rule(engine, einvoice, make_invoice):
    codec = AvroCodec(einvoice.avro_schema)
    records = [
        make_invoice(1),
        make_invoice(2, symbol="K26TAA", tax_authority_code=None, buyer_tax_code=None),
        make_invoice(
            3,
            currency="USD",
            exchange_rate="25410.5",
            total_before_tax="0",
            vat_amount="0.01",
            total_amount="0.01",
            vat_rate="KCT",
        ),
    ]
    rows, conform_errors = codec.conform(records, "invoice_id")
    assert conform_errors == []
    errors, rules = run(engine, einvoice, rows)
    assert errors == []
    assert len(rules) == len(einvoice.quality)
    assert all((r.passed, r.failed) == (3, 0) for r in rules)


D = Decimal
# Missing or null required fields never reach the suite: the codec refuses them (rule
# `required`, tests/schemas/test_codec.py).
CASES = [
    ({"invoice_id": "INV-3"}, "invoice_id", "expect_column_values_to_match_regex"),
    ({"form_no": 7}, "form_no", "expect_column_values_to_be_between"),
    ({"number": 0}, "number", "expect_column_values_to_be_between"),
    ({"number": 100_000_000}, "number", "expect_column_values_to_be_between"),
    ({"symbol": "C26XX"}, "symbol", "expect_column_values_to_match_regex"),
    ({"symbol": "C26QAA"}, "symbol", "expect_column_values_to_match_regex"),
    ({"seller_tax_code": "0100109107"}, "seller_tax_code", "expect_column_values_to_be_valid_mst"),
    (
        {"buyer_tax_code": "0314409059-002"},
        "buyer_tax_code",
        "expect_column_values_to_be_valid_mst",
    ),
    ({"vat_rate": "7"}, "vat_rate", "expect_column_values_to_be_in_set"),
    (
        {"total_before_tax": D("-1.00"), "total_amount": D("99999.00")},
        "total_before_tax",
        "expect_column_values_to_be_between",
    ),
    (
        {"vat_amount": D("-1.00"), "total_amount": D("999999.00")},
        "vat_amount",
        "expect_column_values_to_be_between",
    ),
    (
        {"total_before_tax": D(0), "vat_amount": D(0), "total_amount": D(0)},
        "total_amount",
        "expect_column_values_to_be_between",
    ),
    (
        {"total_amount": D("1100000.01")},
        "total_before_tax,vat_amount,total_amount",
        "expect_multicolumn_sum_to_equal_column",
    ),
    ({"currency": "vnd"}, "currency", "expect_column_values_to_match_regex"),
    (
        {"currency": "USD", "exchange_rate": None},
        "exchange_rate",
        "expect_column_values_to_not_be_null",
    ),
    ({"tax_authority_code": None}, "tax_authority_code", "expect_column_values_to_not_be_null"),
    ({"symbol": "K26TAA"}, "tax_authority_code", "expect_column_values_to_be_null"),
]


@pytest.mark.parametrize(("bad", "field", "rule"), CASES)
def test_each_rule_locates_its_bad_row(engine, einvoice, batch, bad, field, rule):
    rows = batch(**bad)
    errors, rules = run(engine, einvoice, rows)
    assert errors, "the bad row was not caught"
    assert {e.index for e in errors} == {12}
    expected_key = bad.get("invoice_id", rows[2][1]["invoice_id"])
    assert {e.key for e in errors} == {expected_key}
    assert (field, rule) in {(e.field, e.rule) for e in errors}
    failing = [r for r in rules if r.rule == rule and r.column == field]
    assert [(r.passed, r.failed) for r in failing if r.failed] == [(3, 1)]


def test_messages_quote_the_value_and_the_rule(engine, einvoice, batch):
    errors, _ = run(engine, einvoice, batch(symbol="C26XX"))
    [error] = [e for e in errors if e.field == "symbol"]
    assert error.message == (
        "symbol value 'C26XX' does not match regex ^[CK]\\d{2}[TDLMNBGH][A-Z0-9]{2}$"
    )
    errors, _ = run(engine, einvoice, batch(currency="USD", exchange_rate=None))
    [error] = [e for e in errors if e.field == "exchange_rate"]
    assert error.message == (
        'exchange_rate is null but is required (rule applies when currency != "VND")'
    )
    errors, _ = run(engine, einvoice, batch(form_no=9))
    assert errors[0].message == "form_no value 9 is not >= 1 and <= 6"


def test_duplicated_keys_refuse_every_copy(engine, einvoice, batch):
    rows = batch()
    rows[3][1]["invoice_id"] = rows[1][1]["invoice_id"]
    errors, rules = run(engine, einvoice, rows)
    duplicated = [e for e in errors if e.rule == "expect_column_values_to_be_unique"]
    assert [(e.index, e.key) for e in duplicated] == [
        (11, rows[1][1]["invoice_id"]),
        (13, rows[1][1]["invoice_id"]),
    ]
    [unique] = [r for r in rules if r.rule == "expect_column_values_to_be_unique"]
    assert (unique.passed, unique.failed) == (2, 2)


def test_same_key_different_rows_are_told_apart(engine, einvoice, batch):
    # Two rows share a key but only one breaks the sum: the hidden row column finds that one.
    rows = batch(total_amount=D("1.00"))
    rows[0][1]["invoice_id"] = rows[2][1]["invoice_id"]
    errors, _ = run(engine, einvoice, rows)
    sums = [e for e in errors if e.rule == "expect_multicolumn_sum_to_equal_column"]
    assert [e.index for e in sums] == [12]


def test_suite_is_compiled_once_per_id(engine, einvoice, batch):
    rules = [dict(r) for r in einvoice.quality_configs]
    engine.check("cache.test", rules, "invoice_id", batch())
    builds = engine.suite_builds
    engine.check("cache.test", [dict(r) for r in rules], "invoice_id", batch())
    assert engine.suite_builds == builds
    engine.check("cache.test", rules[:3], "invoice_id", batch())  # changed under the same id
    assert engine.suite_builds == builds + 1


def test_empty_batch_runs_nothing(engine, einvoice):
    errors, rules = run(engine, einvoice, [])
    assert errors == []
    assert all((r.passed, r.failed) == (0, 0) for r in rules)


def test_rule_that_cannot_be_evaluated_fails_the_batch(engine, batch):
    rules = [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "nope"}}]
    errors, results = engine.check("broken", rules, "invoice_id", batch())
    [error] = errors
    assert (error.index, error.field, error.rule) == (
        -1,
        "nope",
        "expect_column_values_to_not_be_null",
    )
    assert "could not be evaluated" in error.message
    assert (results[0].passed, results[0].failed) == (0, 4)


def test_table_level_failure_has_no_row(engine, batch):
    rules = [{"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 10}}]
    errors, results = engine.check("table", rules, "invoice_id", batch())
    [error] = errors
    assert (error.index, error.key, error.field) == (-1, None, None)
    assert "min_value=10" in error.message
    assert results[0].failed == 4


def test_unknown_expectation_type_is_a_value_error(engine, batch):
    rules = [{"type": "expect_column_values_to_be_purple", "kwargs": {"column": "symbol"}}]
    with pytest.raises(ValueError, match="expect_column_values_to_be_purple"):
        engine.check("unknown", rules, "invoice_id", batch())


def test_validate_expectations_lists_problems(einvoice):
    assert validate_expectations(einvoice.quality_configs, einvoice.field_names) == []
    problems = validate_expectations(
        [
            {"type": "expect_column_values_to_be_purple", "kwargs": {}},
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "nope", "min_value": 1},
            },
            {
                "type": "expect_column_values_to_be_unique",
                "kwargs": {"column": "symbol", "mostly": 2},
            },
            "not a rule",
        ],
        einvoice.field_names,
    )
    assert len(problems) == 4
    assert "unknown expectation type 'expect_column_values_to_be_purple'" in problems[0]
    assert "unknown column(s) nope" in problems[1]
    assert "invalid kwargs" in problems[2] and "mostly" in problems[2]
    assert "#3" in problems[3]


def test_check_batch_combines_conformance_and_quality(engine, einvoice, make_invoice):
    from schemas.quality import check_batch

    records = [
        make_invoice(1),
        make_invoice(2, status="lost"),
        make_invoice(3, vat_rate="7"),
        make_invoice(4),
    ]
    result = check_batch(
        codec=AvroCodec(einvoice.avro_schema),
        engine=engine,
        suite_id=einvoice.id,
        expectations=einvoice.quality_configs,
        key_field=einvoice.key,
        records=records,
    )
    assert [i for i, _ in result.valid] == [0, 3]
    assert [(e.index, e.rule) for e in result.errors] == [
        (1, "enum"),
        (2, "expect_column_values_to_be_in_set"),
    ]
    assert result.rejected_indexes == [1, 2]
    assert not result.ok
    vat = [r for r in result.rules if r.column == "vat_rate"]
    assert [(r.passed, r.failed) for r in vat] == [(2, 1)]  # the suite saw the 3 conformed rows


def test_check_batch_accepts_nothing_when_the_batch_fails(engine, einvoice, make_invoice):
    from schemas.quality import check_batch

    rules = [{"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 5}}]
    result = check_batch(
        codec=AvroCodec(einvoice.avro_schema),
        engine=engine,
        suite_id="rowcount",
        expectations=rules,
        key_field="invoice_id",
        records=[make_invoice(1)],
    )
    assert result.valid == []
    assert [e.index for e in result.errors] == [-1]


def test_passing_drops_named_rows_and_everything_on_a_batch_level_error():
    from schemas.results import RowError, passing

    rows = [(0, {"a": 1}), (1, {"a": 2}), (2, {"a": 3})]
    row_error = RowError(index=1, key=None, field="a", rule="r", message="m")
    assert passing(rows, [row_error]) == [rows[0], rows[2]]
    batch_error = RowError(index=-1, key=None, field=None, rule="r", message="could not run")
    assert passing(rows, [batch_error]) == []
    assert passing(rows, []) == rows
