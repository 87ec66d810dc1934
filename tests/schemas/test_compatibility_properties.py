"""Properties of schema evolution: a schema is compatible with itself under every mode, and
adding a field with a default is backward compatible (without a default, it is not)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.compatibility import MODES, check_compatibility

NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
# A primitive type and a default value of that type.
PRIMITIVES: list[tuple[str, Any]] = [
    ("boolean", False),
    ("int", 0),
    ("long", 7),
    ("float", 1.5),
    ("double", 2.5),
    ("string", "x"),
    ("bytes", "\u00ff"),
]


@st.composite
def field_types(draw: st.DrawFn, name: str) -> tuple[Any, Any]:
    """An Avro field type and a valid default for it."""
    primitive, default = draw(st.sampled_from(PRIMITIVES))
    shape = draw(st.sampled_from(["plain", "nullable", "array", "map", "enum"]))
    if shape == "nullable":
        return ["null", primitive], None
    if shape == "array":
        return {"type": "array", "items": primitive}, []
    if shape == "map":
        return {"type": "map", "values": primitive}, {}
    if shape == "enum":
        symbols = draw(st.lists(NAMES.map(str.upper), min_size=1, max_size=4, unique=True))
        return {"type": "enum", "name": f"E_{name}", "symbols": symbols}, symbols[0]
    return primitive, default


@st.composite
def record_schemas(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(NAMES, min_size=1, max_size=8, unique=True))
    fields = []
    for name in names:
        type_, default = draw(field_types(name))
        field: dict[str, Any] = {"name": name, "type": type_}
        if draw(st.booleans()):
            field["default"] = default
        fields.append(field)
    return {"type": "record", "name": "Row", "namespace": "vn.gov.mof.fdxp.test", "fields": fields}


@st.composite
def added_field(draw: st.DrawFn, schema: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    taken = {f["name"] for f in schema["fields"]}
    name = draw(NAMES.filter(lambda n: n not in taken and f"E_{n}" not in taken))
    type_, default = draw(field_types(name))
    return {"name": name, "type": type_}, default


@settings(max_examples=60, deadline=None)
@given(schema=record_schemas(), mode=st.sampled_from(MODES))
def test_a_schema_is_compatible_with_itself(schema: dict[str, Any], mode: str) -> None:
    result = check_compatibility(schema, [schema], mode)
    assert result.compatible, result.problems


@settings(max_examples=60, deadline=None)
@given(data=st.data(), schema=record_schemas())
def test_adding_a_field_with_a_default_is_backward_compatible(
    data: st.DataObject, schema: dict[str, Any]
) -> None:
    field, default = data.draw(added_field(schema))
    with_default = {**schema, "fields": [*schema["fields"], {**field, "default": default}]}
    for mode in ("BACKWARD", "BACKWARD_TRANSITIVE", "FULL"):
        result = check_compatibility(with_default, [schema], mode)
        assert result.compatible, (mode, result.problems)
    # The same field without a default cannot be read from old data.
    without_default = {**schema, "fields": [*schema["fields"], field]}
    assert not check_compatibility(without_default, [schema], "BACKWARD").compatible
