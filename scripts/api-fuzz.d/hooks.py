"""Schemathesis hooks for scripts/api-fuzz.

NDJSON bodies are documented as the array of their lines (OpenAPI 3.1 cannot say "a stream
of objects"); send them as one JSON document per line.
"""

import json
import os

import schemathesis
from hypothesis import strategies as st


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, list):
        return "\n".join(json.dumps(item) for item in value).encode("utf-8")
    return json.dumps(value).encode("utf-8")


@schemathesis.serializer("application/avro")
def avro(ctx, value):
    # Avro bodies are bytes; generated strings go as their UTF-8 bytes (almost always not a
    # datum of the schema: the gateway must answer 4xx, never 5xx).
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value).encode("utf-8")


# Publishing reaches the pipeline only for an event type that exists and has a schema:
# half of the generated publish and validate requests name the one scripts/api-fuzz seeded
# for them (the event-type routes may delete the types their own examples name).
PUBLISHED_TYPE = os.environ.get("API_FUZZ_EVENT_TYPE", "fuzz.published")


@schemathesis.hook
def flatmap_path_parameters(ctx, path_parameters):
    if isinstance(path_parameters, dict) and "event_type" in path_parameters:
        pinned = {**path_parameters, "event_type": PUBLISHED_TYPE}
        return st.sampled_from([path_parameters, pinned])
    return st.just(path_parameters)
