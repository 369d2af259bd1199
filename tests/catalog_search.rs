//! End to end: the catalog's search through the real binary — an event type becomes
//! searchable by a word of one of its field docs (with a typo) within a second of its schema
//! being registered, names rank above field docs, hostile queries are answered, the index
//! survives a restart, and `tributary catalog search` prints the hits.

// Synchronous tests (no async runtime to block), so std::thread::sleep is fine here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::{Server, answer, command, post_json as post};
use serde_json::{Value, json};

/// `GET /v1/search` with `query` (already encoded).
fn search(server: &Server, query: &str) -> (u16, Value) {
    let reply = answer(server.request(reqwest::Method::GET, &format!("/v1/search?{query}")));
    (reply.status, reply.body)
}

fn names(results: &Value) -> Vec<String> {
    results["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("no hits: {results}"))
        .iter()
        .map(|h| h["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls `query` until a hit named `name` shows up (at most `limit`); how long it took.
fn until_found(server: &Server, query: &str, name: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let (status, results) = search(server, query);
        assert_eq!(status, 200, "{results}");
        if names(&results).iter().any(|n| n == name) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{name} not found by {query} within {limit:?}: {results}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn field_docs_are_searchable_with_typos_and_names_rank_first() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    let (status, body) = post(
        &server,
        "/v1/event-types",
        &json!({"name": "logistics.parcel_sent", "owner": "logistics", "tags": ["parcels"],
                "description": "A parcel left the warehouse."}),
    );
    assert_eq!(status, 201, "{body}");
    let schema = json!({
        "type": "object",
        "properties": {
            "parcel_id": {"type": "string"},
            "destination": {"type": "string", "description": "Where the carrier is shipping the parcel to"}
        }
    });
    let (status, body) = post(
        &server,
        "/v1/event-types/logistics.parcel_sent/schemas",
        &json!({"schema_type": "JSON", "schema": schema.to_string()}),
    );
    assert_eq!(status, 201, "{body}");
    // "shiping": a typo of a word that only a field doc holds.
    until_found(
        &server,
        "q=shiping",
        "logistics.parcel_sent",
        Duration::from_secs(5),
    );

    // A type whose *name* says "shipping" ranks above the one whose field doc does.
    let (status, body) = post(
        &server,
        "/v1/event-types",
        &json!({"name": "logistics.shipping_quoted", "owner": "logistics"}),
    );
    assert_eq!(status, 201, "{body}");
    until_found(
        &server,
        "q=shipping",
        "logistics.shipping_quoted",
        Duration::from_secs(5),
    );
    let (_, results) = search(&server, "q=shipping");
    assert_eq!(
        names(&results),
        ["logistics.shipping_quoted", "logistics.parcel_sent"],
        "{results}"
    );
    assert_eq!(
        results["facets"]["owners"],
        json!([["logistics", 2]]),
        "{results}"
    );

    // Hostile queries are answered; a bad band is a 400 problem.
    let long = "x".repeat(10_000);
    for query in [
        "q=field%3A(",
        "q=%22%2A%3F",
        "q=%F0%9F%98%80%00",
        &format!("q={long}"),
    ] {
        let (status, results) = search(&server, query);
        assert_eq!(status, 200, "{query}: {results}");
    }
    let (status, problem) = search(&server, "q=x&quality=excellent");
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("bad_request")),
        "{problem}"
    );

    // The command line prints the hits.
    let output = command(dir.path())
        .args(["catalog", "search", "shiping", "--server", &server.url("")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("logistics.parcel_sent  (logistics)"),
        "{text}"
    );

    // After a restart the index (rebuilt from SQL in the background) still answers.
    assert!(server.terminate().success());
    let server = Server::start(dir.path(), &[], &[]);
    until_found(
        &server,
        "q=parcel",
        "logistics.parcel_sent",
        Duration::from_secs(5),
    );
    assert!(server.terminate().success());
}
