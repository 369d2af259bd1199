//! End to end: the real binary's security default (auth off only on loopback) and the
//! principal header on the event-type and Confluent routes.

// Synchronous tests (no async runtime to block), so std::thread::sleep is fine here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::Server;
use serde_json::{Value, json};

impl Server {
    /// Sends `body` (JSON) as `principal`; returns the status, content type and body.
    fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        principal: Option<&str>,
        body: Option<Value>,
    ) -> (u16, String, Value) {
        let mut request = reqwest::blocking::Client::new()
            .request(method, format!("{}{path}", self.base))
            .timeout(Duration::from_secs(10));
        if let Some(principal) = principal {
            request = request.header("Tributary-Principal", principal);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().expect("request");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.json().unwrap_or(Value::Null);
        (status, content_type, body)
    }
}

#[test]
fn auth_off_refuses_a_non_loopback_listen_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = common::command(dir.path());
    command
        .args(["serve", "--listen", "0.0.0.0:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let lines: Vec<_> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {stderr}");
    assert!(lines[0].starts_with("tributary: "), "{stderr}");
    assert!(
        lines[0].contains("auth off") && lines[0].contains("loopback"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("tributary-data").exists(),
        "refused before touching anything"
    );
}

#[test]
fn the_principal_header_decides_who_may_change_an_event_type() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    use reqwest::Method;

    let (status, _, body) = server.send(
        Method::POST,
        "/v1/event-types",
        Some("team:payments"),
        Some(json!({ "name": "pay.refunded", "owner": "payments", "partitions": 2 })),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["created_by"], "team:payments");

    let patch = json!({ "description": "refunds" });
    let (status, content_type, body) = server.send(
        Method::PATCH,
        "/v1/event-types/pay.refunded",
        Some("team:search"),
        Some(patch.clone()),
    );
    assert_eq!(
        (status, content_type.as_str()),
        (403, "application/problem+json")
    );
    assert_eq!(body["code"], "forbidden");
    let (status, _, _) = server.send(
        Method::PATCH,
        "/v1/event-types/pay.refunded",
        Some("team:payments"),
        Some(patch.clone()),
    );
    assert_eq!(status, 200);
    // No header: the local admin (auth is off and we are on loopback).
    let (status, _, _) = server.send(
        Method::PATCH,
        "/v1/event-types/pay.refunded",
        None,
        Some(patch),
    );
    assert_eq!(status, 200);
    let (status, _, body) = server.send(Method::GET, "/v1/event-types", Some("nobody"), None);
    assert_eq!((status, body["code"].as_str()), (400, Some("bad_request")));

    // The Confluent route answers in Confluent's shape.
    let schema =
        json!({ "schema": json!({ "type": "record", "name": "R", "fields": [] }).to_string() });
    let (status, _, body) = server.send(
        Method::POST,
        "/subjects/pay.refunded-value/versions",
        Some("team:search"),
        Some(schema.clone()),
    );
    assert_eq!((status, &body["error_code"]), (403, &json!(40301)));
    let (status, _, body) = server.send(
        Method::POST,
        "/subjects/pay.refunded-value/versions",
        Some("team:payments"),
        Some(schema),
    );
    assert_eq!((status, &body["id"]), (200, &json!(1)));

    let (_, _, body) = server.send(
        Method::GET,
        "/v1/event-types/pay.refunded/audit",
        None,
        None,
    );
    let actions: Vec<_> = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        ["schema.register", "event_type.update", "event_type.create"]
    );
}
