from __future__ import annotations

from decimal import Decimal
from itertools import product

import pytest

from schemas.expectations import CUSTOM_EXPECTATIONS
from schemas.mst import mst_check_digit, mst_is_valid
from schemas.quality import validate_expectations


def reference_check_digit(first9: str) -> int:
    """The rule as the domain states it, written independently: 10 means no valid code."""
    weights = (31, 29, 23, 19, 17, 13, 7, 5, 3)
    return 10 - sum(w * int(d) for w, d in zip(weights, first9, strict=True)) % 11


def test_known_real_codes_are_valid():
    assert reference_check_digit("010010910") == 6  # Viettel, 0100109106
    assert mst_is_valid("0100109106")
    assert mst_is_valid("0314409058-002")  # a branch: the 10-digit part carries the check


def test_every_other_check_digit_is_invalid():
    assert [d for d in range(10) if mst_is_valid(f"010010910{d}")] == [6]


def test_agrees_with_the_reference_on_many_prefixes():
    for digits in product("0179", repeat=5):
        first9 = "0100" + "".join(digits)
        expected = reference_check_digit(first9)
        assert mst_check_digit(first9) == (None if expected == 10 else expected)
        if expected != 10:
            assert mst_is_valid(f"{first9}{expected}")


def test_a_prefix_whose_check_would_be_ten_has_no_valid_code():
    first9 = next(
        "".join(p)
        for p in product("0123456789", repeat=9)
        if reference_check_digit("".join(p)) == 10
    )
    assert not any(mst_is_valid(f"{first9}{d}") for d in range(10))


@pytest.mark.parametrize(
    "code",
    [
        "",
        "010010910",
        "01001091066",
        "0100109106-02",
        "0100109106-0021",
        "01001O9106",
        "0100109106 ",
        "0100109106_002",
        "0100109107-002",
        100109106,
    ],
)
def test_malformed_codes_are_invalid(code):
    assert not mst_is_valid(code)  # type: ignore[arg-type]


# --- as Great Expectations expectations ----------------------------------------------------


def test_custom_expectations_are_registered():
    import great_expectations.expectations.registry as registry

    for name in CUSTOM_EXPECTATIONS:
        assert registry.get_expectation_impl(name).expectation_type == name


def test_valid_mst_expectation_skips_nulls_and_finds_bad_codes(engine):
    rows = [
        (0, {"k": "a", "mst": "0100109106"}),
        (1, {"k": "b", "mst": None}),
        (2, {"k": "c", "mst": "0100109107"}),
        (3, {"k": "d", "mst": "0314409058-002"}),
    ]
    rules = [{"type": "expect_column_values_to_be_valid_mst", "kwargs": {"column": "mst"}}]
    errors, results = engine.check("t.mst", rules, "k", rows)
    assert [(e.index, e.key, e.field) for e in errors] == [(2, "c", "mst")]
    assert "'0100109107' is not a valid tax code" in errors[0].message
    assert (results[0].passed, results[0].failed) == (3, 1)


SUM_RULE = {
    "type": "expect_multicolumn_sum_to_equal_column",
    "kwargs": {"column_list": ["a", "b", "t"], "sum_column": "t"},
}


def test_sum_expectation_is_exact_decimal(engine):
    rows = [
        (0, {"k": "exact", "a": Decimal("0.1"), "b": Decimal("0.2"), "t": Decimal("0.3")}),
        (
            1,
            {
                "k": "off",
                "a": Decimal("0.1"),
                "b": Decimal("0.2"),
                "t": Decimal("0.30000000000000004"),
            },
        ),
        (
            2,
            {
                "k": "big",
                "a": Decimal("99999999999999999.99"),
                "b": Decimal("0.01"),
                "t": Decimal("100000000000000000.00"),
            },
        ),
        (3, {"k": "null", "a": None, "b": Decimal("1"), "t": Decimal("5")}),
    ]
    errors, results = engine.check("t.sum", [SUM_RULE], "k", rows)
    assert [(e.index, e.key, e.field) for e in errors] == [(1, "off", "a,b,t")]
    assert "t 0.30000000000000004 != a + b (0.1 + 0.2 = 0.3)" in errors[0].message
    assert (results[0].passed, results[0].failed) == (3, 1)


def test_sum_expectation_needs_its_sum_column_in_the_list():
    bad = {
        "type": "expect_multicolumn_sum_to_equal_column",
        "kwargs": {"column_list": ["a", "b"], "sum_column": "t"},
    }
    [problem] = validate_expectations([bad])
    assert "sum_column 't' must be one of column_list" in problem
