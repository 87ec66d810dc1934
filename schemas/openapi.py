"""An OpenAPI 3.1 description of a dataset's NDXP service, generated from its Avro schema.

Pure: data in, data out. The record shape follows what the hub answers (schemas/codec.py
``AvroCodec.to_json``): decimals are strings, dates and timestamps ISO 8601 strings, bytes
Avro-JSON strings. Named Avro types become ``components/schemas`` entries referenced by ``$ref``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["avro_to_json_schema", "dataset_openapi"]

_PRIMITIVES: dict[str, dict[str, Any]] = {
    "null": {"type": "null"},
    "boolean": {"type": "boolean"},
    "int": {"type": "integer", "format": "int32"},
    "long": {"type": "integer", "format": "int64"},
    "float": {"type": "number", "format": "float"},
    "double": {"type": "number", "format": "double"},
    "bytes": {"type": "string", "description": "Avro JSON encoding of bytes"},
    "string": {"type": "string"},
}
_LOGICAL: dict[str, dict[str, Any]] = {
    "decimal": {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "description": "a decimal"},
    "date": {"type": "string", "format": "date"},
    "time-millis": {"type": "string", "format": "time"},
    "time-micros": {"type": "string", "format": "time"},
    "timestamp-millis": {"type": "string", "format": "date-time"},
    "timestamp-micros": {"type": "string", "format": "date-time"},
    "local-timestamp-millis": {"type": "string", "format": "date-time"},
    "local-timestamp-micros": {"type": "string", "format": "date-time"},
    "uuid": {"type": "string", "format": "uuid"},
}


def _full_name(schema: dict[str, Any], namespace: str | None) -> str:
    name = str(schema["name"])
    if "." in name:
        return name
    space = schema.get("namespace", namespace)
    return f"{space}.{name}" if space else name


def _component_key(full_name: str) -> str:
    return full_name.replace(".", "_")


class _Converter:
    def __init__(self) -> None:
        self.components: dict[str, dict[str, Any]] = {}
        self._short: dict[str, str] = {}

    def convert(self, schema: Any, namespace: str | None = None) -> dict[str, Any]:
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return dict(_PRIMITIVES[schema])
            name = schema if "." in schema or namespace is None else f"{namespace}.{schema}"
            if name not in self.components:
                name = self._short.get(schema, name)
            return {"$ref": f"#/components/schemas/{_component_key(name)}"}
        if isinstance(schema, list):
            return self._union(schema, namespace)
        kind = schema.get("type")
        logical = schema.get("logicalType")
        if logical in _LOGICAL:
            return {**_LOGICAL[logical], **_doc(schema)}
        if kind in ("record", "error"):
            return self._named(schema, namespace, self._record)
        if kind == "enum":
            return self._named(
                schema,
                namespace,
                lambda s, _ns: {"type": "string", "enum": list(s["symbols"]), **_doc(s)},
            )
        if kind == "fixed":
            return self._named(
                schema,
                namespace,
                lambda s, _ns: {"type": "string", "description": f"fixed, {s['size']} bytes"},
            )
        if kind == "array":
            return {"type": "array", "items": self.convert(schema["items"], namespace)}
        if kind == "map":
            return {
                "type": "object",
                "additionalProperties": self.convert(schema["values"], namespace),
            }
        return self.convert(kind, namespace)

    def _named(self, schema: dict[str, Any], namespace: str | None, build: Any) -> dict[str, Any]:
        name = _full_name(schema, namespace)
        key = _component_key(name)
        self._short.setdefault(str(schema["name"]).rsplit(".", 1)[-1], name)
        if key not in self.components:
            self.components[key] = {}  # reserve first: a record may refer to itself
            self.components[key] = build(schema, name.rpartition(".")[0] or None)
        return {"$ref": f"#/components/schemas/{key}"}

    def _record(self, schema: dict[str, Any], namespace: str | None) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for field in schema.get("fields", []):
            converted = self.convert(field["type"], namespace)
            properties[field["name"]] = {**converted, **_doc(field)}
            if "default" not in field and not _nullable(field["type"]):
                required.append(field["name"])
        out: dict[str, Any] = {"type": "object", "properties": properties, **_doc(schema)}
        if required:
            out["required"] = required
        return out

    def _union(self, branches: list[Any], namespace: str | None) -> dict[str, Any]:
        converted = [self.convert(b, namespace) for b in branches]
        return converted[0] if len(converted) == 1 else {"anyOf": converted}


def _nullable(schema: Any) -> bool:
    return schema == "null" or (isinstance(schema, list) and "null" in schema)


def _doc(schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": schema["doc"]} if schema.get("doc") else {}


def avro_to_json_schema(schema: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(the JSON Schema of a record as the hub renders it, the named components)``."""
    converter = _Converter()
    root = converter.convert(schema)
    return root, converter.components


def dataset_openapi(
    *,
    dataset_id: str,
    title: str,
    description: str,
    avro_schema: dict[str, Any],
    key_field: str,
    schema_version: int,
    service_id: str | None = None,
) -> dict[str, Any]:
    """The OpenAPI document of one dataset's NDXP service: ``GET /records``, paged by ``after``,
    as the provider serves it under ``/ndxp/<dataset id>/records``."""
    record, components = avro_to_json_schema(avro_schema)
    components = {
        **components,
        "Record": {
            "type": "object",
            "required": ["seq", "id", "key", "batch_id", "schema_id", "created_at", "data"],
            "properties": {
                "seq": {"type": "integer", "description": "the record's sequence in the dataset"},
                "id": {"type": "string", "format": "uuid", "description": "stable record id"},
                "key": {"type": "string", "description": f"the record key ({key_field})"},
                "batch_id": {"type": "string"},
                "schema_id": {"type": "integer"},
                "created_at": {"type": "string", "format": "date-time"},
                "data": {
                    **record,
                    "description": "the record; only the fields of the caller's access right",
                },
            },
        },
        "RecordsPage": {
            "type": "object",
            "required": ["dataset_id", "items", "next_after"],
            "properties": {
                "dataset_id": {"type": "string", "const": dataset_id},
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/Record"}},
                "next_after": {"type": "integer", "description": "pass as `after` for more"},
            },
        },
        "Error": {
            "type": "object",
            "required": ["type", "message", "detail"],
            "properties": {
                "type": {
                    "type": "string",
                    "description": "whose fault: caller.*, platform.* or provider.*",
                },
                "message": {"type": "string"},
                "detail": {"type": "string", "description": "an id in the provider's logs"},
            },
        },
    }
    error = {
        "description": "refused; the body says whose fault",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    info: dict[str, Any] = {
        "title": title,
        "version": str(schema_version),
        "description": description or title,
    }
    if service_id:
        info["x-ndxp-service-id"] = service_id
    return {
        "openapi": "3.1.0",
        "info": info,
        "paths": {
            "/records": {
                "get": {
                    "operationId": f"read_{dataset_id.replace('.', '_')}",
                    "summary": f"Page the records of {dataset_id} by sequence",
                    "parameters": [
                        _query(
                            "after",
                            {"type": "integer", "minimum": 0, "default": 0},
                            "return records with seq > after",
                        ),
                        _query(
                            "limit",
                            {"type": "integer", "minimum": 1, "maximum": 5000, "default": 500},
                            "page size",
                        ),
                        _query(
                            "key",
                            {"type": "string", "maxLength": 200},
                            f"only the versions of one key ({key_field})",
                        ),
                        _query(
                            "view",
                            {"type": "string", "enum": ["history", "latest"], "default": "history"},
                            "latest keeps only each key's newest version",
                        ),
                    ],
                    "responses": {
                        "200": {
                            "description": "a page of records",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/RecordsPage"}
                                }
                            },
                        },
                        **{code: error for code in ("400", "401", "403", "404", "409", "503")},
                    },
                }
            }
        },
        "components": {"schemas": components},
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }
