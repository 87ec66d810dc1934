"""Check results as values: what the contract check found, row by row and rule by rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class RowError:
    """One reason a row was refused.

    ``index`` is the row's position in the submitted batch, or ``-1`` for a problem that concerns
    the batch as a whole (an expectation that could not be evaluated, a table-level rule).
    ``key`` is the row's key when it is known and a string; ``field`` names the offending field
    (comma-joined for a rule over several columns).
    """

    index: int
    key: str | None
    field: str | None
    rule: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "key": self.key,
            "field": self.field,
            "rule": self.rule,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class RuleResult:
    """How many rows of a batch one quality rule passed and failed."""

    rule: str
    column: str | None
    passed: int
    failed: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "column": self.column,
            "passed": self.passed,
            "failed": self.failed,
        }


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The contract check of one batch.

    ``valid`` holds ``(original index, Avro-native datum)`` of every row that passed all checks;
    ``errors`` every reason of every refused row; ``rules`` the per-rule counts.
    """

    valid: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rules: list[RuleResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no row was refused."""
        return not self.errors

    @property
    def rejected_indexes(self) -> list[int]:
        """Sorted distinct indexes of refused rows (batch-level errors, index -1, excluded)."""
        return sorted({e.index for e in self.errors if e.index >= 0})


BATCH_LEVEL = -1  # the index of an error that concerns the whole batch (a rule GX could not run)


def passing(
    rows: list[tuple[int, dict[str, Any]]], errors: list[RowError]
) -> list[tuple[int, dict[str, Any]]]:
    """The rows no error names. None at all when an error concerns the whole batch: what
    could not be checked is not accepted."""
    failed = {e.index for e in errors}
    if BATCH_LEVEL in failed:
        return []
    return [row for row in rows if row[0] not in failed]
