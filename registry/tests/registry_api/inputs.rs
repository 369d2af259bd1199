//! Hostile and broken input: every case answers Confluent's code with a message saying what
//! is wrong, quickly, and never a 500.

use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::{Value, json};

use crate::harness::{Answer, Api, Fresh};

const QUICK: Duration = Duration::from_secs(5);

async fn timed(
    api: &Api,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Answer {
    let started = Instant::now();
    let answer = api.send(method, path, content_type, body).await;
    assert!(
        started.elapsed() < QUICK,
        "{path} took {:?}",
        started.elapsed()
    );
    answer
}

pub(crate) async fn bad_bodies_answer_confluent_errors(fresh: Fresh) {
    let api = fresh.api();
    let json_type = Some("application/vnd.schemaregistry.v1+json");
    let post = |body: &'static str| {
        timed(
            &api,
            Method::POST,
            "/subjects/s/versions",
            json_type,
            body.as_bytes().to_vec(),
        )
    };

    let message = post("{\"schema\": ").await.error(422, 422);
    assert!(message.starts_with("JSON parse error"), "{message}");
    let message = post("").await.error(422, 422);
    assert!(message.starts_with("JSON parse error"), "{message}");
    let message = post("{\"schema\": 5}").await.error(422, 422);
    assert!(message.contains("invalid type"), "{message}");
    assert_eq!(post("{}").await.error(422, 42201), "Empty schema");
    let message = post(r#"{"schema": "\"string\"", "schemaType": "PROTOBUF"}"#)
        .await
        .error(422, 42201);
    assert!(message.contains("PROTOBUF"), "{message}");
    let message = post(r#"{"schema": "\"string\"", "schemaType": "XML"}"#)
        .await
        .error(422, 42201);
    assert!(message.contains("XML"), "{message}");

    // Every media type Confluent's clients send is accepted; others are 415.
    for content_type in [
        "application/vnd.schemaregistry.v1+json",
        "application/vnd.schemaregistry+json",
        "application/json; charset=utf-8",
        "application/octet-stream",
    ] {
        let answer = timed(
            &api,
            Method::POST,
            "/subjects/s/versions",
            Some(content_type),
            br#"{"schema": "\"string\""}"#.to_vec(),
        )
        .await;
        assert_eq!(answer.ok()["id"], 1, "{content_type}");
    }
    timed(
        &api,
        Method::POST,
        "/subjects/s/versions",
        Some("text/plain"),
        b"{}".to_vec(),
    )
    .await
    .error(415, 415);

    // A body nested 10,000 deep, and one over the 16 MiB limit.
    let deep = format!(
        "{{\"metadata\": {}{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let answer = timed(
        &api,
        Method::POST,
        "/subjects/s/versions",
        json_type,
        deep.into_bytes(),
    )
    .await;
    assert_eq!(answer.status, 422, "{answer:?}");
    let deep_schema = format!(
        "{{\"schema\": {}{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let message = timed(
        &api,
        Method::POST,
        "/subjects/s/versions",
        json_type,
        deep_schema.into_bytes(),
    )
    .await
    .error(422, 422);
    assert!(message.contains("invalid type"), "{message}");
    let huge = format!("{{\"schema\": \"{}\"}}", "x".repeat(17 * 1024 * 1024));
    let message = timed(
        &api,
        Method::POST,
        "/subjects/s/versions",
        json_type,
        huge.into_bytes(),
    )
    .await
    .error(413, 413);
    assert!(message.contains("16777216"), "{message}");

    let message = timed(
        &api,
        Method::PUT,
        "/config",
        json_type,
        b"{\"compatibility\": \"MAYBE\"}".to_vec(),
    )
    .await
    .error(422, 42203);
    assert!(message.contains("MAYBE"), "{message}");
}

/// `(schemaType, schema text, what the message must say)`.
fn bad_schemas() -> Vec<(&'static str, String, &'static str)> {
    let ten_mb = format!(
        r#"{{"type":"record","name":"Big","doc":"{}","fields":[]}}"#,
        "x".repeat(10 * 1024 * 1024)
    );
    vec![
        ("AVRO", String::from("{\"type\": "), "invalid json"),
        ("AVRO", String::from("not json at all"), "invalid json"),
        (
            "AVRO",
            String::from(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"nosuch"}]}"#),
            "nosuch",
        ),
        (
            "JSON",
            String::from(r#"{"type": 5}"#),
            "invalid json schema",
        ),
        (
            "JSON",
            String::from(r#"{"type":"string","pattern":"(unclosed"}"#),
            "invalid json schema",
        ),
        (
            "JSON",
            String::from(r#"{"properties":{"a":{"$ref":"nowhere.json"}}}"#),
            "nowhere.json",
        ),
        ("AVRO", ten_mb.clone(), "at most 1048576 bytes"),
        ("JSON", ten_mb, "at most 1048576 bytes"),
        (
            "AVRO",
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
            "deeper than 100",
        ),
        (
            "JSON",
            format!("{}{}", "{\"not\":".repeat(10_000), "}".repeat(10_000)),
            "deeper than 100",
        ),
    ]
}

pub(crate) async fn bad_schemas_answer_42201_quickly(fresh: Fresh) {
    let api = fresh.api();
    api.post("/subjects/s/versions", json!({ "schema": "\"string\"" }))
        .await
        .ok();
    for (schema_type, text, needle) in bad_schemas() {
        let body: Value = json!({ "schemaType": schema_type, "schema": text });
        let bytes = body.to_string().into_bytes();
        for path in [
            "/subjects/s/versions",
            "/subjects/s",
            "/compatibility/subjects/s/versions/latest",
        ] {
            let answer = timed(
                &api,
                Method::POST,
                path,
                Some("application/json"),
                bytes.clone(),
            )
            .await;
            let message = answer.error(422, 42201);
            assert!(
                message.contains(needle),
                "{path} {schema_type} {needle}: {message}"
            );
            assert!(message.starts_with("Invalid schema"), "{message}");
        }
    }
    assert_eq!(
        api.get("/subjects/s/versions").await.ok(),
        &json!([1]),
        "nothing was written"
    );
}
