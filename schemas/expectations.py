"""Great Expectations 1.x expectations the seed datasets need; importing this module registers them.

``expect_column_values_to_be_valid_mst`` (column map)
    kwargs ``{"column": ...}`` plus the usual ``mostly``/``row_condition``/``condition_parser``.
    A value passes when it is a Vietnamese tax code (10 digits, or 10 digits, ``-``, 3 digits for
    a branch) with the right check digit (:func:`schemas.mst.mst_is_valid`). Nulls are skipped.

``expect_multicolumn_sum_to_equal_column`` (multicolumn map)
    kwargs ``{"column_list": ["total_before_tax", "vat_amount", "total_amount"],
    "sum_column": "total_amount"}``: per row, ``sum_column`` equals the exact sum of the other
    columns of ``column_list`` (Decimal arithmetic, no float rounding). ``sum_column`` must be
    one of ``column_list`` so that GX hands all the columns to the metric. Rows where any of the
    columns is null are skipped (``ignore_row_if="any_value_is_missing"`` by default), as map
    expectations skip nulls: a separate not-null rule says whether a null is allowed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar, Literal

import pandas as pd
from great_expectations.compatibility import pydantic
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import (
    ColumnMapExpectation,
    MulticolumnMapExpectation,
)
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    MulticolumnMapMetricProvider,
    column_condition_partial,
    multicolumn_condition_partial,
)

from schemas.mst import mst_is_valid

__all__ = [
    "CUSTOM_EXPECTATIONS",
    "ExpectColumnValuesToBeValidMst",
    "ExpectMulticolumnSumToEqualColumn",
    "mst_is_valid",
]


class ColumnValuesValidMst(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_mst"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return column.map(mst_is_valid).astype(bool)


class ExpectColumnValuesToBeValidMst(ColumnMapExpectation):
    """Expect column values to be Vietnamese tax codes (MST) with a valid check digit."""

    map_metric = "column_values.valid_mst"
    success_keys = ("mostly",)
    library_metadata: ClassVar[dict[str, Any]] = {
        "maturity": "experimental",
        "tags": ["fdxp", "vietnam", "tax code"],
        "contributors": ["@fdxp"],
    }


def _exact(value: Any) -> Decimal:
    # Floats go through str() so 0.1 means 0.1, as it does for the Avro codec.
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(str(value))
    return Decimal(value)


def _row_sums_to(row: tuple[Any, ...], total_at: int) -> bool:
    try:
        total = _exact(row[total_at])
        addends = sum((_exact(v) for i, v in enumerate(row) if i != total_at), Decimal(0))
    except (ArithmeticError, TypeError, ValueError):
        return False
    return total == addends


class MulticolumnSumEqualColumn(MulticolumnMapMetricProvider):
    condition_metric_name = "multicolumn_values.sum_equal_column"
    condition_domain_keys = (
        "batch_id",
        "table",
        "column_list",
        "row_condition",
        "condition_parser",
        "ignore_row_if",
    )
    condition_value_keys = ("sum_column",)

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, **kwargs: Any) -> pd.Series:
        total_at = list(column_list.columns).index(kwargs["sum_column"])
        flags = [_row_sums_to(row, total_at) for row in column_list.itertuples(index=False)]
        return pd.Series(flags, index=column_list.index, dtype=bool)


class ExpectMulticolumnSumToEqualColumn(MulticolumnMapExpectation):
    """Expect ``sum_column`` to equal, exactly, the sum of the other columns of ``column_list``."""

    sum_column: str
    ignore_row_if: Literal["all_values_are_missing", "any_value_is_missing", "never"] = (
        "any_value_is_missing"
    )

    map_metric = "multicolumn_values.sum_equal_column"
    success_keys = ("mostly", "sum_column")
    args_keys = ("column_list", "sum_column")
    library_metadata: ClassVar[dict[str, Any]] = {
        "maturity": "experimental",
        "tags": ["fdxp", "multi-column expectation"],
        "contributors": ["@fdxp"],
    }

    @pydantic.root_validator(skip_on_failure=True)
    def _sum_column_in_list(cls, values: dict[str, Any]) -> dict[str, Any]:
        columns = values.get("column_list") or []
        if values.get("sum_column") not in columns:
            raise ValueError(
                f"sum_column {values.get('sum_column')!r} must be one of column_list {columns!r}"
            )
        if len(columns) < 2:
            raise ValueError("column_list needs the sum column and at least one addend")
        return values


CUSTOM_EXPECTATIONS: tuple[str, ...] = (
    "expect_column_values_to_be_valid_mst",
    "expect_multicolumn_sum_to_equal_column",
)
