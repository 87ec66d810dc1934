from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from schemas.descriptor import Compatibility, DatasetDescriptor, load_descriptor, seed_descriptors

SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Thing",
    "fields": [
        {"name": "thing_id", "type": "string"},
        {
            "name": "amount",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2},
        },
    ],
}


def descriptor(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "test.thing",
        "title": "Things",
        "owner": "THTK",
        "domain": "test",
        "classification": "internal",
        "key": "thing_id",
        "schema": SCHEMA,
    }
    data.update(overrides)
    return data


def test_minimal_descriptor_gets_defaults():
    d = DatasetDescriptor.model_validate(descriptor())
    assert d.compatibility is Compatibility.BACKWARD
    assert d.quality == [] and d.tags == [] and d.sla is None and d.ndxp is False
    assert d.field_names == ["thing_id", "amount"]
    assert d.to_document()["schema"] == SCHEMA


@pytest.mark.parametrize(
    ("overrides", "text"),
    [
        ({"id": "Test.thing"}, "id"),
        ({"id": "thing"}, "id"),
        ({"owner": "thtk"}, "owner"),
        ({"classification": "secret"}, "classification"),
        ({"compatibility": "SIDEWAYS"}, "compatibility"),
        ({"domain": "tax"}, "must equal the id's prefix 'test'"),
        ({"key": "missing"}, "key 'missing' is not a field"),
        (
            {"schema": {"type": "record", "name": "T", "fields": [{"name": "x", "type": "nope"}]}},
            "not a valid Avro schema",
        ),
        ({"schema": {"type": "string"}}, "must be an Avro record"),
        ({"quality": [{"type": "not_an_expectation"}]}, "quality"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_descriptors_are_refused(overrides, text):
    with pytest.raises(ValidationError, match=text):
        DatasetDescriptor.model_validate(descriptor(**overrides))


def test_all_compatibility_modes_are_accepted():
    modes = [
        "BACKWARD",
        "BACKWARD_TRANSITIVE",
        "FORWARD",
        "FORWARD_TRANSITIVE",
        "FULL",
        "FULL_TRANSITIVE",
        "NONE",
    ]
    for mode in modes:
        parsed = DatasetDescriptor.model_validate(descriptor(compatibility=mode))
        assert parsed.compatibility == mode


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_load_descriptor_resolves_a_schema_path(tmp_path: Path, suffix: str):
    (tmp_path / "thing.avsc").write_text(json.dumps(SCHEMA))
    data = descriptor(
        schema="thing.avsc",
        quality=[{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "thing_id"}}],
    )
    path = tmp_path / f"test.thing{suffix}"
    path.write_text(json.dumps(data) if suffix == ".json" else yaml.safe_dump(data))
    loaded = load_descriptor(path)
    assert loaded.avro_schema == SCHEMA
    assert loaded.quality_configs == [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "thing_id"}}
    ]


def test_load_descriptor_refuses_a_non_mapping(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match="mapping"):
        load_descriptor(path)


def test_seed_einvoice_descriptor():
    [einvoice] = [d for d in seed_descriptors() if d.id == "tax.einvoice"]
    assert (einvoice.owner, einvoice.domain, einvoice.classification) == (
        "TCT",
        "tax",
        "confidential",
    )
    assert einvoice.key == "invoice_id" and einvoice.ndxp is True
    assert einvoice.sla == {"freshness": "PT24H"}
    assert einvoice.avro_schema["name"] == "Einvoice"
    types = {rule.type for rule in einvoice.quality}
    assert {
        "expect_column_values_to_be_valid_mst",
        "expect_multicolumn_sum_to_equal_column",
        "expect_column_values_to_be_unique",
        "expect_column_values_to_be_null",
    } <= types
    conditional = [r for r in einvoice.quality if "row_condition" in r.kwargs]
    assert {r.kwargs["column"] for r in conditional} == {"exchange_rate", "tax_authority_code"}
