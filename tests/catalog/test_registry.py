"""Schema versions and compatibility settings in the catalog, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalog import registry
from catalog.errors import NotFoundError
from catalog.models import SchemaVersion
from gateway.database import build_engine, session_factory
from schemas.descriptor import SEED_DIR

DATASET = "tax.einvoice"


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    engine = build_engine(database_url)
    with session_factory(engine)() as session:
        yield session
    engine.dispose()


def einvoice_schema() -> dict[str, Any]:
    return json.loads((SEED_DIR / "tax.einvoice.avsc").read_text())


def with_field(schema: dict[str, Any], **spec: Any) -> dict[str, Any]:
    changed = copy.deepcopy(schema)
    changed["fields"].append(spec)
    return changed


def count_versions(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(SchemaVersion)) or 0)


def register(session: Session, schema: dict[str, Any]) -> registry.Registration:
    done = registry.register_schema_version(session, dataset_id=DATASET, schema=schema)
    session.commit()
    return done


def test_subjects_map_to_datasets_and_back() -> None:
    assert registry.subject_for("tax.einvoice") == "fdxp.tax.einvoice-value"
    assert registry.dataset_for("fdxp.tax.einvoice-value") == "tax.einvoice"
    for foreign in ("tax.einvoice", "fdxp.tax.einvoice-key", "fdxp.-value", "other.x-value"):
        assert registry.dataset_for(foreign) is None


def test_seeded_datasets_are_subjects_with_version_1(session: Session) -> None:
    subjects = registry.list_subjects(session)
    assert "fdxp.tax.einvoice-value" in subjects
    assert subjects == sorted(subjects)
    [v1] = registry.list_schema_versions(session, dataset_id=DATASET)
    assert v1.version == 1
    assert registry.get_schema_version(session, dataset_id=DATASET).id == v1.id  # type: ignore[union-attr]
    assert registry.get_schema_by_id(session, schema_id=v1.id) is v1
    assert registry.get_schema_version(session, dataset_id=DATASET, version=2) is None


def test_an_identical_schema_returns_the_existing_version(session: Session) -> None:
    before = count_versions(session)
    reordered = {k: v for k, v in reversed(list(einvoice_schema().items()))}
    done = register(session, reordered)
    assert done.ok and not done.created
    assert done.version is not None and done.version.version == 1
    assert count_versions(session) == before
    found = registry.find_schema_version(session, dataset_id=DATASET, schema=reordered)
    assert found is not None and found.id == done.version.id


def test_a_compatible_schema_becomes_the_next_version(session: Session) -> None:
    v1 = registry.get_schema_version(session, dataset_id=DATASET)
    assert v1 is not None
    v2_schema = with_field(einvoice_schema(), name="note", type=["null", "string"], default=None)
    done = register(session, v2_schema)
    assert done.ok and done.created and done.mode == "BACKWARD"
    assert done.version is not None
    assert (done.version.version, done.version.dataset_id) == (2, DATASET)
    assert done.version.id != v1.id
    latest = registry.get_schema_version(session, dataset_id=DATASET)
    assert latest is not None and latest.id == done.version.id
    assert json.loads(latest.schema_json) == v2_schema
    assert [v.version for v in registry.list_schema_versions(session, dataset_id=DATASET)] == [1, 2]
    # the old version is still found by its own schema
    old = registry.find_schema_version(session, dataset_id=DATASET, schema=einvoice_schema())
    assert old is not None and old.version == 1


def test_an_incompatible_schema_is_refused_and_nothing_is_written(session: Session) -> None:
    before = count_versions(session)
    bad = with_field(einvoice_schema(), name="branch_code", type="string")
    done = registry.register_schema_version(session, dataset_id=DATASET, schema=bad)
    session.commit()
    assert not done.ok and done.version is None and not done.created
    [problem] = done.check.problems
    assert (problem.kind, problem.against_version) == ("READER_FIELD_MISSING_DEFAULT_VALUE", 1)
    assert problem.path == f"/fields/{len(bad['fields']) - 1}"
    assert count_versions(session) == before
    assert registry.get_schema_version(session, dataset_id=DATASET, version=2) is None


def test_the_datasets_mode_decides(session: Session) -> None:
    bad = with_field(einvoice_schema(), name="branch_code", type="string")
    assert registry.set_dataset_compatibility(session, dataset_id=DATASET, compatibility="none")
    session.commit()
    assert registry.get_dataset_compatibility(session, dataset_id=DATASET) == "NONE"
    done = register(session, bad)
    assert done.created and done.mode == "NONE"


def test_transitive_mode_checks_every_version(session: Session) -> None:
    base = einvoice_schema()
    v2 = with_field(base, name="region", type="string", default="north")
    v3 = with_field(base, name="region", type="string")  # reads v2 data, not v1's
    assert register(session, v2).created
    registry.set_dataset_compatibility(
        session, dataset_id=DATASET, compatibility="BACKWARD_TRANSITIVE"
    )
    session.commit()
    refused = register(session, v3)
    assert not refused.ok
    assert [p.against_version for p in refused.check.problems] == [1]
    # latest-only, the same schema passes
    registry.set_dataset_compatibility(session, dataset_id=DATASET, compatibility="BACKWARD")
    session.commit()
    assert register(session, v3).created


def test_check_against_one_version_or_what_the_mode_selects(session: Session) -> None:
    base = einvoice_schema()
    v2 = with_field(base, name="region", type="string", default="north")
    v3 = with_field(base, name="region", type="string")
    register(session, v2)
    assert registry.check_against(session, dataset_id=DATASET, schema=v3).compatible
    assert registry.check_against(session, dataset_id=DATASET, schema=v3, version=2).compatible
    against_v1 = registry.check_against(session, dataset_id=DATASET, schema=v3, version=1)
    assert not against_v1.compatible and against_v1.checked_versions == [1]


def test_unknown_datasets_are_not_found(session: Session) -> None:
    with pytest.raises(NotFoundError):
        registry.register_schema_version(session, dataset_id="no.such", schema=einvoice_schema())
    with pytest.raises(NotFoundError):
        registry.set_dataset_compatibility(session, dataset_id="no.such", compatibility="FULL")
    with pytest.raises(NotFoundError):
        registry.check_against(session, dataset_id="no.such", schema=einvoice_schema())
    assert registry.get_dataset_compatibility(session, dataset_id="no.such") is None
    assert registry.list_schema_versions(session, dataset_id="no.such") == []


def test_global_compatibility_round_trip(session: Session, database_url: str) -> None:
    assert registry.get_global_compatibility(session) == "BACKWARD"
    assert registry.set_global_compatibility(session, compatibility="full") == "FULL"
    session.commit()
    assert registry.set_global_compatibility(session, compatibility="FORWARD") == "FORWARD"
    session.commit()
    with pytest.raises(ValueError):
        registry.set_global_compatibility(session, compatibility="SIDEWAYS")
    with pytest.raises(ValueError):
        registry.set_dataset_compatibility(session, dataset_id=DATASET, compatibility="X")
    engine = build_engine(database_url)
    with session_factory(engine)() as fresh:
        assert registry.get_global_compatibility(fresh) == "FORWARD"
        assert registry.get_dataset_compatibility(fresh, dataset_id=DATASET) == "BACKWARD"
    engine.dispose()


def test_affected_consumers_hook_is_empty_for_now(session: Session) -> None:
    assert registry.affected_consumers(session, dataset_id=DATASET) == []
