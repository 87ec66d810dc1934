"""The NDXP message log: a hash chain that names the first edited, inserted or deleted entry,
and a unique (direction, message id) among accepted exchanges (the replay guard); the audit
log's new `traceparent` leaves the hashes of older entries as they were."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from catalog import audit, ndxp
from catalog.chain import GENESIS
from catalog.models import AuditEntry, NdxpMessage
from gateway.database import build_engine, session_factory


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    engine = build_engine(database_url)
    with session_factory(engine)() as s:
        yield s
    engine.dispose()


def exchange(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "direction": "in",
        "message_id": f"m-{n}",
        "accepted": True,
        "client": "VN/GOV/000.00.00.G09/BCT",
        "service": "VN/GOV/000.00.00.G12/FDXP/tax.einvoice",
        "method": "GET",
        "path": "/ndxp/tax.einvoice/records",
        "user_id": None,
        "issue": None,
        "request_hash": "a" * 64,
        "response_hash": "b" * 64,
        "status_code": 200,
        "error_type": None,
        "duration_us": 1234,
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        **changes,
    }


def log(session: Session, count: int) -> None:
    for n in range(1, count + 1):
        ndxp.append_message(session, at=datetime.now(UTC), **exchange(n))
    session.commit()


def test_the_chain_verifies_and_links_each_entry_to_the_one_before(session: Session) -> None:
    log(session, 3)
    rows = ndxp.query_messages(session)
    assert [r.id for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == GENESIS and rows[1].prev_hash == rows[0].hash
    assert ndxp.verify_messages(session).valid is True


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        (update(NdxpMessage).where(NdxpMessage.id == 2).values(status_code=403), 2),
        (update(NdxpMessage).where(NdxpMessage.id == 3).values(response_hash="c" * 64), 3),
        (delete(NdxpMessage).where(NdxpMessage.id == 2), 2),
        (delete(NdxpMessage).where(NdxpMessage.id == 4), 4),
    ],
    ids=["edited status", "edited response hash", "deleted middle", "deleted last"],
)
def test_tampering_is_detected_at_the_first_bad_entry(
    session: Session, tamper: Any, first_bad: int
) -> None:
    log(session, 4)
    session.execute(tamper)
    session.commit()
    result = ndxp.verify_messages(session)
    assert result.valid is False and result.first_bad_id == first_bad


def test_an_accepted_message_id_is_unique_per_direction(session: Session) -> None:
    log(session, 1)
    ndxp.append_message(session, at=datetime.now(UTC), **exchange(1, direction="out"))
    ndxp.append_message(session, at=datetime.now(UTC), **exchange(1, accepted=False))
    ndxp.append_message(session, at=datetime.now(UTC), **exchange(1, accepted=False))
    session.commit()
    assert ndxp.message_seen(session, direction="in", message_id="m-1")
    assert not ndxp.message_seen(session, direction="in", message_id="m-2")
    with pytest.raises(IntegrityError):
        ndxp.append_message(session, at=datetime.now(UTC), **exchange(1))
    session.rollback()
    assert len(ndxp.messages_by_id(session, message_id="m-1")) == 4
    assert ndxp.verify_messages(session).valid is True


def test_audit_hash_without_traceparent_is_the_original_formula(session: Session) -> None:
    plain = audit.append(
        session, action="GET /v1/keys", status_code=200, outcome="ok", request_id="r1"
    )
    traced = audit.append(
        session,
        action="GET /v1/keys",
        status_code=200,
        outcome="ok",
        request_id="r2",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
    session.commit()
    content = {name: getattr(plain, name) for name in audit.CHAINED_FIELDS}
    content["at"] = plain.at.isoformat(timespec="microseconds")
    original = hashlib.sha256(
        GENESIS.encode() + orjson.dumps([content[n] for n in audit.CHAINED_FIELDS])
    ).hexdigest()
    assert plain.hash == original
    assert traced.hash != audit.entry_hash(plain.hash, {**_content(traced), "traceparent": None})
    assert audit.verify_chain(session).valid is True
    session.execute(update(AuditEntry).where(AuditEntry.id == 2).values(traceparent=None))
    session.commit()
    assert audit.verify_chain(session).first_bad_id == 2


def _content(entry: Any) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in (*audit.CHAINED_FIELDS, "traceparent")}


def test_enterprise_cache_expires_and_is_replaced(session: Session) -> None:
    now = datetime.now(UTC)
    ndxp.put_enterprises(
        session, entries={"0100109106": ("active", "A"), "9700000001": ("unknown", None)},
        now=now, ttl=timedelta(seconds=60),
    )  # fmt: skip
    session.commit()
    found = ndxp.cached_enterprises(session, tax_codes=["0100109106", "9700000001", "x"], now=now)
    assert {c: e.status for c, e in found.items()} == {
        "0100109106": "active",
        "9700000001": "unknown",
    }
    later = now + timedelta(seconds=61)
    assert ndxp.cached_enterprises(session, tax_codes=["0100109106"], now=later) == {}
    ndxp.put_enterprises(
        session, entries={"0100109106": ("closed", "A")}, now=later, ttl=timedelta(seconds=60)
    )
    session.commit()
    again = ndxp.cached_enterprises(session, tax_codes=["0100109106"], now=later)
    assert again["0100109106"].status == "closed"
