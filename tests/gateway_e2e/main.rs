//! End-to-end tests of the publishing gateway through the real binary, on both event logs.
//!
//! Each case is a function of a [`Backend`]: it starts `tributary serve` on the embedded log or
//! on the Kafka broker `TRIBUTARY_TEST_KAFKA` names (ignored unless set; `scripts/test-full`
//! sets it), publishes over HTTP, then stops the server and reads back what landed in the log
//! — records, keys, headers, timestamps, dead letters — with the event log's own client.
//! Every case makes fresh event types, so runs against a shared broker never collide.

// Synchronous tests (no async runtime to block): std::thread::sleep is fine here.
#![allow(clippy::disallowed_methods)]

#[path = "../common/mod.rs"]
mod common;

mod batches;
mod catalog;
mod cloudevents;
mod idempotency;
mod keys;
mod limits;
mod quality;
mod samples;
mod shutdown;

use common::{Answer, LogRecord, Server};
use serde_json::{Value, json};

/// Instantiates each case once per backend: `embedded::case` and `kafka::case`.
macro_rules! on_every_backend {
    ($($module:ident :: $case:ident),+ $(,)?) => {
        mod embedded {
            $(
                #[test]
                fn $case() {
                    crate::$module::$case(crate::common::Backend::Embedded);
                }
            )+
        }
        mod kafka {
            $(
                #[test]
                #[ignore = "needs a Kafka broker: set TRIBUTARY_TEST_KAFKA (scripts/test-full does)"]
                fn $case() {
                    crate::$module::$case(crate::common::Backend::Kafka);
                }
            )+
        }
    };
}

on_every_backend!(
    batches::good_bad_and_duplicate_events,
    batches::compressed_bodies_and_dry_runs,
    cloudevents::cloudevents_are_routed_and_mapped,
    idempotency::retries_are_not_written_twice,
    keys::keys_mode_publishes_only_granted_types,
    limits::rate_limited_requests_write_nothing,
    limits::bad_input_is_refused_and_writes_nothing,
    catalog::shadow_candidate_and_type_limits,
    catalog::avro_bodies,
    quality::events_are_scored_and_counted,
    samples::samples_and_dead_letter_reasons,
    shutdown::sigterm_finishes_an_in_flight_publish,
);

/// A W3C trace context that the gateway copies onto every record.
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// An event type made for one test, with its first schema registered.
#[derive(Debug)]
struct EventType {
    name: String,
    /// The registry id of version 1.
    schema_id: u32,
}

impl EventType {
    /// Creates `e2e.{stem}_…` with the catalog `fields` (name and owner are added) and
    /// registers `schema` (JSON Schema) as its version 1.
    fn json(server: &Server, stem: &str, fields: Value, schema: &Value) -> EventType {
        EventType::create(server, stem, fields, "JSON", &schema.to_string())
    }

    fn create(
        server: &Server,
        stem: &str,
        fields: Value,
        schema_type: &str,
        schema: &str,
    ) -> EventType {
        EventType::create_named(
            server,
            None,
            common::fresh_type(stem),
            fields,
            schema_type,
            schema,
        )
    }

    /// Creates `name` as the holder of `key` (none: auth is off), as [`EventType::json`] does.
    fn create_named(
        server: &Server,
        key: Option<&str>,
        name: String,
        mut fields: Value,
        schema_type: &str,
        schema: &str,
    ) -> EventType {
        fields["name"] = json!(name);
        fields["owner"] = json!("e2e");
        let (status, body) = post_json(server, key, "/v1/event-types", &fields);
        assert_eq!(status, 201, "{body}");
        let path = format!("/v1/event-types/{name}/schemas");
        let schema = json!({"schema_type": schema_type, "schema": schema});
        let (status, body) = post_json(server, key, &path, &schema);
        assert_eq!(status, 201, "{body}");
        let schema_id = u32::try_from(body["id"].as_u64().unwrap()).unwrap();
        EventType { name, schema_id }
    }

    /// `/v1/events/{name}`.
    fn events(&self) -> String {
        format!("/v1/events/{}", self.name)
    }
}

/// Registers a schema version of `event_type`; its registry id.
fn register(server: &Server, event_type: &str, schema_type: &str, schema: &str) -> u32 {
    let path = format!("/v1/event-types/{event_type}/schemas");
    let schema = json!({"schema_type": schema_type, "schema": schema});
    let (status, body) = post_json(server, None, &path, &schema);
    assert_eq!(status, 201, "{body}");
    u32::try_from(body["id"].as_u64().unwrap()).unwrap()
}

/// POSTs `body` as JSON, with `key` as the bearer token if given.
fn post_json(server: &Server, key: Option<&str>, path: &str, body: &Value) -> (u16, Value) {
    let mut request = server
        .request(reqwest::Method::POST, path)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let answer = common::answer(request);
    (answer.status, answer.body)
}

/// The verdicts of an answer.
fn results(body: &Value) -> &Vec<Value> {
    body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no verdicts: {body}"))
}

/// The verdicts with status `accepted` in `answers`, in order.
fn accepted<'a>(answers: &[&'a Answer]) -> Vec<&'a Value> {
    answers
        .iter()
        .flat_map(|a| results(&a.body))
        .filter(|v| v["status"] == "accepted")
        .collect()
}

/// The `status` of each verdict, in order.
fn statuses(body: &Value) -> Vec<&str> {
    results(body)
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect()
}

/// The one record whose event id is the verdict's, at the position the verdict named.
fn record_of<'a>(records: &'a [LogRecord], verdict: &Value) -> &'a LogRecord {
    let event_id = verdict["event_id"].as_str().unwrap();
    let found: Vec<&LogRecord> = records
        .iter()
        .filter(|r| r.event_id() == event_id)
        .collect();
    assert_eq!(found.len(), 1, "event {event_id} is in the log once");
    let record = found[0];
    assert_eq!(
        (record.partition, record.record.offset),
        (
            u32::try_from(verdict["partition"].as_u64().unwrap()).unwrap(),
            verdict["offset"].as_i64().unwrap()
        ),
        "where the verdict said: {verdict}"
    );
    record
}
