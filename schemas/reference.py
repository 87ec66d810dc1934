"""Reference rules: quality rules checked against another system, not by Great Expectations.

A descriptor lists them among its quality rules, in the same ``{type, kwargs}`` shape::

    {"type": "expect_column_values_to_be_active_enterprise",
     "kwargs": {"column": "buyer_tax_code", "on_unavailable": "defer"}}

``expect_column_values_to_be_active_enterprise``: the column's value (a tax code, MST) is a
registered enterprise whose status is ``active`` in the national enterprise registry, reached
through NDXP. Null values pass (the schema and the suite say whether a value is required).
``on_unavailable`` says what happens when the registry cannot be reached: ``reject`` the row
(default), or ``defer``: accept it and check it again later.

This module only knows the rules as data (names, kwargs, splitting a suite); the gateway runs
them. The quality engine never sees them: `split_rules` takes them out of a suite first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "ACTIVE_ENTERPRISE",
    "REFERENCE_RULE_TYPES",
    "ReferenceRule",
    "is_reference_rule",
    "reference_rule_problem",
    "split_rules",
]

ACTIVE_ENTERPRISE = "expect_column_values_to_be_active_enterprise"
REFERENCE_RULE_TYPES = frozenset({ACTIVE_ENTERPRISE})
ON_UNAVAILABLE = ("reject", "defer")
_KWARGS = frozenset({"column", "on_unavailable", "meta", "notes", "description"})


@dataclass(frozen=True, slots=True)
class ReferenceRule:
    """One reference rule of a suite."""

    type: str
    column: str
    on_unavailable: Literal["reject", "defer"]


def is_reference_rule(spec: object) -> bool:
    return isinstance(spec, Mapping) and spec.get("type") in REFERENCE_RULE_TYPES


def reference_rule_problem(
    index: int, spec: Mapping[str, Any], columns: Sequence[str] | None = None
) -> str | None:
    """What is wrong with a reference rule's kwargs, or None."""
    kind = spec.get("type")
    kwargs = spec.get("kwargs", {})
    prefix = f"quality rule #{index} ({kind})"
    if not isinstance(kwargs, Mapping):
        return f"{prefix}: 'kwargs' must be an object"
    unknown = sorted(set(kwargs) - _KWARGS)
    if unknown:
        return f"{prefix}: unknown kwargs {', '.join(unknown)}"
    column = kwargs.get("column")
    if not isinstance(column, str) or not column:
        return f"{prefix}: 'column' (a field name) is required"
    if columns is not None and column not in columns:
        return f"{prefix}: unknown column(s) {column}"
    policy = kwargs.get("on_unavailable", "reject")
    if policy not in ON_UNAVAILABLE:
        return f"{prefix}: 'on_unavailable' must be one of {', '.join(ON_UNAVAILABLE)}"
    return None


def split_rules(
    expectations: Sequence[Any],
) -> tuple[list[Any], list[ReferenceRule]]:
    """``(the Great Expectations rules, the reference rules)`` of a suite, in their order.
    Reference rules are assumed valid (suites are validated when they are stored)."""
    suite: list[Any] = []
    references: list[ReferenceRule] = []
    for spec in expectations:
        if is_reference_rule(spec):
            kwargs = spec.get("kwargs", {})
            references.append(
                ReferenceRule(
                    type=spec["type"],
                    column=kwargs["column"],
                    on_unavailable=kwargs.get("on_unavailable", "reject"),
                )
            )
        else:
            suite.append(spec)
    return suite, references
