//! Stopping the server while it publishes.

use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Backend, Bed, fresh_type, read_raw_answer};

/// SIGTERM while a publish is in flight: the request is finished and answered, the process
/// exits 0, and what it acknowledged is in the log — after a restart, the next event follows.
pub(crate) fn sigterm_finishes_an_in_flight_publish(backend: Backend) {
    let mut bed = Bed::start(backend, &[]);
    let event_type = fresh_type("drained");
    let (status, body) = bed.post(
        "/v1/event-types",
        "application/json",
        json!({"name": event_type, "owner": "orders", "partitions": 1}).to_string(),
    );
    assert_eq!(status, 201, "{body}");
    // Through the Confluent API: the subject of a catalog type's topic is its schema.
    let schema =
        json!({"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}});
    let (status, body) = bed.post(
        &format!("/subjects/{event_type}-value/versions"),
        "application/vnd.schemaregistry.v1+json",
        json!({"schemaType": "JSON", "schema": schema.to_string()}).to_string(),
    );
    assert_eq!(status, 200, "{body}");

    let server = bed.take_server();
    let events: String = (0..50).map(|n| format!("{{\"n\":{n}}}\n")).collect();
    let (first, rest) = events.split_at(events.len() / 2);
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
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
    let answer = read_raw_answer(&mut stream);
    assert_eq!(answer.status, 200, "the in-flight request was answered");
    let body = answer.body;
    assert_eq!(body["accepted"], 50, "{body}");
    assert_eq!(body["results"][49]["offset"], 49);
    assert!(server.wait_exit().success(), "SIGTERM exits 0");

    bed.restart(&[]);
    let (status, body) = bed.post(
        &format!("/v1/events/{event_type}"),
        "application/json",
        r#"{"n":50}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["offset"], 50, "{body}");

    let log = bed.log();
    let written: Vec<(i64, Value)> = log
        .records(&event_type)
        .iter()
        .map(|r| (r.record.offset, r.framed_json().1))
        .collect();
    let expected: Vec<(i64, Value)> = (0..=50).map(|n| (n, json!({ "n": n }))).collect();
    assert_eq!(
        written, expected,
        "every acknowledged event, once, in order"
    );
}
