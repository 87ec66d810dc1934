"""Dataset descriptors: what an admin registers for a dataset (JSON or YAML)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import fastavro
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "Compatibility",
    "DatasetDescriptor",
    "QualityRule",
    "load_descriptor",
    "seed_descriptors",
]

SEED_DIR = Path(__file__).resolve().parent / "seed"


class Compatibility(StrEnum):
    """Schema evolution modes, as the Confluent Schema Registry names them."""

    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"
    NONE = "NONE"


class QualityRule(BaseModel):
    """One Great Expectations expectation config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(pattern=r"^expect_[a-z0-9_]+$")
    kwargs: dict[str, Any] = Field(default_factory=dict)


class DatasetDescriptor(BaseModel):
    """The contract and catalogue entry of one dataset."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
    title: str = Field(min_length=1)
    description: str = ""
    owner: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$", description="the owner unit's code")
    domain: str
    classification: Literal["public", "internal", "confidential"]
    key: str
    # "schema" shadows a BaseModel attribute name in pydantic, hence the alias.
    avro_schema: dict[str, Any] = Field(alias="schema")
    compatibility: Compatibility = Compatibility.BACKWARD
    quality: list[QualityRule] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    sla: dict[str, Any] | None = None
    ndxp: bool = False

    @field_validator("avro_schema")
    @classmethod
    def _parses(cls, schema: dict[str, Any]) -> dict[str, Any]:
        if schema.get("type") != "record":
            raise ValueError("the schema must be an Avro record")
        try:
            fastavro.parse_schema(schema)
        except Exception as exc:
            raise ValueError(f"not a valid Avro schema: {exc}") from None
        return schema

    @model_validator(mode="after")
    def _consistent(self) -> DatasetDescriptor:
        prefix = self.id.split(".", 1)[0]
        if self.domain != prefix:
            raise ValueError(f"domain {self.domain!r} must equal the id's prefix {prefix!r}")
        if self.key not in self.field_names:
            raise ValueError(f"key {self.key!r} is not a field of the schema")
        return self

    @property
    def field_names(self) -> list[str]:
        return [f["name"] for f in self.avro_schema.get("fields", [])]

    @property
    def quality_configs(self) -> list[dict[str, Any]]:
        """The quality rules as plain ``{type, kwargs}`` dicts, as ``QualityEngine`` takes them."""
        return [rule.model_dump() for rule in self.quality]

    def to_document(self) -> dict[str, Any]:
        """The descriptor as JSON-ready data, with the schema inline under ``schema``."""
        return self.model_dump(mode="json", by_alias=True)


def load_descriptor(path: Path) -> DatasetDescriptor:
    """Read a descriptor from YAML or JSON; a string ``schema`` is an .avsc path beside it."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a descriptor must be a mapping")
    schema = data.get("schema")
    if isinstance(schema, str):
        data["schema"] = json.loads((path.parent / schema).read_text(encoding="utf-8"))
    return DatasetDescriptor.model_validate(data)


def seed_descriptors() -> list[DatasetDescriptor]:
    """Every seed descriptor shipped in ``schemas/seed/*.yaml``, sorted by file name."""
    return [load_descriptor(p) for p in sorted(SEED_DIR.glob("*.yaml"))]
