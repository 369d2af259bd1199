//! Requests the gateway refuses as a whole: over a producer's rate limit, or bad input. None of
//! them writes anything, and the server goes on serving.

use std::io::Write;
use std::net::TcpStream;

use reqwest::Method;
use serde_json::json;

use crate::common::{Backend, Bed, answer, fresh_type, read_raw_answer, sample};
use crate::{EventType, record_of, results};

/// A producer over its rate limit gets 429 with `Retry-After` and nothing of the request is
/// written; other producers are unaffected.
pub(crate) fn rate_limited_requests_write_nothing(backend: Backend) {
    let mut bed = Bed::start(
        backend,
        &[
            ("TRIBUTARY_GATEWAY__PRODUCER_RATE_LIMIT", "0.5"),
            ("TRIBUTARY_GATEWAY__PRODUCER_BURST", "5"),
        ],
    );
    let schema = json!({"type": "object"});
    let limited = EventType::json(&bed, "limited", json!({"partitions": 1}), &schema);
    let send = |producer: &str, body: String| {
        answer(
            bed.request(Method::POST, &limited.events())
                .header("content-type", "application/x-ndjson")
                .header("tributary-producer", producer)
                .body(body),
        )
    };
    let five: String = (0..5).map(|n| format!("{{\"n\":{n}}}\n")).collect();
    let burst = send("e2e", five);
    assert_eq!(burst.status, 200, "the burst passes: {:?}", burst.body);

    let refused = send("e2e", "{\"n\":5}\n{\"n\":6}\n".into());
    assert_eq!(refused.status, 429, "{:?}", refused.body);
    let retry_after: u64 = refused.header("retry-after").parse().unwrap();
    assert!(retry_after >= 1, "Retry-After names a wait: {retry_after}");
    assert_eq!(refused.header("content-type"), "application/problem+json");
    assert_eq!(refused.body["code"], "rate_limited");

    let other = send("another", "{\"n\":7}\n".into());
    assert_eq!(other.status, 200, "another producer has its own bucket");
    assert_eq!(results(&other.body)[0]["offset"], 5, "{:?}", other.body);

    let log = bed.log();
    let records = log.records(&limited.name);
    let written: Vec<i64> = records
        .iter()
        .map(|r| r.framed_json().1["n"].as_i64().unwrap())
        .collect();
    assert_eq!(
        written,
        [0, 1, 2, 3, 4, 7],
        "nothing of the refused request"
    );
    assert_eq!(
        record_of(&records, &results(&other.body)[0]).header("tributary.producer"),
        Some("another")
    );
}

/// What a refusal must look like: the status, problem+json with that status and a code.
fn assert_problem(what: &str, status: u16, answer: &crate::common::Answer) {
    assert_eq!(answer.status, status, "{what}: {:?}", answer.body);
    assert_eq!(
        answer.header("content-type"),
        "application/problem+json",
        "{what}"
    );
    assert_eq!(answer.body["status"], status, "{what}: {:?}", answer.body);
    assert!(answer.body["code"].is_string(), "{what}: {:?}", answer.body);
}

/// A request that must be refused: what it is, the status, path, content type, content
/// encoding and body.
type Refusal<'a> = (&'a str, u16, &'a str, &'a str, Option<&'a str>, Vec<u8>);

/// Bad bodies through the real binary, at the default limits: each refused whole with
/// problem+json, nothing written, and the server still serving.
pub(crate) fn bad_input_is_refused_and_writes_nothing(backend: Backend) {
    let mut bed = Bed::start(backend, &[]);
    let schema = json!({"type": "object"});
    let target = EventType::json(&bed, "bad_input", json!({"partitions": 1}), &schema);
    let send = |path: &str, content_type: &str, encoding: Option<&str>, body: Vec<u8>| {
        let mut request = bed
            .request(Method::POST, path)
            .header("content-type", content_type);
        if let Some(encoding) = encoding {
            request = request.header("content-encoding", encoding);
        }
        answer(request.body(body))
    };
    let events = target.events();
    let events = events.as_str();
    let unknown = format!("/v1/events/{}", fresh_type("never_created"));
    let json = "application/json";
    let ndjson = "application/x-ndjson";
    let deep = |open: &str, inner: &str, close: &str| {
        format!("{}{inner}{}", open.repeat(10_000), close.repeat(10_000)).into_bytes()
    };
    let deep_array = deep("[", "", "]");
    let deep_object = deep("{\"a\":", "1", "}");
    let many_in_array = format!("[{}{{}}]", "{},".repeat(19_999)).into_bytes();
    let many_lines = "{}\n".repeat(20_000).into_bytes();
    let bomb = zstd::encode_all(&vec![b'\n'; (64 << 20) + 1][..], 3).unwrap();
    #[rustfmt::skip]
    let cases: Vec<Refusal<'_>> = vec![
        ("malformed json", 400, events, json, None, b"{\"n\": 1".to_vec()),
        ("invalid utf-8", 400, events, json, None, b"{\"n\": \"\xff\"}".to_vec()),
        ("invalid utf-8 in ndjson", 400, events, ndjson, None, b"{\"n\": \"\xc3\"}\n".to_vec()),
        ("unknown type", 404, &unknown, json, None, b"{}".to_vec()),
        ("wrong content type", 415, events, "text/plain", None, b"{}".to_vec()),
        ("unknown encoding", 415, events, json, Some("br"), b"{}".to_vec()),
        ("10,000-deep arrays", 400, events, json, None, deep_array),
        ("10,000-deep objects", 400, events, json, None, deep_object.clone()),
        ("10,000-deep ndjson line", 400, events, ndjson, None, deep_object),
        ("20,000 events in json", 413, events, json, None, many_in_array),
        ("20,000 events in ndjson", 413, events, ndjson, None, many_lines),
        ("over 64 MiB decompressed", 413, events, ndjson, Some("zstd"), bomb),
    ];
    // After each refusal the server still serves.
    let fine = |after: &str| {
        let fine = send(events, json, None, b"{\"fine\":true}".to_vec());
        assert_eq!(
            fine.status,
            200,
            "after {what}: {:?}",
            fine.body,
            what = after
        );
    };
    let mut refusals = 0;
    for (what, status, path, content_type, encoding, body) in cases {
        let refused = send(path, content_type, encoding, body);
        assert_problem(what, status, &refused);
        fine(what);
        refusals += 1;
    }

    // Over 10 MiB: refused on the declared length, before the body is sent (a raw connection,
    // because an HTTP client still sending its body does not read the early answer)…
    let address = bed.base.trim_start_matches("http://").to_owned();
    let head = |framing: &str| {
        format!(
            "POST {events} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             {framing}\r\nConnection: close\r\n\r\n"
        )
    };
    let mut stream = TcpStream::connect(&address).unwrap();
    let declared = format!("Content-Length: {}", (10 << 20) + 1);
    stream.write_all(head(&declared).as_bytes()).unwrap();
    assert_problem("declared too large", 413, &read_raw_answer(&mut stream));
    fine("declared too large");
    // …and counted while read when no length is declared.
    let mut stream = TcpStream::connect(&address).unwrap();
    stream
        .write_all(head("Transfer-Encoding: chunked").as_bytes())
        .unwrap();
    let chunk = [b' '; 1 << 20];
    for _ in 0..11 {
        let sent = write!(stream, "{:x}\r\n", chunk.len())
            .and_then(|()| stream.write_all(&chunk))
            .and_then(|()| stream.write_all(b"\r\n"));
        if sent.is_err() {
            break; // the server stopped reading
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    assert_problem("chunked too large", 413, &read_raw_answer(&mut stream));
    fine("chunked too large");
    refusals += 2;

    // The unknown type was counted as such, and a schema needs its event type first.
    let metrics = bed.metrics();
    let unknown_404 = ["event_type=\"unknown\"", "status=\"404\""];
    assert_eq!(
        sample(&metrics, "tributary_gateway_requests_total", &unknown_404),
        Some(1.0),
        "{metrics}"
    );
    let schemas = unknown.replace("/v1/events/", "/v1/event-types/") + "/schemas";
    let schema = json!({"schema_type": "JSON", "schema": "{}"});
    let (status, body) = bed.post(&schemas, json, schema.to_string());
    assert_eq!(
        status, 404,
        "no schemas for a type that does not exist: {body}"
    );

    let log = bed.log();
    let records = log.records(&target.name);
    assert_eq!(records.len(), refusals, "only the good events: {records:?}");
    assert!(
        records
            .iter()
            .all(|r| r.framed_json().1 == json!({"fine": true}))
    );
    assert!(log.dead_letters(&target.name).is_empty());
}
