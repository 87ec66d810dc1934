"""FDXP record contracts: Avro codec, quality checks, dataset descriptors.

``QualityEngine`` and ``validate_expectations`` load Great Expectations (a few seconds of import
time), so they are imported on first use; everything else is light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from schemas.codec import AvroCodec, codec_for, frame, unframe
from schemas.descriptor import (
    Compatibility,
    DatasetDescriptor,
    QualityRule,
    load_descriptor,
    seed_descriptors,
)
from schemas.mst import mst_is_valid
from schemas.results import CheckResult, RowError, RuleResult

if TYPE_CHECKING:
    from schemas.quality import QualityEngine, check_batch, validate_expectations

__all__ = [
    "AvroCodec",
    "CheckResult",
    "Compatibility",
    "DatasetDescriptor",
    "QualityEngine",
    "QualityRule",
    "RowError",
    "RuleResult",
    "check_batch",
    "codec_for",
    "frame",
    "load_descriptor",
    "mst_is_valid",
    "seed_descriptors",
    "unframe",
    "validate_expectations",
]

_LAZY = {"QualityEngine", "check_batch", "validate_expectations"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from schemas import quality

        return getattr(quality, name)
    raise AttributeError(f"module 'schemas' has no attribute {name!r}")
