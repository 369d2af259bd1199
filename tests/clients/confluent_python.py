"""Confluent's Python client (confluent-kafka) against a running Tributary.

Usage: python3 confluent_python.py http://127.0.0.1:PORT
Registers, looks up, serializes and deserializes with SchemaRegistryClient, AvroSerializer /
AvroDeserializer and JSONSerializer / JSONDeserializer; no broker is needed. Exits non-zero
with a message on the first mismatch.
"""

import json
import sys

try:
    from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
    from confluent_kafka.schema_registry.error import SchemaRegistryError
    from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext
except ImportError as missing:
    sys.exit(f"MISSING PACKAGE: {missing}: python3 -m pip install 'confluent-kafka[avro,json,schemaregistry]'")


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


def main(url):
    client = SchemaRegistryClient({"url": url})

    # Register, idempotently; look up; read back by id, subject and version.
    user = json.dumps({"type": "record", "name": "User", "namespace": "py",
                       "fields": [{"name": "name", "type": "string"},
                                  {"name": "age", "type": "int", "default": 0}]})
    user_id = client.register_schema("py-users-value", Schema(user, "AVRO"))
    expect(user_id >= 1, f"id {user_id}")
    expect(client.register_schema("py-users-value", Schema(user, "AVRO")) == user_id, "same id again")
    fresh = SchemaRegistryClient({"url": url})
    found = fresh.lookup_schema("py-users-value", Schema(user, "AVRO"))
    expect((found.schema_id, found.version) == (user_id, 1), f"lookup {found}")
    latest = fresh.get_latest_version("py-users-value")
    expect(latest.schema_id == user_id and latest.version == 1, f"latest {latest}")
    expect(json.loads(fresh.get_schema(user_id).schema_str) == json.loads(user), "schema by id")
    expect(fresh.get_version("py-users-value", 1).schema_id == user_id, "version 1")
    expect("py-users-value" in fresh.get_subjects(), "subjects")
    expect(fresh.get_versions("py-users-value") == [1], "versions")

    # Compatibility: config, a failing check, a 409 on registration.
    fresh.set_compatibility("py-users-value", "BACKWARD")
    expect(fresh.get_compatibility("py-users-value") == "BACKWARD", "subject config")
    breaking = json.dumps({"type": "record", "name": "User", "namespace": "py",
                           "fields": [{"name": "name", "type": "string"},
                                      {"name": "email", "type": "string"}]})
    expect(fresh.test_compatibility("py-users-value", Schema(breaking, "AVRO")) is False, "incompatible")
    try:
        fresh.register_schema("py-users-value", Schema(breaking, "AVRO"))
        raise AssertionError("an incompatible schema was registered")
    except SchemaRegistryError as error:
        expect(error.http_status_code == 409 and error.error_code == 409, f"409: {error}")
    try:
        fresh.get_latest_version("py-nobody")
        raise AssertionError("an unknown subject was found")
    except SchemaRegistryError as error:
        expect(error.http_status_code == 404 and error.error_code == 40401, f"40401: {error}")

    # References: an Avro named type from another subject.
    address = json.dumps({"type": "record", "name": "Address", "namespace": "py",
                          "fields": [{"name": "city", "type": "string"}]})
    client.register_schema("py-address", Schema(address, "AVRO"))
    person = json.dumps({"type": "record", "name": "Person", "namespace": "py",
                         "fields": [{"name": "home", "type": "py.Address"}]})
    refs = [SchemaReference("py.Address", "py-address", 1)]
    person_id = client.register_schema("py-person-value", Schema(person, "AVRO", refs))
    expect(fresh.get_schema(person_id).references[0].subject == "py-address", "references")

    # Avro serializer (auto-registers under the topic's subject) and deserializer.
    ctx = SerializationContext("py-orders", MessageField.VALUE)
    order = json.dumps({"type": "record", "name": "Order", "namespace": "py",
                        "fields": [{"name": "id", "type": "long"},
                                   {"name": "amount", "type": "double"},
                                   {"name": "note", "type": ["null", "string"], "default": None}]})
    serialize = AvroSerializer(client, order)
    value = {"id": 42, "amount": 9.5, "note": "hi"}
    framed = serialize(value, ctx)
    order_id = client.get_latest_version("py-orders-value").schema_id
    expect(framed[0] == 0 and int.from_bytes(framed[1:5], "big") == order_id, "confluent framing")
    expect(AvroDeserializer(SchemaRegistryClient({"url": url}))(framed, ctx) == value, "avro round trip")

    # JSON Schema serializer and deserializer (the deserializer fetches the schema by id).
    jctx = SerializationContext("py-clicks", MessageField.VALUE)
    click = json.dumps({"$schema": "http://json-schema.org/draft-07/schema#", "title": "Click",
                        "type": "object", "properties": {"url": {"type": "string"},
                                                         "n": {"type": "integer"}},
                        "required": ["url"]})
    jframed = JSONSerializer(click, client)({"url": "https://x", "n": 3}, jctx)
    click_id = client.get_latest_version("py-clicks-value").schema_id
    expect(int.from_bytes(jframed[1:5], "big") == click_id, "json framing")
    decoded = JSONDeserializer(None, schema_registry_client=SchemaRegistryClient({"url": url}))(jframed, jctx)
    expect(decoded == {"url": "https://x", "n": 3}, f"json round trip {decoded}")
    expect(fresh.get_schema(click_id).schema_type == "JSON", "json schema type")

    # Deletes.
    expect(client.delete_version("py-orders-value", 1) == 1, "delete version")
    expect(client.delete_subject("py-clicks-value") == [1], "delete subject")
    expect(client.delete_subject("py-clicks-value", permanent=True) == [1], "permanent delete")
    print("confluent-kafka python client: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
