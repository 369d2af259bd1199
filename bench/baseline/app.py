"""The baseline: an event-publishing endpoint as teams build it today.

FastAPI on uvicorn (one worker, uvloop + httptools), JSON Schema validation with a validator
compiled once by fastjsonschema, and confluent-kafka (librdkafka) producing with acks=all and
idempotence. `POST /v1/events/{type}` takes one JSON object or an array of objects, validates
each, produces every valid one, and answers only after every delivery report has arrived --
the honest "acknowledge after durable" version -- with the same answer shape as Tributary:

    {"accepted": N, "rejected": M, "results": [{"status": "accepted", "index": 0,
      "partition": 1, "offset": 41}, {"status": "rejected", "index": 1, ...}]}

Delivery reports are served by a poll thread; each resolves the asyncio future of its message
on the event loop. Configuration from the environment: BASELINE_KAFKA (bootstrap servers),
BASELINE_TOPIC (the one event type served; also the topic), BASELINE_SCHEMA (JSON Schema file),
BASELINE_SCHEMA_ID (written in the Confluent frame of each record).
"""

import asyncio
import contextlib
import json
import os
import struct
import threading

import fastjsonschema
from confluent_kafka import KafkaException, Producer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

BOOTSTRAP = os.environ["BASELINE_KAFKA"]
TOPIC = os.environ["BASELINE_TOPIC"]
with open(os.environ["BASELINE_SCHEMA"], encoding="utf-8") as schema_file:
    VALIDATE = fastjsonschema.compile(json.load(schema_file))
# Confluent wire format: magic byte 0, then the schema id (4 bytes, big endian).
FRAME = b"\x00" + struct.pack(">I", int(os.environ.get("BASELINE_SCHEMA_ID", "1")))
ENCODE = json.JSONEncoder(separators=(",", ":")).encode

producer = Producer(
    {
        "bootstrap.servers": BOOTSTRAP,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
    }
)
_polling = threading.Event()


def _poll_forever():
    while _polling.is_set():
        producer.poll(0.1)


@contextlib.asynccontextmanager
async def lifespan(_app):
    _polling.set()
    poller = threading.Thread(target=_poll_forever, name="kafka-poll", daemon=True)
    poller.start()
    yield
    _polling.clear()
    poller.join()
    producer.flush(10)


app = FastAPI(lifespan=lifespan)


def _resolve(future, outcome):
    if not future.done():
        future.set_result(outcome)


def _on_delivery(loop, future):
    """A delivery callback (run on the poll thread) that resolves `future` on `loop`."""

    def delivered(err, msg):
        if err is not None:
            outcome = (False, str(err), None)
        else:
            outcome = (True, msg.partition(), msg.offset())
        loop.call_soon_threadsafe(_resolve, future, outcome)

    return delivered


@app.post("/v1/events/{event_type}")
async def publish(event_type: str, request: Request):
    if event_type != TOPIC:
        return JSONResponse({"error": f"unknown event type {event_type}"}, status_code=404)
    try:
        document = json.loads(await request.body())
    except ValueError as err:
        return JSONResponse({"error": f"malformed JSON: {err}"}, status_code=400)
    events = document if isinstance(document, list) else [document]

    loop = asyncio.get_running_loop()
    results = [None] * len(events)
    pending = []
    for index, event in enumerate(events):
        try:
            VALIDATE(event)
        except fastjsonschema.JsonSchemaValueException as err:
            results[index] = {
                "status": "rejected",
                "index": index,
                "reason": "schema_violation",
                "message": err.message,
            }
            continue
        value = FRAME + ENCODE(event).encode()
        future = loop.create_future()
        while True:
            try:
                producer.produce(TOPIC, value, on_delivery=_on_delivery(loop, future))
                break
            except BufferError:
                # librdkafka's queue is full: let the poll thread drain it.
                await asyncio.sleep(0.001)
            except KafkaException as err:
                return JSONResponse({"error": f"cannot produce: {err}"}, status_code=503)
        pending.append((index, future))

    for index, future in pending:
        ok, partition_or_error, offset = await future
        if ok:
            results[index] = {
                "status": "accepted",
                "index": index,
                "partition": partition_or_error,
                "offset": offset,
            }
        else:
            results[index] = {
                "status": "rejected",
                "index": index,
                "reason": "log_rejected",
                "message": partition_or_error,
            }
    accepted = sum(1 for result in results if result["status"] == "accepted")
    rejected = len(results) - accepted
    return JSONResponse(
        {"accepted": accepted, "rejected": rejected, "results": results},
        status_code=200 if rejected == 0 else 207,
    )
