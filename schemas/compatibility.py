"""Schema evolution: may a new Avro schema follow a dataset's existing versions under a mode?

The modes are the Confluent Schema Registry's::

    BACKWARD             the new schema reads data written with the latest version
    FORWARD              the latest version reads data written with the new schema
    FULL                 both
    *_TRANSITIVE         the same, against every existing version instead of the latest only
    NONE                 anything goes

The verdict comes from ``avro.compatibility.ReaderWriterCompatibilityChecker`` (the port of
Avro Java's ``SchemaCompatibility``, the rules Confluent applies). Its merged result keeps
messages and locations as two unpaired sets, so :func:`_explain` walks a failing pair down to
single incompatibilities, asking the checker again at each level, and reports each one with its
own kind, path (in the reader schema, e.g. ``/fields/3/type``) and message.

Identity is :func:`canonical_form`: the schema's JSON with sorted keys, so key order and
whitespace do not make a new version, while a changed default, doc or logical type does (Avro's
*parsing* canonical form, :func:`parsing_canonical_form`, drops those, so two schemas equal under
it can still differ in what a reader does).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import avro.errors
import avro.schema
import fastavro
import fastavro.schema
from avro.compatibility import (
    ReaderWriterCompatibilityChecker,
    SchemaCompatibilityResult,
    SchemaCompatibilityType,
    SchemaIncompatibilityType,
    check_fixed_size,
    check_reader_enum_contains_writer_enum,
    check_schema_names,
    lookup_writer_field,
)

from schemas.descriptor import Compatibility

__all__ = [
    "KINDS",
    "MODES",
    "CompatibilityResult",
    "InvalidSchema",
    "Problem",
    "canonical_form",
    "check_compatibility",
    "fingerprint",
    "normalize_mode",
    "parse_schema",
    "parsing_canonical_form",
]

MODES: tuple[str, ...] = tuple(mode.value for mode in Compatibility)
_BACKWARD = {"BACKWARD", "BACKWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"}
_FORWARD = {"FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"}
_TRANSITIVE = {"BACKWARD_TRANSITIVE", "FORWARD_TRANSITIVE", "FULL_TRANSITIVE"}
NEW = "the new schema"
# Confluent's names for the kinds of incompatibility (avro names them in lower case).
KINDS: tuple[str, ...] = tuple(kind.value.upper() for kind in SchemaIncompatibilityType)


class InvalidSchema(ValueError):
    """The text is not JSON, or not an Avro schema both avro and fastavro accept."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a new schema cannot follow an existing version.

    ``kind`` is Confluent's name (``READER_FIELD_MISSING_DEFAULT_VALUE``, ``TYPE_MISMATCH``,
    ``MISSING_ENUM_SYMBOLS``, ``MISSING_UNION_BRANCH``, ``NAME_MISMATCH``,
    ``FIXED_SIZE_MISMATCH``); ``path`` points into the reading schema: the new one when
    ``direction`` is ``backward`` (new reads old data), the old one when ``forward``.
    """

    kind: str
    path: str
    message: str
    against_version: int
    direction: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "message": self.message,
            "against_version": self.against_version,
            "direction": self.direction,
        }

    def describe(self) -> str:
        """Confluent's verbose wording of an incompatibility."""
        return (
            f"Incompatibility{{type:{self.kind}, location:{self.path}, message:{self.message}, "
            f"oldSchemaVersion:{self.against_version}, direction:{self.direction}}}"
        )


@dataclass(frozen=True, slots=True)
class CompatibilityResult:
    """The check of one new schema against the versions its mode selects."""

    mode: str
    problems: list[Problem] = field(default_factory=list)
    checked_versions: list[int] = field(default_factory=list)

    @property
    def compatible(self) -> bool:
        return not self.problems


def normalize_mode(mode: str) -> str:
    """The mode in upper case; ``ValueError`` for anything but the seven modes."""
    upper = str(mode).strip().upper()
    if upper not in MODES:
        raise ValueError(f"unknown compatibility mode {mode!r}; one of {', '.join(MODES)}")
    return upper


def parse_schema(schema: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
    """The schema as a JSON object, checked by avro and fastavro; ``InvalidSchema`` if not.

    Only record schemas are taken: a dataset's records are Avro records.
    """
    if isinstance(schema, str | bytes):
        try:
            document = json.loads(schema)
        except ValueError as exc:
            raise InvalidSchema(f"the schema is not valid JSON: {exc}") from None
    else:
        document = schema
    if not isinstance(document, Mapping):
        raise InvalidSchema("the schema must be a JSON object (an Avro record)")
    document = dict(document)
    if document.get("type") != "record":
        raise InvalidSchema('the schema must be an Avro record ({"type": "record", ...})')
    _avro(document)
    try:
        fastavro.parse_schema(document)
    except Exception as exc:  # fastavro raises several unrelated types for bad schemas
        raise InvalidSchema(f"not a valid Avro schema: {exc}") from None
    return document


def canonical_form(schema: Mapping[str, Any]) -> str:
    """The schema's JSON with sorted keys: equal for schemas that differ only in layout."""
    return json.dumps(schema, sort_keys=True)


def fingerprint(schema: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of :func:`canonical_form`; what "identical schema" means here."""
    return hashlib.sha256(canonical_form(schema).encode()).hexdigest()


def parsing_canonical_form(schema: Mapping[str, Any]) -> str:
    """Avro's Parsing Canonical Form (the wire shape only: no docs, defaults, logical types)."""
    return str(fastavro.schema.to_parsing_canonical_form(dict(schema)))


def check_compatibility(
    new: Mapping[str, Any],
    existing: Sequence[Mapping[str, Any]],
    mode: str,
    *,
    versions: Sequence[int] | None = None,
) -> CompatibilityResult:
    """Check ``new`` against ``existing`` (oldest to newest) under ``mode``.

    ``versions`` numbers the existing schemas (default 1..n). Latest-only modes look at the last
    one; transitive modes at all of them, newest first, as Confluent does.
    """
    mode = normalize_mode(mode)
    numbers = list(versions) if versions is not None else list(range(1, len(existing) + 1))
    if len(numbers) != len(existing):
        raise ValueError("versions must number every existing schema")
    if mode == "NONE" or not existing:
        return CompatibilityResult(mode=mode)
    pairs = list(zip(numbers, existing, strict=True))
    selected = pairs if mode in _TRANSITIVE else pairs[-1:]
    new_schema = _avro(new)
    problems: list[Problem] = []
    for version, old in reversed(selected):
        old_schema = _avro(old)
        label = f"version {version}"
        if mode in _BACKWARD:
            problems += _problems(new_schema, old_schema, version, "backward", NEW, label)
        if mode in _FORWARD:
            problems += _problems(old_schema, new_schema, version, "forward", label, NEW)
    return CompatibilityResult(
        mode=mode, problems=problems, checked_versions=[v for v, _ in reversed(selected)]
    )


# --- internals ---------------------------------------------------------------------------------


def _avro(schema: Mapping[str, Any]) -> avro.schema.Schema:
    try:
        return avro.schema.parse(json.dumps(schema))
    except (avro.errors.AvroException, TypeError, ValueError, KeyError) as exc:
        raise InvalidSchema(f"not a valid Avro schema: {exc}") from None


def _problems(
    reader: avro.schema.Schema,
    writer: avro.schema.Schema,
    version: int,
    direction: str,
    reader_label: str,
    writer_label: str,
) -> list[Problem]:
    return [
        Problem(
            kind=kind,
            path=path,
            message=_message(kind, detail, reader_label, writer_label),
            against_version=version,
            direction=direction,
        )
        for kind, path, detail in _explain(reader, writer, "")
    ]


def _message(kind: str, detail: str, reader: str, writer: str) -> str:
    if kind == "READER_FIELD_MISSING_DEFAULT_VALUE":
        return f"field {detail!r} of {reader} has no default value and is missing in {writer}"
    if kind == "MISSING_ENUM_SYMBOLS":
        symbols = ", ".join(sorted(re.findall(r"'([^']*)'", detail))) or detail
        return f"{writer} has enum symbols {reader} lacks: {symbols}"
    if kind == "MISSING_UNION_BRANCH":
        return f"{reader} cannot read a branch of {writer}: {detail}"
    if kind == "NAME_MISMATCH":
        return f"{reader} names the type differently from {writer} ({detail})"
    if kind == "FIXED_SIZE_MISMATCH":
        return f"{reader} has another fixed size than {writer} ({detail})"
    return f"{reader} cannot read {writer}: {detail}"


Found = tuple[str, str, str]  # (kind, path, detail)


def _verdict(reader: avro.schema.Schema, writer: avro.schema.Schema) -> SchemaCompatibilityResult:
    # A fresh checker per question: its memo map is per pair and per run.
    return ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)


def _join(prefix: str, location: str) -> str:
    return (prefix + ("" if location == "/" else location)) or "/"


def _single(result: SchemaCompatibilityResult, prefix: str) -> Found:
    # Merging with a compatible result adds its placeholder location "/" to the set.
    locations = sorted(result.locations - {"/"}) or ["/"]
    return (
        result.incompatibilities[0].value.upper(),
        _join(prefix, locations[0]),
        next(iter(result.messages), ""),
    )


def _explain(reader: avro.schema.Schema, writer: avro.schema.Schema, prefix: str) -> list[Found]:
    """Every incompatibility of reading ``writer`` data with ``reader``, one by one."""
    result = _verdict(reader, writer)
    if result.compatibility is not SchemaCompatibilityType.incompatible:
        return []
    if len(result.incompatibilities) == 1:
        return [_single(result, prefix)]
    if writer.type == "union" and reader.type != "union":
        return [f for branch in _branches(writer) for f in _explain(reader, branch, prefix)]
    if reader.type != writer.type:
        return [_single(result, prefix)]
    found: list[Found] = []
    if reader.type in ("record", "enum", "fixed"):
        found += _leaf(check_schema_names(_named(reader), _named(writer), ["/"]), prefix)
    if reader.type == "record":
        record = cast(avro.schema.RecordSchema, reader)
        for index, reader_field in enumerate(record.fields):
            here = f"{prefix}/fields/{index}"
            writer_field = lookup_writer_field(
                writer_schema=cast(avro.schema.RecordSchema, writer), reader_field=reader_field
            )
            if writer_field is not None:
                found += _explain(reader_field.type, writer_field.type, here + "/type")
            elif not reader_field.has_default:
                found.append(("READER_FIELD_MISSING_DEFAULT_VALUE", here, reader_field.name))
    elif reader.type == "union":
        for index, branch in enumerate(_branches(writer)):
            if _verdict(reader, branch).compatibility is SchemaCompatibilityType.incompatible:
                found.append(
                    (
                        "MISSING_UNION_BRANCH",
                        f"{prefix}/{index}",
                        f"reader union lacking writer type: {branch.type.upper()}",
                    )
                )
    elif reader.type == "array":
        found += _explain(_items(reader), _items(writer), prefix + "/items")
    elif reader.type == "map":
        found += _explain(_values(reader), _values(writer), prefix + "/values")
    elif reader.type == "enum":
        enums = cast(avro.schema.EnumSchema, reader), cast(avro.schema.EnumSchema, writer)
        found += _leaf(check_reader_enum_contains_writer_enum(*enums, ["/"]), prefix)
    elif reader.type == "fixed":
        sizes = cast(avro.schema.FixedSchema, reader), cast(avro.schema.FixedSchema, writer)
        found += _leaf(check_fixed_size(*sizes, ["/"]), prefix)
    if not found:  # a shape this walk does not know: report the checker's findings as they are
        found = [
            (kind.value.upper(), _join(prefix, location), message)
            for kind, location, message in zip(
                result.incompatibilities,
                sorted(result.locations - {"/"}) or ["/"] * len(result.incompatibilities),
                sorted(result.messages),
                strict=False,
            )
        ]
    return found


def _leaf(result: SchemaCompatibilityResult, prefix: str) -> list[Found]:
    if result.compatibility is SchemaCompatibilityType.incompatible:
        return [_single(result, prefix)]
    return []


def _named(schema: avro.schema.Schema) -> avro.schema.NamedSchema:
    return cast(avro.schema.NamedSchema, schema)


def _branches(schema: avro.schema.Schema) -> list[avro.schema.Schema]:
    return list(cast(avro.schema.UnionSchema, schema).schemas)


def _items(schema: avro.schema.Schema) -> avro.schema.Schema:
    return cast(avro.schema.ArraySchema, schema).items


def _values(schema: avro.schema.Schema) -> avro.schema.Schema:
    return cast(avro.schema.MapSchema, schema).values
