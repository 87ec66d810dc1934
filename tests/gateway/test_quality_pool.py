"""Great Expectations in a worker process gives the same answers as in the gateway process."""

from __future__ import annotations

import json

import pytest

from gateway.contracts import Contract, QualityGate
from gateway.quality_pool import ProcessQualityGate
from schemas.codec import codec_for
from schemas.descriptor import seed_descriptors
from schemas.quality import QualityEngine
from tests.factories import einvoice, einvoices

pytestmark = pytest.mark.integration


def tax_contract() -> Contract:
    descriptor = next(d for d in seed_descriptors() if d.id == "tax.einvoice")
    return Contract(
        dataset_id=descriptor.id,
        owner=descriptor.owner,
        status="active",
        key_field=descriptor.key,
        schema_id=1,
        schema_version=1,
        codec=codec_for(json.dumps(descriptor.avro_schema)),
        suite_id="tax.einvoice.v1",
        suite_version=1,
        expectations=descriptor.quality_configs,
    )


def test_worker_process_matches_in_process(quality_engine: QualityEngine) -> None:
    contract = tax_contract()
    records = [*einvoices(20, seed=4), einvoice(vat_rate="7"), einvoice(total_amount="1")]
    rows, conform_errors = contract.codec.conform(records, contract.key_field)
    assert conform_errors == []
    expected = QualityGate(quality_engine).check(contract, rows)
    gate = ProcessQualityGate(1)
    try:
        gate.warm_up()
        errors, rules = gate.check(contract, rows)
    finally:
        gate.close()
    assert {(e.index, e.rule) for e in errors} == {(e.index, e.rule) for e in expected[0]}
    assert {e.index for e in errors} == {20, 21}
    assert [r.as_dict() for r in rules] == [r.as_dict() for r in expected[1]]
    assert gate.check(contract, []) == ([], [])


def test_a_dead_worker_is_replaced() -> None:
    import os
    import signal

    contract = tax_contract()
    rows, _ = contract.codec.conform([*einvoices(3, seed=5), einvoice(vat_rate="7")], "invoice_id")
    gate = ProcessQualityGate(1)
    try:
        gate.warm_up()
        pid = gate.worker_pid()
        os.kill(pid, signal.SIGKILL)
        errors, _ = gate.check(contract, rows)  # answered by a new worker
        assert {e.index for e in errors} == {3}
        assert gate.worker_pid() != pid
    finally:
        gate.close()
