"""Reproducible measurements of the hub (`fdxp bench`): the hub against a plain kafka-python
producer on the same broker with the same records, on SQLite and PostgreSQL."""

from benchmarks.report import BenchReport
from benchmarks.run import run_bench

__all__ = ["BenchReport", "run_bench"]
