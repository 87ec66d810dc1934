"""Reference rules are quality rules the GX engine never sees: validated by their own kwargs
rules, and split out of a suite before it runs."""

from __future__ import annotations

from schemas.quality import expectation_problems
from schemas.reference import ACTIVE_ENTERPRISE, ReferenceRule, split_rules

UNIQUE = {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}}


def rule(**kwargs: object) -> dict[str, object]:
    return {"type": ACTIVE_ENTERPRISE, "kwargs": kwargs}


def test_valid_reference_rules_pass_suite_validation() -> None:
    suite = [UNIQUE, rule(column="tax_code"), rule(column="tax_code", on_unavailable="defer")]
    assert expectation_problems(suite, ["id", "tax_code"]) == []


def test_bad_reference_rules_are_named_by_index() -> None:
    problems = expectation_problems(
        [
            UNIQUE,
            rule(column="tax_code", on_unavailable="later"),
            rule(column="nope"),
            rule(),
            rule(column="tax_code", strict=True),
        ],
        ["id", "tax_code"],
    )
    assert [index for index, _ in problems] == [1, 2, 3, 4]
    messages = [message for _, message in problems]
    assert "on_unavailable" in messages[0] and "unknown column" in messages[1]
    assert "'column'" in messages[2] and "unknown kwargs strict" in messages[3]


def test_split_keeps_gx_rules_in_order_and_defaults_to_reject() -> None:
    suite, references = split_rules(
        [rule(column="a"), UNIQUE, rule(column="b", on_unavailable="defer")]
    )
    assert suite == [UNIQUE]
    assert references == [
        ReferenceRule(ACTIVE_ENTERPRISE, "a", "reject"),
        ReferenceRule(ACTIVE_ENTERPRISE, "b", "defer"),
    ]
