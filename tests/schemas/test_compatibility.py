"""Schema evolution rules: every mode with schema pairs that pass and that fail."""

from __future__ import annotations

import json
from typing import Any

import pytest

from schemas.compatibility import (
    MODES,
    InvalidSchema,
    canonical_form,
    check_compatibility,
    fingerprint,
    normalize_mode,
    parse_schema,
    parsing_canonical_form,
)
from schemas.descriptor import SEED_DIR

BACKWARDS = ("BACKWARD", "BACKWARD_TRANSITIVE")
FORWARDS = ("FORWARD", "FORWARD_TRANSITIVE")
FULLS = ("FULL", "FULL_TRANSITIVE")


def record(*fields: dict[str, Any], name: str = "Invoice") -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "t", "fields": list(fields)}


def field(name: str, type_: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


ID = field("id", "string")
STATUS = {"type": "enum", "name": "Status", "symbols": ["issued", "cancelled"]}


def verdicts(new: dict[str, Any], old: dict[str, Any]) -> dict[str, bool]:
    return {mode: check_compatibility(new, [old], mode).compatible for mode in MODES}


def expect(new: dict[str, Any], old: dict[str, Any], *, backward: bool, forward: bool) -> None:
    """One pair, all seven modes: the direction verdicts decide the rest."""
    expected = {
        **dict.fromkeys(BACKWARDS, backward),
        **dict.fromkeys(FORWARDS, forward),
        **dict.fromkeys(FULLS, backward and forward),
        "NONE": True,
    }
    assert verdicts(new, old) == expected


def only_problem(new: dict[str, Any], old: dict[str, Any], mode: str) -> tuple[str, str]:
    result = check_compatibility(new, [old], mode)
    assert len(result.problems) == 1, result.problems
    return result.problems[0].kind, result.problems[0].path


# --- fields ------------------------------------------------------------------------------------
def test_field_added_with_a_default_passes_every_mode() -> None:
    old = record(ID)
    new = record(ID, field("note", ["null", "string"], default=None))
    expect(new, old, backward=True, forward=True)


def test_field_added_without_a_default_breaks_backward() -> None:
    old = record(ID)
    new = record(ID, field("amount", "long"))
    expect(new, old, backward=False, forward=True)
    assert only_problem(new, old, "BACKWARD") == ("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/1")
    problem = check_compatibility(new, [old], "BACKWARD").problems[0]
    assert "'amount'" in problem.message and problem.against_version == 1
    assert problem.direction == "backward"


def test_field_removed_that_had_a_default_passes_every_mode() -> None:
    old = record(ID, field("currency", "string", default="VND"))
    new = record(ID)
    expect(new, old, backward=True, forward=True)


def test_field_removed_without_a_default_breaks_forward() -> None:
    old = record(ID, field("amount", "long"))
    new = record(ID)
    expect(new, old, backward=True, forward=False)
    result = check_compatibility(new, [old], "FORWARD")
    [problem] = result.problems
    # The path is in the reading schema: the old one, for a forward check.
    assert (problem.kind, problem.path, problem.direction) == (
        "READER_FIELD_MISSING_DEFAULT_VALUE",
        "/fields/1",
        "forward",
    )


# --- types -------------------------------------------------------------------------------------
def test_int_promoted_to_long_reads_old_data_but_old_readers_cannot_read_new() -> None:
    old = record(ID, field("number", "int"))
    new = record(ID, field("number", "long"))
    expect(new, old, backward=True, forward=False)
    assert only_problem(new, old, "FORWARD") == ("TYPE_MISMATCH", "/fields/1/type")


def test_long_narrowed_to_int_breaks_backward() -> None:
    old = record(ID, field("number", "long"))
    new = record(ID, field("number", "int"))
    expect(new, old, backward=False, forward=True)
    kind, path = only_problem(new, old, "BACKWARD")
    assert (kind, path) == ("TYPE_MISMATCH", "/fields/1/type")
    message = check_compatibility(new, [old], "BACKWARD").problems[0].message
    assert "int" in message and "long" in message


def test_string_changed_to_int_breaks_both_directions() -> None:
    old = record(ID, field("form_no", "string"))
    new = record(ID, field("form_no", "int"))
    expect(new, old, backward=False, forward=False)


def test_renamed_record_is_a_name_mismatch() -> None:
    old = record(ID)
    new = record(ID, name="Receipt")
    expect(new, old, backward=False, forward=False)
    assert only_problem(new, old, "BACKWARD") == ("NAME_MISMATCH", "/name")


def test_fixed_size_change_is_reported() -> None:
    old = record(ID, field("hash", {"type": "fixed", "name": "Hash", "size": 16}))
    new = record(ID, field("hash", {"type": "fixed", "name": "Hash", "size": 32}))
    expect(new, old, backward=False, forward=False)
    assert only_problem(new, old, "BACKWARD") == ("FIXED_SIZE_MISMATCH", "/fields/1/type/size")


# --- enums and unions --------------------------------------------------------------------------
def test_enum_symbol_added_breaks_forward() -> None:
    old = record(ID, field("status", STATUS))
    new = record(ID, field("status", {**STATUS, "symbols": ["issued", "cancelled", "adjusted"]}))
    expect(new, old, backward=True, forward=False)
    kind, path = only_problem(new, old, "FORWARD")
    assert (kind, path) == ("MISSING_ENUM_SYMBOLS", "/fields/1/type/symbols")
    assert "adjusted" in check_compatibility(new, [old], "FORWARD").problems[0].message


def test_enum_symbol_removed_breaks_backward() -> None:
    old = record(ID, field("status", STATUS))
    new = record(ID, field("status", {**STATUS, "symbols": ["issued"]}))
    expect(new, old, backward=False, forward=True)
    assert only_problem(new, old, "BACKWARD") == ("MISSING_ENUM_SYMBOLS", "/fields/1/type/symbols")


def test_union_widened_breaks_forward() -> None:
    old = record(ID, field("buyer", ["null", "string"], default=None))
    new = record(ID, field("buyer", ["null", "string", "long"], default=None))
    expect(new, old, backward=True, forward=False)
    assert only_problem(new, old, "FORWARD") == ("MISSING_UNION_BRANCH", "/fields/1/type/2")


def test_union_narrowed_breaks_backward() -> None:
    old = record(ID, field("buyer", ["null", "string", "long"], default=None))
    new = record(ID, field("buyer", ["null", "string"], default=None))
    expect(new, old, backward=False, forward=True)
    assert only_problem(new, old, "BACKWARD") == ("MISSING_UNION_BRANCH", "/fields/1/type/2")


def test_optional_field_made_required_breaks_backward() -> None:
    old = record(ID, field("buyer", ["null", "string"], default=None))
    new = record(ID, field("buyer", "string"))
    expect(new, old, backward=False, forward=True)


def test_every_problem_of_a_pair_is_reported_with_its_own_path() -> None:
    old = record(
        field("id", "int"),
        field("status", STATUS),
        field("buyer", ["null", "string", "int"], default=None),
    )
    new = record(
        field("id", "string"),
        field("amount", "long"),
        field("status", {**STATUS, "symbols": ["issued"]}),
        field("buyer", ["null", "long"], default=None),
    )
    result = check_compatibility(new, [old], "BACKWARD")
    found = {(p.kind, p.path) for p in result.problems}
    assert found == {
        ("TYPE_MISMATCH", "/fields/0/type"),
        ("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/1"),
        ("MISSING_ENUM_SYMBOLS", "/fields/2/type/symbols"),
        ("MISSING_UNION_BRANCH", "/fields/3/type/1"),
    }
    assert all(p.message for p in result.problems)


def test_nested_record_problems_carry_the_nested_path() -> None:
    address = {"type": "record", "name": "Address", "fields": [field("city", "string")]}
    wider = {**address, "fields": [field("city", "string"), field("zip", "string")]}
    old = record(ID, field("address", address))
    new = record(ID, field("address", wider))
    assert only_problem(new, old, "BACKWARD") == (
        "READER_FIELD_MISSING_DEFAULT_VALUE",
        "/fields/1/type/fields/1",
    )


# --- transitive vs latest only -----------------------------------------------------------------
def test_transitive_modes_check_every_version_latest_only_modes_the_last() -> None:
    v1 = record(ID)
    v2 = record(ID, field("region", "string", default="north"))
    v3 = record(ID, field("region", "string"))  # compatible with v2, not with v1
    results = {mode: check_compatibility(v3, [v1, v2], mode) for mode in MODES}
    assert results["BACKWARD"].compatible
    assert results["FULL"].compatible
    assert not results["BACKWARD_TRANSITIVE"].compatible
    assert not results["FULL_TRANSITIVE"].compatible
    assert [p.against_version for p in results["BACKWARD_TRANSITIVE"].problems] == [1]
    assert results["BACKWARD"].checked_versions == [2]
    assert results["BACKWARD_TRANSITIVE"].checked_versions == [2, 1]


def test_forward_transitive_against_an_older_version() -> None:
    v1 = record(ID, field("region", "string"))
    v2 = record(ID, field("region", "string", default="north"))
    v3 = record(ID)  # v2 can read it (default), v1 cannot
    assert check_compatibility(v3, [v1, v2], "FORWARD").compatible
    result = check_compatibility(v3, [v1, v2], "FORWARD_TRANSITIVE")
    assert [(p.kind, p.against_version) for p in result.problems] == [
        ("READER_FIELD_MISSING_DEFAULT_VALUE", 1)
    ]


def test_versions_label_the_problems() -> None:
    old = record(ID)
    new = record(ID, field("amount", "long"))
    result = check_compatibility(new, [old, old], "BACKWARD_TRANSITIVE", versions=[4, 7])
    assert [p.against_version for p in result.problems] == [7, 4]
    with pytest.raises(ValueError):
        check_compatibility(new, [old], "BACKWARD", versions=[1, 2])


# --- NONE, identity, the first version ---------------------------------------------------------
def test_none_always_passes() -> None:
    old = record(field("a", "int"))
    new = record(field("b", {"type": "array", "items": "string"}), name="Other")
    assert check_compatibility(new, [old], "NONE").compatible
    assert not check_compatibility(new, [old], "FULL").compatible


def test_first_version_has_nothing_to_break() -> None:
    assert all(check_compatibility(record(ID), [], mode).compatible for mode in MODES)


def _sample_schemas() -> list[dict[str, Any]]:
    seeds = [json.loads(p.read_text()) for p in sorted(SEED_DIR.glob("*.avsc"))]
    assert len(seeds) >= 1
    return [
        *seeds,
        record(ID, field("status", STATUS), field("n", ["null", "long"], default=None)),
        record(
            ID,
            field("tags", {"type": "array", "items": "string"}),
            field("attrs", {"type": "map", "values": ["null", "double"]}),
            field("hash", {"type": "fixed", "name": "Hash", "size": 8}),
        ),
    ]


@pytest.mark.parametrize("mode", MODES)
def test_every_schema_is_compatible_with_itself(mode: str) -> None:
    for schema in _sample_schemas():
        result = check_compatibility(schema, [schema, schema], mode)
        assert result.compatible, (schema["name"], result.problems)


def test_modes_are_normalized_and_checked() -> None:
    assert normalize_mode("full_transitive") == "FULL_TRANSITIVE"
    assert check_compatibility(record(ID), [record(ID)], "backward").mode == "BACKWARD"
    with pytest.raises(ValueError, match="unknown compatibility mode"):
        check_compatibility(record(ID), [record(ID)], "SIDEWAYS")


# --- parsing and canonical forms ---------------------------------------------------------------
def test_parse_schema_accepts_text_and_mappings_and_refuses_the_rest() -> None:
    schema = record(ID)
    assert parse_schema(json.dumps(schema)) == schema
    assert parse_schema(schema) == schema
    for bad, why in [
        ("{not json", "not valid JSON"),
        ('"string"', "JSON object"),
        ('{"type": "enum", "name": "E", "symbols": ["A"]}', "Avro record"),
        (json.dumps(record(field("a", "no_such_type"))), "not a valid Avro schema"),
        (json.dumps({"type": "record", "name": "R"}), "not a valid Avro schema"),
    ]:
        with pytest.raises(InvalidSchema, match=why):
            parse_schema(bad)


def test_canonical_form_ignores_layout_but_not_meaning() -> None:
    schema = record(ID, field("currency", "string", default="VND"))
    shuffled = json.loads(json.dumps(schema, sort_keys=True, indent=4))
    reordered = {k: schema[k] for k in reversed(list(schema))}
    assert canonical_form(shuffled) == canonical_form(reordered) == canonical_form(schema)
    assert fingerprint(reordered) == fingerprint(schema)
    changed_default = record(ID, field("currency", "string", default="USD"))
    assert fingerprint(changed_default) != fingerprint(schema)
    # Avro's parsing canonical form cannot tell them apart: not enough for identity.
    assert parsing_canonical_form(changed_default) == parsing_canonical_form(schema)


def test_fingerprint_matches_the_catalogs_stored_fingerprint() -> None:
    from catalog.repository import schema_fingerprint

    for schema in _sample_schemas():
        assert fingerprint(schema) == schema_fingerprint(schema)
