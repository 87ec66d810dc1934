"""The Avro codec of a dataset: JSON-shaped input → Avro-native values → Avro binary, and back.

``AvroCodec(schema)`` compiles the schema once: fastavro's parsed schema for the binary codec and
one converter closure per field for :meth:`AvroCodec.conform`, which turns what arrives in a REST
body (decimals as strings or numbers, ISO dates and timestamps, enum symbols as strings) into the
values fastavro writes (``Decimal`` at the field's scale, ``date``, aware ``datetime``), and says
precisely what is wrong with every field of every record it refuses.

Conform rules (``RowError.rule``): ``record`` (the item is not an object), ``unknown_field``,
``required`` (absent or null without a default), ``type``, ``enum``, ``decimal``, ``date``,
``timestamp``, ``range`` (an int outside 32/64 bits), ``union`` (no branch of a general union
accepts the value).
"""

from __future__ import annotations

import functools
import io
import math
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Context, Decimal, InvalidOperation
from typing import Any

import fastavro
import orjson

from schemas.results import RowError

__all__ = ["AvroCodec", "ConformError", "codec_for", "frame", "unframe"]

MAGIC_BYTE = 0
_HEADER = struct.Struct(">BI")

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


class ConformError(Exception):
    """Raised inside a converter; carries ``(field path suffix, rule, message)`` problems."""

    def __init__(self, problems: list[tuple[str, str, str]]) -> None:
        super().__init__(problems)
        self.problems = problems


def _fail(rule: str, message: str) -> ConformError:
    return ConformError([("", rule, message)])


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


Converter = Callable[[Any], Any]


# --- converters for one Avro type -----------------------------------------------------------


def _conv_null(value: Any) -> Any:
    if value is not None:
        raise _fail("type", f"expected null, got {_json_type(value)} {_show(value)}")
    return None


def _conv_boolean(value: Any) -> Any:
    if value is True or value is False:
        return value
    raise _fail("type", f"expected a boolean, got {_json_type(value)} {_show(value)}")


def _integer(lo: int, hi: int, name: str) -> Converter:
    def conv(value: Any) -> Any:
        if type(value) is int:
            result = value
        elif isinstance(value, float) and value.is_integer():
            result = int(value)
        else:
            raise _fail(
                "type", f"expected an integer ({name}), got {_json_type(value)} {_show(value)}"
            )
        if result < lo or result > hi:
            raise _fail(
                "range", f"expected an integer between {lo} and {hi} ({name}), got {result}"
            )
        return result

    return conv


def _conv_float(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise _fail("type", f"expected a number, got {_json_type(value)} {_show(value)}")


def _conv_string(value: Any) -> Any:
    if isinstance(value, str):
        return value
    raise _fail("type", f"expected a string, got {_json_type(value)} {_show(value)}")


def _conv_bytes(value: Any) -> Any:
    raise _fail("type", "binary (bytes/fixed) fields cannot be given in JSON input")


def _enum(symbols: Sequence[str]) -> Converter:
    allowed = frozenset(symbols)
    listing = ", ".join(symbols)

    def conv(value: Any) -> Any:
        if isinstance(value, str) and value in allowed:
            return value
        raise _fail("enum", f"expected one of {listing}, got {_show(value)}")

    return conv


def _decimal(precision: int, scale: int) -> Converter:
    quantum = Decimal(1).scaleb(-scale)
    # A context of exactly `precision` digits makes quantize() refuse values that do not fit.
    context = Context(prec=precision, traps=[InvalidOperation])
    integer_digits = precision - scale

    def conv(value: Any) -> Any:
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, str):
            try:
                number = Decimal(value.strip())
            except InvalidOperation:
                raise _fail("decimal", f"expected a decimal number, got {_show(value)}") from None
        elif isinstance(value, int) and not isinstance(value, bool):
            number = Decimal(value)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise _fail("decimal", f"expected a finite decimal number, got {value}")
            # str() gives the shortest repr, so 0.1 stays 0.1 and not 0.1000000000000000055...
            number = Decimal(str(value))
        else:
            raise _fail(
                "type",
                f"expected a decimal number (string or number), got "
                f"{_json_type(value)} {_show(value)}",
            )
        if not number.is_finite():
            raise _fail("decimal", f"expected a finite decimal number, got {_show(value)}")
        try:
            result = number.quantize(quantum, context=context)
        except InvalidOperation:
            raise _fail(
                "decimal",
                f"expected a decimal with at most {integer_digits} integer "
                f"digits (precision {precision}, scale {scale}), got {_show(value)}",
            ) from None
        if result != number:
            raise _fail(
                "decimal",
                f"expected a decimal with at most {scale} fractional digits, got {_show(value)}",
            )
        return result

    return conv


def _conv_date(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) == 10 and value[4] == "-" and value[7] == "-":
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise _fail("date", f"expected a date as YYYY-MM-DD, got {_show(value)}")
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise _fail("date", f"expected a date as YYYY-MM-DD, got {_json_type(value)} {_show(value)}")


def _timestamp(millis: bool) -> Converter:
    def conv(value: Any) -> Any:
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                raise _fail(
                    "timestamp",
                    f"expected an ISO-8601 timestamp with a UTC offset, got {_show(value)}",
                ) from None
        elif isinstance(value, datetime):
            moment = value
        else:
            raise _fail(
                "timestamp",
                "expected an ISO-8601 timestamp with a UTC offset, got "
                f"{_json_type(value)} {_show(value)}",
            )
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise _fail(
                "timestamp",
                f"expected a timestamp with a UTC offset (e.g. 'Z' or "
                f"'+07:00'), got {_show(value)}",
            )
        moment = moment.astimezone(UTC)
        if millis and moment.microsecond % 1000:
            moment = moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)
        return moment

    return conv


def _nullable(inner: Converter) -> Converter:
    def conv(value: Any) -> Any:
        return None if value is None else inner(value)

    return conv


def _union(branches: list[tuple[str, Converter]]) -> Converter:
    names = ", ".join(name for name, _ in branches)

    def conv(value: Any) -> Any:
        for _, branch in branches:
            try:
                return branch(value)
            except ConformError:
                continue
        raise _fail(
            "union", f"expected one of the types [{names}], got {_json_type(value)} {_show(value)}"
        )

    return conv


def _array(item: Converter) -> Converter:
    def conv(value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise _fail("type", f"expected an array, got {_json_type(value)} {_show(value)}")
        out = []
        problems: list[tuple[str, str, str]] = []
        for i, element in enumerate(value):
            try:
                out.append(item(element))
            except ConformError as exc:
                problems.extend((f"[{i}]{path}", rule, msg) for path, rule, msg in exc.problems)
        if problems:
            raise ConformError(problems)
        return out

    return conv


def _map(item: Converter) -> Converter:
    def conv(value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise _fail("type", f"expected an object (map), got {_json_type(value)} {_show(value)}")
        out = {}
        problems: list[tuple[str, str, str]] = []
        for k, element in value.items():
            if not isinstance(k, str):
                problems.append((f"[{k!r}]", "type", "map keys must be strings"))
                continue
            try:
                out[k] = item(element)
            except ConformError as exc:
                problems.extend((f"[{k!r}]{path}", rule, msg) for path, rule, msg in exc.problems)
        if problems:
            raise ConformError(problems)
        return out

    return conv


# --- records --------------------------------------------------------------------------------

_MISSING = object()


class _Field:
    __slots__ = ("convert", "default", "name", "nullable")

    def __init__(self, name: str, convert: Converter, nullable: bool, default: Any) -> None:
        self.name = name
        self.convert = convert
        self.nullable = nullable
        self.default = default  # Avro-native, or _MISSING


class _Record:
    """The compiled converter of one record type."""

    __slots__ = ("fields", "name", "names")

    def __init__(self, name: str) -> None:
        self.name = name
        self.fields: list[_Field] = []
        self.names: frozenset[str] = frozenset()

    def problems(self, value: Mapping[str, Any], out: dict[str, Any]) -> list[tuple[str, str, str]]:
        """Fill ``out`` with converted fields; return every problem found."""
        problems: list[tuple[str, str, str]] = []
        unknown = value.keys() - self.names
        if unknown:
            problems.extend(
                (name, "unknown_field", f"field {name!r} is not in the schema {self.name}")
                for name in sorted(map(str, unknown))
            )
        for spec in self.fields:
            raw = value.get(spec.name, _MISSING)
            if raw is _MISSING or raw is None:
                if raw is _MISSING and spec.default is not _MISSING:
                    out[spec.name] = spec.default
                elif spec.nullable:
                    out[spec.name] = None
                else:
                    state = "missing" if raw is _MISSING else "null"
                    problems.append(
                        (
                            spec.name,
                            "required",
                            f"field {spec.name!r} is required and has no default, got {state}",
                        )
                    )
                continue
            try:
                out[spec.name] = spec.convert(raw)
            except ConformError as exc:
                problems.extend((spec.name + path, rule, msg) for path, rule, msg in exc.problems)
        return problems

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise _fail(
                "type", f"expected an object ({self.name}), got {_json_type(value)} {_show(value)}"
            )
        out: dict[str, Any] = {}
        problems = self.problems(value, out)
        if problems:
            raise ConformError([(f".{path}", rule, msg) for path, rule, msg in problems])
        return out


class _Compiler:
    """Turns an Avro schema (JSON form) into converter closures, resolving named types."""

    def __init__(self) -> None:
        self.named: dict[str, Converter] = {}

    def _register(self, schema: Mapping[str, Any], namespace: str | None, conv: Converter) -> str:
        name = str(schema["name"])
        ns = schema.get("namespace", namespace)
        full = name if "." in name or not ns else f"{ns}.{name}"
        self.named[full] = conv
        self.named.setdefault(name.rsplit(".", 1)[-1], conv)
        return full.rsplit(".", 1)[0] if "." in full else (ns or "")

    def compile(self, schema: Any, namespace: str | None = None) -> tuple[Converter, bool]:
        """Return ``(converter, nullable)`` for a schema."""
        if isinstance(schema, list):
            return self._compile_union(schema, namespace)
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return self._primitive(schema), schema == "null"
            full = schema if "." in schema or not namespace else f"{namespace}.{schema}"
            for candidate in (full, schema, schema.rsplit(".", 1)[-1]):
                if candidate in self.named:
                    # Late-bound so a recursive reference sees the finished converter.
                    return (lambda v, c=candidate: self.named[c](v)), False
            raise ValueError(f"unknown Avro type name {schema!r}")
        if not isinstance(schema, Mapping):
            raise ValueError(f"not an Avro schema: {schema!r}")
        kind = schema.get("type")
        logical = schema.get("logicalType")
        if logical == "decimal" and kind in ("bytes", "fixed"):
            if kind == "fixed":
                self._register(schema, namespace, _conv_bytes)
            return _decimal(int(schema["precision"]), int(schema.get("scale", 0))), False
        if logical == "date" and kind == "int":
            return _conv_date, False
        if logical in ("timestamp-millis", "timestamp-micros") and kind == "long":
            return _timestamp(logical == "timestamp-millis"), False
        if kind == "record" or kind == "error":
            return self._compile_record(schema, namespace), False
        if kind == "enum":
            conv = _enum(list(schema["symbols"]))
            self._register(schema, namespace, conv)
            return conv, False
        if kind == "fixed":
            self._register(schema, namespace, _conv_bytes)
            return _conv_bytes, False
        if kind == "array":
            return _array(self.compile(schema["items"], namespace)[0]), False
        if kind == "map":
            return _map(self.compile(schema["values"], namespace)[0]), False
        # Unknown logical types fall back to their underlying type, as the Avro spec says.
        return self.compile(kind, namespace)

    @staticmethod
    def _primitive(kind: str) -> Converter:
        return {
            "null": _conv_null,
            "boolean": _conv_boolean,
            "int": _integer(_INT_MIN, _INT_MAX, "int"),
            "long": _integer(_LONG_MIN, _LONG_MAX, "long"),
            "float": _conv_float,
            "double": _conv_float,
            "bytes": _conv_bytes,
            "string": _conv_string,
        }[kind]

    def _compile_union(self, branches: list[Any], namespace: str | None) -> tuple[Converter, bool]:
        nullable = any(b == "null" for b in branches)
        others = [b for b in branches if b != "null"]
        if not others:
            return _conv_null, True
        if len(others) == 1:
            inner = self.compile(others[0], namespace)[0]
            return (_nullable(inner) if nullable else inner), nullable
        compiled = [(self._type_name(b), self.compile(b, namespace)[0]) for b in others]
        conv = _union(compiled)
        return (_nullable(conv) if nullable else conv), nullable

    @staticmethod
    def _type_name(schema: Any) -> str:
        if isinstance(schema, Mapping):
            return str(schema.get("logicalType") or schema.get("name") or schema.get("type"))
        return str(schema)

    def _compile_record(self, schema: Mapping[str, Any], namespace: str | None) -> _Record:
        record = _Record(str(schema["name"]))
        inner_ns = self._register(schema, namespace, record)
        fields = []
        for f in schema["fields"]:
            conv, nullable = self.compile(f["type"], inner_ns)
            default: Any = _MISSING
            if "default" in f:
                default = self._default(f["default"], conv)
            fields.append(_Field(f["name"], conv, nullable, default))
        record.fields = fields
        record.names = frozenset(f.name for f in fields)
        return record

    def _default(self, value: Any, conv: Converter) -> Any:
        if value is None:
            return None
        # A union's default belongs to its first branch; converting it checks it once here.
        try:
            return conv(value)
        except ConformError:
            return value


# --- the codec ------------------------------------------------------------------------------


class AvroCodec:
    """Conform, encode and decode the records of one Avro record schema (compiled once)."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        if not isinstance(schema, Mapping) or schema.get("type") != "record":
            raise ValueError("an AvroCodec needs an Avro record schema")
        self.schema: dict[str, Any] = dict(schema)
        self.parsed = fastavro.parse_schema(self.schema)
        compiled = _Compiler().compile(self.schema)[0]
        assert isinstance(compiled, _Record)
        self._record = compiled
        self.field_names: tuple[str, ...] = tuple(f.name for f in compiled.fields)

    # -- JSON in -------------------------------------------------------------------------

    def conform(
        self, records: Sequence[object], key_field: str
    ) -> tuple[list[tuple[int, dict[str, Any]]], list[RowError]]:
        """Convert JSON-shaped records to Avro-native ones; report every violation by row."""
        valid: list[tuple[int, dict[str, Any]]] = []
        errors: list[RowError] = []
        record = self._record
        for index, item in enumerate(records):
            if not isinstance(item, Mapping):
                errors.append(
                    RowError(
                        index, None, None, "record", f"expected an object, got {_json_type(item)}"
                    )
                )
                continue
            out: dict[str, Any] = {}
            problems = record.problems(item, out)
            if problems:
                key = item.get(key_field)
                key = key if isinstance(key, str) else None
                errors.extend(RowError(index, key, path, rule, msg) for path, rule, msg in problems)
            else:
                valid.append((index, out))
        return valid, errors

    # -- Avro binary ---------------------------------------------------------------------

    def encode(self, datum: Mapping[str, Any]) -> bytes:
        """Schemaless Avro binary of one Avro-native datum."""
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, self.parsed, datum)
        return buffer.getvalue()

    def encode_many(self, data: Iterable[Mapping[str, Any]]) -> list[bytes]:
        """Schemaless Avro binary of each datum, written through one buffer."""
        buffer = io.BytesIO()
        write = fastavro.schemaless_writer
        parsed = self.parsed
        ends = []
        for datum in data:
            write(buffer, parsed, datum)
            ends.append(buffer.tell())
        view = buffer.getbuffer()
        try:
            out = []
            start = 0
            for end in ends:
                out.append(bytes(view[start:end]))
                start = end
            return out
        finally:
            view.release()

    def decode(self, payload: bytes) -> dict[str, Any]:
        """The Avro-native datum of a schemaless Avro binary payload."""
        result = fastavro.schemaless_reader(io.BytesIO(payload), self.parsed, None)
        assert isinstance(result, dict)
        return result

    # -- JSON out ------------------------------------------------------------------------

    @staticmethod
    def to_json(datum: Mapping[str, Any]) -> dict[str, Any]:
        """A JSON-friendly copy: Decimal → string, date/datetime → ISO-8601 string."""
        return {k: _jsonable(v) for k, v in datum.items()}


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("latin-1")  # the Avro JSON encoding of bytes
    return value


@functools.lru_cache(maxsize=256)
def codec_for(schema_json: str) -> AvroCodec:
    """A compiled codec per schema text (a cache of pure objects, shared safely)."""
    return AvroCodec(orjson.loads(schema_json))


# --- Confluent wire format ------------------------------------------------------------------


def frame(schema_id: int, payload: bytes) -> bytes:
    """Confluent wire framing: magic byte 0, 4-byte big-endian schema id, then the payload."""
    if not 0 <= schema_id <= 0xFFFFFFFF:
        raise ValueError(f"schema id {schema_id} does not fit in 4 unsigned bytes")
    return _HEADER.pack(MAGIC_BYTE, schema_id) + payload


def unframe(message: bytes) -> tuple[int, bytes]:
    """``(schema id, payload)`` of a Confluent-framed message; ``ValueError`` if not framed."""
    if len(message) < _HEADER.size:
        raise ValueError(f"message too short for the Confluent wire format ({len(message)} bytes)")
    magic, schema_id = _HEADER.unpack_from(message)
    if magic != MAGIC_BYTE:
        raise ValueError(f"bad magic byte {magic:#04x}, expected 0x00")
    return schema_id, bytes(message[_HEADER.size :])
