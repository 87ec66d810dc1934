"""Quality checks of a batch with Great Expectations (GX 1.x, pandas execution engine).

A suite is data: ``(suite_id, expectations, key_field)`` where each expectation is a GX
expectation config ``{"type": ..., "kwargs": {...}}``. :class:`QualityEngine` owns one ephemeral
GX context, compiles a suite once and runs it once per batch over one DataFrame, and maps every
unexpected row back to a :class:`~schemas.results.RowError`.

How failures are located:

- a row-level (map) expectation lists its unexpected rows; the engine adds a hidden row-number
  column to the frame and asks GX for it (``unexpected_index_column_names``), so a row is found
  exactly even when keys repeat. ``expect_column_values_to_be_unique`` lists *every* row whose
  value is duplicated (the first occurrence too): within one batch the hub cannot tell which copy
  is right, so all are refused;
- an expectation with no row list (a table-level expectation) or one that GX could not evaluate
  yields one error with ``index=-1``: the batch as a whole failed that rule, and its
  :class:`~schemas.results.RuleResult` counts every row as failed.

``RuleResult.passed + failed`` is the batch size: rows skipped by a rule (nulls for a map
expectation, rows outside its ``row_condition``) count as passed.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
from great_expectations.validator.v1_validator import Validator

import schemas.expectations  # noqa: F401  (registers the custom expectations)
from schemas.reference import is_reference_rule, reference_rule_problem
from schemas.results import CheckResult, RowError, RuleResult, passing

if TYPE_CHECKING:
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.expectations.expectation import Expectation

    from schemas.codec import AvroCodec

__all__ = ["ROW_COLUMN", "QualityEngine", "check_batch", "validate_expectations"]

ROW_COLUMN = "__fdxp_row__"
"""The hidden column holding a row's position in the batch frame."""

# Keys GX adds or that only steer GX; they say nothing about what the rule demands.
_HIDDEN_KWARGS = frozenset(
    {
        "batch_id",
        "result_format",
        "catch_exceptions",
        "include_config",
        "condition_parser",
        "meta",
        "notes",
        "severity",
        "description",
    }
)
_COLUMN_KWARGS = ("column", "column_A", "column_B")


@dataclass(frozen=True, slots=True)
class _Rule:
    type: str
    columns: tuple[str, ...]
    kwargs: dict[str, Any]

    @property
    def field(self) -> str | None:
        return ",".join(self.columns) if self.columns else None


@dataclass(frozen=True, slots=True)
class _Suite:
    source: list[dict[str, Any]]
    key_field: str
    rules: tuple[_Rule, ...]
    gx_suite: gx.ExpectationSuite


def _config(index: int, spec: object) -> ExpectationConfiguration:
    if not isinstance(spec, Mapping):
        raise ValueError(f"quality rule #{index} is not an object with 'type' and 'kwargs'")
    kind = spec.get("type")
    kwargs = spec.get("kwargs", {})
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"quality rule #{index} has no expectation 'type'")
    if not isinstance(kwargs, Mapping):
        raise ValueError(f"quality rule #{index} ({kind}): 'kwargs' must be an object")
    return ExpectationConfiguration(type=kind, kwargs=dict(kwargs), meta={"fdxp_rule": index})


def _expectation(index: int, spec: object) -> Expectation:
    config = _config(index, spec)
    try:
        return config.to_domain_obj()
    except Exception as exc:
        if type(exc).__name__ == "ExpectationNotFoundError":
            raise ValueError(
                f"quality rule #{index}: unknown expectation type {config.type!r}"
            ) from None
        raise ValueError(
            f"quality rule #{index} ({config.type}): invalid kwargs: {' '.join(str(exc).split())}"
        ) from None


def validate_expectations(
    expectations: Sequence[object], columns: Sequence[str] | None = None
) -> list[str]:
    """Problems of a list of expectation configs (unknown types, bad kwargs, unknown columns)."""
    return [message for _, message in expectation_problems(expectations, columns)]


def expectation_problems(
    expectations: Sequence[object], columns: Sequence[str] | None = None
) -> list[tuple[int, str]]:
    """Like `validate_expectations`, each problem with the index of its rule. Reference rules
    (schemas/reference.py) are checked by their own kwargs rules, not by GX."""
    problems: list[tuple[int, str]] = []
    known = set(columns) if columns is not None else None
    for index, spec in enumerate(expectations):
        if is_reference_rule(spec):
            assert isinstance(spec, Mapping)
            problem = reference_rule_problem(index, spec, columns)
            if problem is not None:
                problems.append((index, problem))
            continue
        try:
            expectation = _expectation(index, spec)
        except ValueError as exc:
            problems.append((index, str(exc)))
            continue
        if known is not None:
            missing = [c for c in _columns_of(expectation.configuration.kwargs) if c not in known]
            if missing:
                problems.append(
                    (
                        index,
                        f"quality rule #{index} ({expectation.expectation_type}): "
                        f"unknown column(s) {', '.join(missing)}",
                    )
                )
    return problems


def _columns_of(kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    found = [kwargs[k] for k in _COLUMN_KWARGS if isinstance(kwargs.get(k), str)]
    found.extend(c for c in kwargs.get("column_list") or () if isinstance(c, str))
    return tuple(found)


class QualityEngine:
    """Runs quality suites over batches with one ephemeral Great Expectations context.

    Create one per process (the caller owns it); compiled suites are cached per ``suite_id``
    (recompiled when the same id comes with different expectations or key field).
    """

    def __init__(self, *, max_suites: int = 256) -> None:
        self._context = gx.get_context(mode="ephemeral")
        self._context.variables.progress_bars = ProgressBarsConfig(
            globally=False, metric_calculations=False
        )
        # One data source, asset and batch definition for every run: only the frame changes.
        name = f"fdxp-{uuid.uuid4().hex[:8]}"
        asset = self._context.data_sources.add_pandas(name=name).add_dataframe_asset(name="batch")
        self._batch_definition: BatchDefinition = asset.add_batch_definition_whole_dataframe(
            "whole"
        )
        self._suites: dict[str, _Suite] = {}
        self._max_suites = max_suites
        self.suite_builds = 0
        """How many suites were compiled (a cache miss each)."""

    # -- suites --------------------------------------------------------------------------

    def _suite(self, suite_id: str, expectations: Sequence[Any], key_field: str) -> _Suite:
        cached = self._suites.get(suite_id)
        if (
            cached is not None
            and cached.key_field == key_field
            and (cached.source is expectations or cached.source == expectations)
        ):
            return cached
        built = [_expectation(i, spec) for i, spec in enumerate(expectations)]
        # Messages quote the kwargs as written (GX rewrites e.g. a row_condition into an object).
        rules = tuple(
            _Rule(
                e.expectation_type,
                _columns_of(e.configuration.kwargs),
                {
                    k: v
                    for k, v in spec.get("kwargs", {}).items()
                    if k not in _HIDDEN_KWARGS and v is not None
                },
            )
            for e, spec in zip(built, expectations, strict=True)
        )
        suite = _Suite(
            source=[dict(s) for s in expectations],
            key_field=key_field,
            rules=rules,
            gx_suite=gx.ExpectationSuite(name=suite_id, expectations=built),
        )
        if len(self._suites) >= self._max_suites:
            self._suites.pop(next(iter(self._suites)))
        self._suites[suite_id] = suite
        self.suite_builds += 1
        return suite

    # -- checking ------------------------------------------------------------------------

    def check(
        self,
        suite_id: str,
        expectations: Sequence[Any],
        key_field: str,
        rows: Sequence[tuple[int, Mapping[str, Any]]],
    ) -> tuple[list[RowError], list[RuleResult]]:
        """Run the suite once over the batch; every failing row becomes a located ``RowError``.

        ``rows`` are ``(original index, Avro-native datum)`` pairs, as ``AvroCodec.conform``
        returns them. Raises ``ValueError`` for an expectation config GX does not know.
        """
        suite = self._suite(suite_id, expectations, key_field)
        total = len(rows)
        if not rows or not suite.rules:
            return [], [RuleResult(r.type, r.field, total, 0) for r in suite.rules]

        validator = Validator(
            batch_definition=self._batch_definition,
            batch_parameters={"dataframe": _frame(rows, key_field)},
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": [ROW_COLUMN, key_field],
                "return_unexpected_index_query": False,
            },
        )
        results = validator.validate_expectation_suite(suite.gx_suite).results

        # GX may reorder results (failed evaluations first): the rule number in meta maps back.
        located: list[tuple[int, int, RowError]] = []
        counts: list[RuleResult | None] = [None] * len(suite.rules)
        for result in results:
            config = result.expectation_config
            assert config is not None and config.meta is not None
            at = int(config.meta["fdxp_rule"])
            rule = suite.rules[at]
            found = _row_errors(rule, result, rows, key_field)
            located.extend((e.index, at, e) for e in found)
            failed = total if found and found[0].index < 0 else len(found)
            counts[at] = RuleResult(rule.type, rule.field, total - failed, failed)
        located.sort(key=lambda item: item[:2])
        errors = [e for _, _, e in located]
        rules = [
            c if c is not None else RuleResult(r.type, r.field, total, 0)
            for c, r in zip(counts, suite.rules, strict=True)
        ]
        return errors, rules


def check_batch(
    *,
    codec: AvroCodec,
    engine: QualityEngine,
    suite_id: str,
    expectations: Sequence[Any],
    key_field: str,
    records: Sequence[object],
) -> CheckResult:
    """The whole contract check of a batch: Avro conformance, then the quality suite, once.

    Rows refused by the codec never reach the suite. When a rule fails for the batch as a whole
    (an error with index -1) no row is valid: what could not be checked is not accepted.
    """
    conformed, errors = codec.conform(records, key_field)
    quality_errors, rules = engine.check(suite_id, expectations, key_field, conformed)
    valid = passing(conformed, quality_errors)
    all_errors = sorted([*errors, *quality_errors], key=lambda e: e.index)
    return CheckResult(valid=valid, errors=all_errors, rules=rules)


def _frame(rows: Sequence[tuple[int, Mapping[str, Any]]], key_field: str) -> pd.DataFrame:
    names = list(rows[0][1].keys())
    if key_field not in names:
        names.append(key_field)
    data: dict[str, Any] = {name: [r.get(name) for _, r in rows] for name in names}
    data[ROW_COLUMN] = range(len(rows))
    return pd.DataFrame(data)


def _row_errors(
    rule: _Rule,
    result: Any,
    rows: Sequence[tuple[int, Mapping[str, Any]]],
    key_field: str,
) -> list[RowError]:
    failure = _exception_message(result.exception_info)
    if failure is not None:
        return [
            RowError(-1, None, rule.field, rule.type, f"the rule could not be evaluated: {failure}")
        ]
    if result.success:
        return []
    located = (result.result or {}).get("unexpected_index_list")
    if not located:
        return [
            RowError(
                -1,
                None,
                rule.field,
                rule.type,
                f"the batch fails {rule.type}{_kwargs_text(rule.kwargs)}",
            )
        ]
    errors = []
    for entry in located:
        position = int(entry[ROW_COLUMN])
        index, datum = rows[position]
        key = datum.get(key_field)
        errors.append(
            RowError(
                index,
                key if isinstance(key, str) else None,
                rule.field,
                rule.type,
                _message(rule, datum),
            )
        )
    return errors


def _exception_message(info: Any) -> str | None:
    # GX reports either one {raised_exception, exception_message} or one such dict per metric.
    if not isinstance(info, Mapping):
        return None
    reports = [info] if "raised_exception" in info else list(info.values())
    for report in reports:
        if isinstance(report, Mapping) and report.get("raised_exception"):
            return " ".join(str(report.get("exception_message")).split())
    return None


# --- messages -------------------------------------------------------------------------------


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _kwargs_text(kwargs: Mapping[str, Any]) -> str:
    shown = {
        k: v
        for k, v in kwargs.items()
        if k not in ("column", "column_list", "row_condition", "mostly") and v is not False
    }
    return f" ({', '.join(f'{k}={v!r}' for k, v in shown.items())})" if shown else ""


def _bounds(kwargs: Mapping[str, Any]) -> str:
    parts = []
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None:
        parts.append(f"{'>' if kwargs.get('strict_min') else '>='} {_show(low)}")
    if high is not None:
        parts.append(f"{'<' if kwargs.get('strict_max') else '<='} {_show(high)}")
    return " and ".join(parts) or "within bounds"


def _message(rule: _Rule, datum: Mapping[str, Any]) -> str:
    kw = rule.kwargs
    column = rule.columns[0] if rule.columns else None
    value = datum.get(column) if column else None
    shown = _show(value)
    kind = rule.type
    if kind == "expect_column_values_to_not_be_null":
        text = f"{column} is null but is required"
    elif kind == "expect_column_values_to_be_null":
        text = f"{column} must be null, got {shown}"
    elif kind == "expect_column_values_to_be_between":
        text = f"{column} value {shown} is not {_bounds(kw)}"
    elif kind == "expect_column_value_lengths_to_be_between":
        text = f"{column} value {shown} has a length not {_bounds(kw)}"
    elif kind == "expect_column_values_to_match_regex":
        text = f"{column} value {shown} does not match regex {kw.get('regex')}"
    elif kind == "expect_column_values_to_not_match_regex":
        text = f"{column} value {shown} matches the forbidden regex {kw.get('regex')}"
    elif kind == "expect_column_values_to_be_in_set":
        text = f"{column} value {shown} is not in the set {_set_text(kw.get('value_set'))}"
    elif kind == "expect_column_values_to_not_be_in_set":
        text = f"{column} value {shown} is in the forbidden set {_set_text(kw.get('value_set'))}"
    elif kind == "expect_column_values_to_be_unique":
        text = f"{column} value {shown} is duplicated within the batch"
    elif kind == "expect_column_values_to_be_valid_mst":
        text = (
            f"{column} value {shown} is not a valid tax code (MST): 10 digits, or 10-3 for "
            "a branch, with a valid check digit"
        )
    elif kind == "expect_multicolumn_sum_to_equal_column":
        total = kw["sum_column"]
        addends = [c for c in rule.columns if c != total]
        try:
            computed = _show(sum((Decimal(datum[c]) for c in addends), Decimal(0)))
        except (ArithmeticError, TypeError, ValueError):
            computed = "not computable"
        text = (
            f"{total} {_show(datum.get(total))} != {' + '.join(addends)} "
            f"({' + '.join(_show(datum.get(c)) for c in addends)} = {computed})"
        )
    elif rule.columns:
        values = ", ".join(f"{c}={_show(datum.get(c))}" for c in rule.columns)
        text = f"{values} fails {kind}{_kwargs_text(kw)}"
    else:
        text = f"the row fails {kind}{_kwargs_text(kw)}"
    condition = kw.get("row_condition")
    if condition:
        text += f" (rule applies when {condition})"
    return text


def _set_text(values: Any) -> str:
    if isinstance(values, list | tuple | set | frozenset):
        return "{" + ", ".join(_show(v) for v in values) + "}"
    return str(values)
