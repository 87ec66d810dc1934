"""The OpenAPI description of a dataset's NDXP service, generated from its Avro schema."""

from __future__ import annotations

import json

from schemas.descriptor import SEED_DIR
from schemas.openapi import avro_to_json_schema, dataset_openapi


def einvoice_schema() -> dict:
    return json.loads((SEED_DIR / "tax.einvoice.avsc").read_text(encoding="utf-8"))


def test_the_record_shape_follows_what_the_hub_answers() -> None:
    root, components = avro_to_json_schema(einvoice_schema())
    assert root == {"$ref": "#/components/schemas/vn_gov_mof_fdxp_tax_Einvoice"}
    record = components["vn_gov_mof_fdxp_tax_Einvoice"]
    props = record["properties"]
    assert props["number"]["type"] == "integer" and props["number"]["format"] == "int64"
    assert props["issued_date"]["format"] == "date"
    assert props["total_amount"]["type"] == "string"  # decimals are strings
    assert props["buyer_tax_code"]["anyOf"] == [{"type": "null"}, {"type": "string"}]
    assert props["status"] == {"$ref": "#/components/schemas/vn_gov_mof_fdxp_tax_InvoiceStatus"}
    assert components["vn_gov_mof_fdxp_tax_InvoiceStatus"]["enum"] == [
        "issued", "replaced", "adjusted", "cancelled",
    ]  # fmt: skip
    assert "invoice_id" in record["required"] and "buyer_tax_code" not in record["required"]
    assert "currency" not in record["required"]  # has a default


def test_named_types_are_defined_once_and_referenced_again() -> None:
    schema = {
        "type": "record", "name": "Txn", "namespace": "x",
        "fields": [
            {"name": "payer", "type": {"type": "record", "name": "Party",
                                       "fields": [{"name": "code", "type": "string"}]}},
            {"name": "payee", "type": "Party"},
            {"name": "tags", "type": {"type": "array", "items": "string"}},
            {"name": "extra", "type": {"type": "map", "values": "long"}},
        ],
    }  # fmt: skip
    _, components = avro_to_json_schema(schema)
    props = components["x_Txn"]["properties"]
    assert props["payer"] == props["payee"] == {"$ref": "#/components/schemas/x_Party"}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert props["extra"]["additionalProperties"]["format"] == "int64"


def test_the_service_document() -> None:
    doc = dataset_openapi(
        dataset_id="tax.einvoice", title="E-invoices", description="", key_field="invoice_id",
        avro_schema=einvoice_schema(), schema_version=3, service_id="VN/GOV/G12/FDXP/tax.einvoice",
    )  # fmt: skip
    assert doc["openapi"] == "3.1.0" and doc["info"]["version"] == "3"
    operation = doc["paths"]["/records"]["get"]
    assert [p["name"] for p in operation["parameters"]] == ["after", "limit", "key", "view"]
    assert set(operation["responses"]) == {"200", "400", "401", "403", "404", "409", "503"}
    data = doc["components"]["schemas"]["Record"]["properties"]["data"]
    assert data["$ref"] == "#/components/schemas/vn_gov_mof_fdxp_tax_Einvoice"
    json.dumps(doc)  # plain JSON throughout
