//! End-to-end tests of the publishing gateway through the real binary: a schema registered
//! through the Confluent API, a mixed batch published over HTTP, and the outcome checked
//! through the answer's positions and `/metrics` (there is no read API yet).

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::Server;
use serde_json::{Value, json};

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

impl Server {
    fn post(&self, path: &str, content_type: &str, body: String) -> (u16, Value) {
        let response = http()
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .header("tributary-producer", "e2e")
            .body(body)
            .send()
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }

    fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = http()
            .patch(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }

    fn post_bytes(&self, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let response = http()
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }

    fn metrics(&self) -> String {
        http()
            .get(format!("{}/metrics", self.base))
            .send()
            .unwrap()
            .text()
            .unwrap()
    }
}

/// The value of the sample of `name` whose labels include every one of `labels`.
fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|want| l.contains(want)))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

/// A fresh event-type name, so runs against a shared broker never collide.
fn fresh_type() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("e2e.orders_{}_{nanos}", std::process::id())
}

fn publish_mixed_batch(server: &Server) {
    let event_type = fresh_type();
    let schema = json!({
        "type": "object",
        "properties": {"order_id": {"type": "string"}, "amount": {"type": "number", "minimum": 0}},
        "required": ["order_id", "amount"]
    });
    // A registered schema alone is not an event type: publishing needs the catalog entry.
    let (status, body) = server.post(
        &format!("/v1/event-types/{event_type}/schemas"),
        "application/json",
        json!({"schema_type": "JSON", "schema": schema.to_string()}).to_string(),
    );
    assert_eq!(
        status, 404,
        "no schemas for a type that does not exist: {body}"
    );
    let (status, body) = server.post(
        "/v1/event-types",
        "application/json",
        json!({"name": event_type, "owner": "orders", "partition_key": "/order_id", "partitions": 2})
            .to_string(),
    );
    assert_eq!(status, 201, "{body}");

    let (status, body) = server.post(
        &format!("/subjects/{event_type}-value/versions"),
        "application/vnd.schemaregistry.v1+json",
        json!({"schemaType": "JSON", "schema": schema.to_string()}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let schema_id = body["id"].as_u64().unwrap();
    assert!(schema_id > 0);

    let batch = [
        r#"{"order_id":"a","amount":1}"#,
        r#"{"order_id":"b","amount":-1}"#,
        r#"{"order_id":"c","amount":3}"#,
        r#"{"order_id":"d""#,
        r#"{"order_id":"e","amount":5}"#,
    ]
    .join("\n");
    let (status, body) = server.post(
        &format!("/v1/events/{event_type}"),
        "application/x-ndjson",
        batch,
    );
    assert_eq!(status, 207, "{body}");
    assert_eq!(body["accepted"], 3);
    assert_eq!(body["rejected"], 2);
    let results = body["results"].as_array().unwrap();
    assert_eq!(results[1]["reason"], "schema_violation");
    assert_eq!(results[1]["violations"][0]["pointer"], "/amount");
    assert_eq!(results[3]["reason"], "malformed");
    assert!(
        results
            .iter()
            .filter(|r| r["status"] == "rejected")
            .all(|r| r["dead_lettered"] == true)
    );
    // The keyless events of one request go to one partition, at consecutive offsets.
    let accepted: Vec<&Value> = results
        .iter()
        .filter(|r| r["status"] == "accepted")
        .collect();
    let partition = &accepted[0]["partition"];
    let first = accepted[0]["offset"].as_i64().unwrap();
    for (i, r) in accepted.iter().enumerate() {
        assert_eq!(&r["partition"], partition);
        assert_eq!(r["offset"].as_i64().unwrap(), first + i as i64);
    }

    // A second request on the new topic lands after the first one's records.
    let (status, body) = server.post(
        &format!("/v1/events/{event_type}"),
        "application/json",
        r#"{"order_id":"f","amount":6}"#.to_owned(),
    );
    assert_eq!(status, 200, "{body}");

    let (status, body) = server.post(
        "/v1/events/e2e.nothing_here",
        "application/json",
        "{}".into(),
    );
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "not_found");
    let (status, _) = server.post(
        &format!("/v1/events/{event_type}"),
        "text/plain",
        "{}".into(),
    );
    assert_eq!(status, 415);

    let metrics = server.metrics();
    let label = format!("event_type=\"{event_type}\"");
    let count = |outcome: &str| {
        sample(
            &metrics,
            "tributary_gateway_events_total",
            &[
                &label,
                "producer=\"e2e\"",
                &format!("outcome=\"{outcome}\""),
            ],
        )
    };
    assert_eq!(count("accepted"), Some(4.0), "{metrics}");
    assert_eq!(count("dead_lettered"), Some(2.0), "{metrics}");
    // Every stage of the three accepted requests was timed; nothing is in flight now.
    for stage in ["resolve", "read", "check", "append"] {
        let timed = sample(
            &metrics,
            "tributary_gateway_stage_duration_seconds_count",
            &[&format!("stage=\"{stage}\"")],
        );
        assert!(timed.is_some_and(|n| n >= 2.0), "{stage}: {metrics}");
    }
    assert_eq!(
        sample(&metrics, "tributary_gateway_in_flight_requests", &[]),
        Some(0.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "tributary_gateway_requests_total",
            &["event_type=\"unknown\"", "status=\"404\""]
        ),
        Some(1.0),
        "{metrics}"
    );
}

#[test]
fn publishes_a_mixed_batch_on_the_embedded_log() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    publish_mixed_batch(&server);
}

#[test]
#[ignore = "needs a Kafka broker: set TRIBUTARY_TEST_KAFKA (scripts/test-full does)"]
fn publishes_a_mixed_batch_on_kafka() {
    let kafka = std::env::var("TRIBUTARY_TEST_KAFKA").expect(
        "TRIBUTARY_TEST_KAFKA is not set: run scripts/test-full, which starts the services",
    );
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--kafka", &kafka], &[]);
    let ready: Value = server.get("/readyz").json().unwrap();
    assert_eq!(ready["eventlog"], "kafka", "{ready}");
    publish_mixed_batch(&server);
}

/// How long the gateway trusts event-type metadata in these tests, so that changes show soon.
const METADATA_TTL: (&str, &str) = ("TRIBUTARY_GATEWAY__METADATA_TTL", "100ms");

/// Per-type settings through the catalog: a shadow candidate (the version before it stays
/// in force, what the candidate would reject is reported) and a maximum event size.
#[allow(clippy::disallowed_methods)] // a synchronous test: nothing async to block
fn shadow_candidate_and_type_limits(server: &Server) {
    let event_type = fresh_type();
    let (status, body) = server.post(
        "/v1/event-types",
        "application/json",
        json!({"name": event_type, "owner": "orders", "enforcement": "shadow", "compatibility": "NONE"})
            .to_string(),
    );
    assert_eq!(status, 201, "{body}");
    let loose = json!({"type": "object", "properties": {"amount": {"type": "number"}}});
    let strict = json!({"type": "object", "properties": {"amount": {"type": "number", "minimum": 0}},
                        "required": ["amount", "currency"]});
    for schema in [&loose, &strict] {
        let (status, body) = server.post(
            &format!("/v1/event-types/{event_type}/schemas"),
            "application/json",
            json!({"schema_type": "JSON", "schema": schema.to_string()}).to_string(),
        );
        assert_eq!(status, 201, "{body}");
    }
    let path = format!("/v1/event-types/{event_type}");
    let (status, body) = server.patch(&path, &json!({"shadow_version": 3}));
    assert_eq!(status, 422, "{body}");
    let (status, body) = server.patch(&path, &json!({"shadow_version": 2}));
    assert_eq!(status, 200, "{body}");
    std::thread::sleep(Duration::from_millis(300));

    let events = format!("/v1/events/{event_type}");
    let (status, body) = server.post(&events, "application/json", r#"{"amount":-1}"#.into());
    assert_eq!(status, 200, "version 1 is in force: {body}");
    let shadow = body["results"][0]["shadow_violations"].as_array().unwrap();
    let pointers: Vec<&str> = shadow
        .iter()
        .map(|v| v["pointer"].as_str().unwrap())
        .collect();
    assert!(pointers.contains(&"/amount"), "{body}");
    let (status, body) = server.post(&events, "application/json", r#"{"amount":"x"}"#.into());
    assert_eq!(status, 207, "{body}");
    assert_eq!(body["results"][0]["reason"], "schema_violation");

    let (status, body) = server.patch(&path, &json!({"max_event_bytes": 40}));
    assert_eq!(status, 200, "{body}");
    std::thread::sleep(Duration::from_millis(300));
    let long = json!({"amount": 1, "note": "x".repeat(64)}).to_string();
    let (status, body) = server.post(
        &events,
        "application/x-ndjson",
        format!("{{\"amount\":2}}\n{long}"),
    );
    assert_eq!(status, 207, "{body}");
    assert_eq!(body["results"][0]["status"], "accepted");
    assert_eq!(body["results"][1]["reason"], "too_large");

    let metrics = server.metrics();
    let label = format!("event_type=\"{event_type}\"");
    assert_eq!(
        sample(
            &metrics,
            "tributary_gateway_shadow_violations_total",
            &[&label]
        ),
        Some(2.0),
        "{metrics}"
    );
}

/// Avro bodies: plain datums of the latest version and Confluent-framed ones.
fn avro_bodies(server: &Server) {
    let event_type = fresh_type();
    let (status, body) = server.post(
        "/v1/event-types",
        "application/json",
        json!({"name": event_type, "owner": "web"}).to_string(),
    );
    assert_eq!(status, 201, "{body}");
    let schema = r#"{"type":"record","name":"Click","fields":[{"name":"url","type":"string"},{"name":"n","type":"int"}]}"#;
    let (status, body) = server.post(
        &format!("/v1/event-types/{event_type}/schemas"),
        "application/json",
        json!({"schema_type": "AVRO", "schema": schema}).to_string(),
    );
    assert_eq!(status, 201, "{body}");
    let id = u32::try_from(body["id"].as_u64().unwrap()).unwrap();
    // {"url": "/a", "n": 1} and {"url": "/bc", "n": -2}, by hand: zig-zag lengths and ints.
    let a = vec![4, b'/', b'a', 2];
    let b = vec![6, b'/', b'b', b'c', 3];
    let events = format!("/v1/events/{event_type}");
    let (status, body) = server.post_bytes(&events, "application/avro", [a.clone(), b].concat());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 2);
    let mut framed = vec![0];
    framed.extend_from_slice(&id.to_be_bytes());
    framed.extend_from_slice(&a);
    let (status, body) = server.post_bytes(&events, "application/avro; framing=confluent", framed);
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.post_bytes(&events, "application/avro", vec![4, b'/']);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "bad_request");
}

#[test]
fn catalog_settings_and_avro_on_the_embedded_log() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[METADATA_TTL]);
    shadow_candidate_and_type_limits(&server);
    avro_bodies(&server);
}

#[test]
#[ignore = "needs a Kafka broker: set TRIBUTARY_TEST_KAFKA (scripts/test-full does)"]
fn catalog_settings_and_avro_on_kafka() {
    let kafka = std::env::var("TRIBUTARY_TEST_KAFKA").expect(
        "TRIBUTARY_TEST_KAFKA is not set: run scripts/test-full, which starts the services",
    );
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--kafka", &kafka], &[METADATA_TTL]);
    shadow_candidate_and_type_limits(&server);
    avro_bodies(&server);
}

/// SIGTERM while a publish is in flight: the request is finished and answered, the process
/// exits 0, and what it acknowledged is there after a restart.
#[test]
#[allow(clippy::disallowed_methods)] // a synchronous test: nothing async to block
fn sigterm_finishes_an_in_flight_publish() {
    use std::io::{Read, Write};

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    let event_type = fresh_type();
    let (status, body) = server.post(
        "/v1/event-types",
        "application/json",
        json!({"name": event_type, "owner": "orders", "partitions": 1}).to_string(),
    );
    assert_eq!(status, 201, "{body}");
    let schema =
        json!({"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}});
    let (status, body) = server.post(
        &format!("/subjects/{event_type}-value/versions"),
        "application/vnd.schemaregistry.v1+json",
        json!({"schemaType": "JSON", "schema": schema.to_string()}).to_string(),
    );
    assert_eq!(status, 200, "{body}");

    let events: String = (0..50).map(|n| format!("{{\"n\":{n}}}\n")).collect();
    let (first, rest) = events.split_at(events.len() / 2);
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST /v1/events/{event_type} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-ndjson\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{first}",
        events.len()
    )
    .unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    server.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(rest.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the in-flight request was answered: {answer}"
    );
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["accepted"], 50, "{body}");
    assert_eq!(body["results"][49]["offset"], 49);
    assert!(server.wait_exit().success(), "SIGTERM exits 0");

    // Everything acknowledged before the stop is durable: the next event follows it.
    let server = Server::start(dir.path(), &[], &[]);
    let (status, body) = server.post(
        &format!("/v1/events/{event_type}"),
        "application/json",
        r#"{"n":50}"#.into(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["offset"], 50, "{body}");
}

/// A producer over its rate limit gets 429 with `Retry-After` and nothing is written; other
/// producers are unaffected.
#[test]
fn producers_over_their_rate_limit_get_429() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[],
        &[
            ("TRIBUTARY_GATEWAY__PRODUCER_RATE_LIMIT", "0.5"),
            ("TRIBUTARY_GATEWAY__PRODUCER_BURST", "5"),
        ],
    );
    let event_type = fresh_type();
    let (status, body) = server.post(
        "/v1/event-types",
        "application/json",
        json!({"name": event_type, "owner": "orders", "partitions": 1}).to_string(),
    );
    assert_eq!(status, 201, "{body}");
    let schema = json!({"type": "object"});
    let (status, body) = server.post(
        &format!("/subjects/{event_type}-value/versions"),
        "application/vnd.schemaregistry.v1+json",
        json!({"schemaType": "JSON", "schema": schema.to_string()}).to_string(),
    );
    assert_eq!(status, 200, "{body}");

    let five: String = (0..5).map(|n| format!("{{\"n\":{n}}}\n")).collect();
    let (status, body) = server.post(
        &format!("/v1/events/{event_type}"),
        "application/x-ndjson",
        five,
    );
    assert_eq!(status, 200, "the burst passes: {body}");

    let response = http()
        .post(server.url(&format!("/v1/events/{event_type}")))
        .header("content-type", "application/json")
        .header("tributary-producer", "e2e")
        .body(r#"{"n":5}"#)
        .send()
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "Retry-After names a wait: {retry_after}");
    let body: Value = response.json().unwrap();
    assert_eq!(body["code"], "rate_limited", "{body}");

    let response = http()
        .post(server.url(&format!("/v1/events/{event_type}")))
        .header("content-type", "application/json")
        .header("tributary-producer", "another")
        .body(r#"{"n":6}"#)
        .send()
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "another producer has its own bucket"
    );
    let body: Value = response.json().unwrap();
    assert_eq!(
        body["results"][0]["offset"], 5,
        "the refused event was not written: {body}"
    );
}
