//! Catalog data through the real binary: good and bad events published, a field marked as
//! PII, then the type's samples show the good event with the field `"[redacted]"` and its
//! dead-letter reasons count the bad ones with a redacted example.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Backend, Bed, answer};
use crate::{EventType, statuses};

fn customer_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "order_id": {"type": "string"},
            "email": {"type": "string"},
            "amount": {"type": "number"}
        },
        "required": ["order_id", "amount"]
    })
}

/// GETs `path` until `done` holds for its JSON body (the samples flush runs every second).
fn poll(bed: &Bed, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let response = bed.get(path);
        assert_eq!(response.status(), 200, "{path}");
        let body: Value = response.json().unwrap();
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} never got there: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) fn samples_and_dead_letter_reasons(backend: Backend) {
    let bed = Bed::start(backend, &[]);
    let orders = EventType::json(&bed, "sampled", json!({}), &customer_schema());
    let pii = format!("/v1/event-types/{}/pii", orders.name);
    let marked = answer(
        bed.request(Method::PUT, &pii)
            .header("content-type", "application/json")
            .body(json!({"pointers": ["/email"]}).to_string()),
    );
    assert_eq!(marked.status, 200, "{:?}", marked.body);
    assert_eq!(marked.body["pointers"][0]["pointer"], "/email");

    let events = json!([
        {"order_id": "o-1", "email": "ann@example.com", "amount": 5},
        {"order_id": "o-2", "email": "bob@example.com"},
        {"order_id": "o-3", "email": "cy@example.com", "amount": "ten"},
    ]);
    let (status, answered) = bed.post(&orders.events(), "application/json", events.to_string());
    assert_eq!(status, 207, "{answered}");
    assert_eq!(statuses(&answered), ["accepted", "rejected", "rejected"]);

    let samples_path = format!("/v1/event-types/{}/samples", orders.name);
    let samples = poll(&bed, &samples_path, |b| {
        b["samples"].as_array().is_some_and(|s| !s.is_empty())
    });
    let sample = &samples["samples"][0];
    assert_eq!(sample["schema_version"], 1, "{samples}");
    assert_eq!(sample["producer"], "e2e", "{samples}");
    assert_eq!(sample["event"]["order_id"], "o-1", "{samples}");
    assert_eq!(sample["event"]["email"], "[redacted]", "{samples}");
    assert_eq!(sample["event"]["amount"], 5, "{samples}");

    let reasons_path = format!("/v1/event-types/{}/dead-letters/reasons", orders.name);
    let reasons = poll(&bed, &reasons_path, |b| b["reasons"][0]["count"] == 2);
    let reason = &reasons["reasons"][0];
    assert_eq!(reason["reason"], "schema_violation", "{reasons}");
    assert_eq!(reasons["reasons"].as_array().unwrap().len(), 1, "{reasons}");
    let example = &reason["example"];
    assert_eq!(example["order_id"], "o-2", "{reasons}");
    assert_eq!(example["email"], "[redacted]", "{reasons}");
    let violations = reason["violations"].as_array().unwrap();
    assert!(
        violations
            .iter()
            .any(|v| v["pointer"] == "" || v["pointer"] == "/amount"),
        "{reasons}"
    );
    assert!(!reasons.to_string().contains("example.com"), "{reasons}");

    // A line of NDJSON that does not parse is its own reason, without an example.
    let (status, answered) = bed.post(
        &orders.events(),
        "application/x-ndjson",
        String::from("{\"order_id\": \"o-4\", \"amount\": 1}\n{not json\n"),
    );
    assert_eq!(status, 207, "{answered}");
    let reasons = poll(&bed, &reasons_path, |b| {
        b["reasons"].as_array().is_some_and(|r| r.len() == 2)
    });
    let malformed = &reasons["reasons"][1];
    assert_eq!(malformed["reason"], "malformed", "{reasons}");
    assert_eq!(malformed["count"], 1, "{reasons}");
    assert_eq!(malformed["example"], Value::Null, "{reasons}");

    // Unknown types are 404 problems.
    let missing = bed.get("/v1/event-types/e2e.nope/samples");
    assert_eq!(missing.status(), 404);
}
