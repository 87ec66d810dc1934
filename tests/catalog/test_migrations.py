"""The Alembic migration creates exactly the tables the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from catalog.models import Base
from gateway.database import build_engine


def test_migration_matches_the_models(database_url: str) -> None:
    engine = build_engine(database_url)
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
            tables = set(inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert diff == []
    assert {
        "units",
        "api_keys",
        "datasets",
        "schema_versions",
        "quality_suites",
        "batches",
        "records",
        "quarantine",
        "outbox",
        "alembic_version",
    } <= tables


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path}/x.db")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engine.dispose()
