"""The registry API with the real Confluent client: read schemas, decode the hub's topic with the
stock AvroDeserializer, register a compatible version and be refused an incompatible one."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from schemas.codec import unframe
from tests.factories import einvoices
from tests.support import Hub, read_topic

pytestmark = pytest.mark.integration
DATASET = "tax.einvoice"
SUBJECT = f"fdxp.{DATASET}-value"
RECORDS = f"/v1/datasets/{DATASET}/records"


def client_for(hub: Hub, key: str) -> SchemaRegistryClient:
    # confluent-kafka sends basic.auth.user.info as HTTP Basic; the hub takes the key as password.
    return SchemaRegistryClient({"url": hub.url + "/registry", "basic.auth.user.info": "x:" + key})


def with_field(schema_text: str, **spec: Any) -> str:
    schema = copy.deepcopy(json.loads(schema_text))
    schema["fields"].append(spec)
    return json.dumps(schema)


def test_confluent_client_reads_schemas_and_decodes_the_hubs_topic(
    live_hub: Hub, broker: str
) -> None:
    tct_key = live_hub.new_key("TCT")
    records = einvoices(12, seed=21)
    published = live_hub.client.post(
        RECORDS, json={"records": records}, headers=live_hub.auth(tct_key)
    )
    assert published.json()["accepted"] == 12, published.text

    reader = client_for(live_hub, live_hub.new_key("THTK", "consumer"))
    assert SUBJECT in reader.get_subjects()
    assert reader.get_versions(SUBJECT) == [1]
    latest = reader.get_latest_version(SUBJECT)
    assert (latest.subject, latest.version) == (SUBJECT, 1)
    assert json.loads(latest.schema.schema_str)["name"] == "Einvoice"
    assert latest.schema_id == published.json()["schema_id"]
    assert reader.get_compatibility(SUBJECT) == "BACKWARD"

    topic = live_hub.settings.topic(DATASET)
    messages = read_topic(broker, topic, until=lambda m: len(m) >= 12)
    deserialize = AvroDeserializer(reader)
    context = SerializationContext(topic, MessageField.VALUE)
    decoded = [deserialize(m.value, context) for m in messages]
    assert sorted(d["invoice_id"] for d in decoded) == sorted(r["invoice_id"] for r in records)
    first = next(d for d in decoded if d["invoice_id"] == records[0]["invoice_id"])
    assert str(first["total_amount"]) == records[0]["total_amount"] + ".00"
    assert first["status"] == "issued"


def test_confluent_client_registers_compatible_versions_only(live_hub: Hub, broker: str) -> None:
    client = client_for(live_hub, live_hub.new_key("TCT"))
    v1 = client.get_latest_version(SUBJECT)
    v2_text = with_field(v1.schema.schema_str, name="note", type=["null", "string"], default=None)
    v2_schema = Schema(v2_text, "AVRO")
    assert client.test_compatibility(SUBJECT, v2_schema)
    v2_id = client.register_schema(SUBJECT, v2_schema)
    assert v2_id != v1.schema_id
    assert client.get_versions(SUBJECT) == [1, 2]
    assert client.lookup_schema(SUBJECT, v2_schema).version == 2
    assert client.get_version(SUBJECT, 2).schema_id == v2_id
    # identical again: the same id
    assert (
        client_for(live_hub, live_hub.new_key("TCT")).register_schema(SUBJECT, v2_schema) == v2_id
    )

    incompatible = Schema(with_field(v2_text, name="branch_code", type="string"), "AVRO")
    assert not client.test_compatibility(SUBJECT, incompatible)
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(SUBJECT, incompatible)
    assert (refused.value.http_status_code, refused.value.error_code) == (409, 409)
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in refused.value.error_message
    assert client.get_versions(SUBJECT) == [1, 2]

    # from now on ingest writes with v2, and the stock deserializer reads it
    records = einvoices(4, seed=22)
    records[0]["note"] = "điều chỉnh"
    answer = live_hub.client.post(
        RECORDS, json={"records": records}, headers=live_hub.auth(live_hub.new_key("TCT"))
    ).json()
    assert (answer["schema_version"], answer["schema_id"]) == (2, v2_id)
    topic = live_hub.settings.topic(DATASET)
    messages = read_topic(broker, topic, until=lambda m: len(m) >= 4)
    assert {unframe(m.value)[0] for m in messages} == {v2_id}
    deserialize = AvroDeserializer(client)
    decoded = {
        d["invoice_id"]: d
        for d in (
            deserialize(m.value, SerializationContext(topic, MessageField.VALUE)) for m in messages
        )
    }
    assert set(decoded) == {r["invoice_id"] for r in records}
    assert decoded[records[0]["invoice_id"]]["note"] == "điều chỉnh"
    assert decoded[records[1]["invoice_id"]]["note"] is None


def test_confluent_client_errors(live_hub: Hub) -> None:
    client = client_for(live_hub, live_hub.new_key("THTK", "consumer"))
    with pytest.raises(SchemaRegistryError) as missing:
        client.get_versions("fdxp.no.such-value")
    assert (missing.value.http_status_code, missing.value.error_code) == (404, 40401)
    with pytest.raises(SchemaRegistryError) as no_schema:
        client.get_schema(987654)
    assert no_schema.value.error_code == 40403
    with pytest.raises(SchemaRegistryError) as forbidden:
        client.register_schema(
            SUBJECT, Schema(client.get_latest_version(SUBJECT).schema.schema_str, "AVRO")
        )
    assert (forbidden.value.http_status_code, forbidden.value.error_code) == (403, 40301)
    bad_key = client_for(live_hub, "not-a-key")
    with pytest.raises(SchemaRegistryError) as unauthorized:
        bad_key.get_subjects()
    assert (unauthorized.value.http_status_code, unauthorized.value.error_code) == (401, 40101)
