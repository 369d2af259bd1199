//! Auth mode `keys` through the real binary: an admin key from the environment, a producer key
//! issued over the API, grants enforced at publish, and Confluent clients' HTTP Basic.

mod common;

use std::time::Duration;

use common::Server;
use serde_json::{Value, json};

const ADMIN_KEY: &str = "admin-key-for-tests-0123456789abcdef0123456789";

fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::blocking::Client::new()
        .request(method, server.url(path))
        .timeout(Duration::from_secs(10));
    if let Some(key) = auth {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().expect("request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

#[test]
fn keys_mode_authenticates_and_enforces_grants() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[],
        &[
            ("TRIBUTARY_AUTH__MODE", "keys"),
            ("TRIBUTARY_AUTH__ADMIN_KEY", ADMIN_KEY),
        ],
    );
    use reqwest::Method;

    assert_eq!(server.get("/healthz").status(), 200, "health stays open");
    let (status, body) = call(&server, Method::GET, "/v1/event-types", None, None);
    assert_eq!(status, 401, "{body}");
    let (status, body) = call(&server, Method::GET, "/subjects", None, None);
    assert_eq!(
        (status, &body["error_code"]),
        (401, &json!(40101)),
        "{body}"
    );
    let (status, _) = call(
        &server,
        Method::GET,
        "/v1/event-types",
        Some("trb_not_a_real_key"),
        None,
    );
    assert_eq!(status, 401);

    // The UI: a browser is asked for the key (HTTP Basic, the key as the password).
    let ui = server.get("/ui");
    assert_eq!(ui.status(), 401);
    let challenge = ui.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("Basic realm="), "{challenge}");
    assert!(
        ui.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = ui.text().unwrap();
    assert!(
        page.contains("&lt;key&gt;") && !page.contains("<key>"),
        "{page}"
    );
    let ui = reqwest::blocking::Client::new()
        .get(server.url("/ui"))
        .basic_auth("anyone", Some(ADMIN_KEY))
        .send()
        .unwrap();
    assert_eq!(ui.status(), 200);

    for name in ["orders.placed", "payments.charged"] {
        let (status, body) = call(
            &server,
            Method::POST,
            "/v1/event-types",
            Some(ADMIN_KEY),
            Some(json!({"name": name, "owner": "core", "partitions": 1})),
        );
        assert_eq!(status, 201, "{body}");
        let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}}});
        let (status, body) = call(
            &server,
            Method::POST,
            &format!("/v1/event-types/{name}/schemas"),
            Some(ADMIN_KEY),
            Some(json!({"schemaType": "JSON", "schema": schema})),
        );
        assert!(status == 201, "{body}");
    }

    let (status, body) = call(
        &server,
        Method::POST,
        "/v1/producers",
        Some(ADMIN_KEY),
        Some(json!({"name": "checkout", "owner": "core", "grants": ["orders.*"]})),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(
        &server,
        Method::POST,
        "/v1/producers/checkout/keys",
        Some(ADMIN_KEY),
        None,
    );
    assert_eq!(status, 201, "{body}");
    let key = body["key"]
        .as_str()
        .expect("the key is shown once")
        .to_owned();

    let (status, body) = call(
        &server,
        Method::POST,
        "/v1/events/orders.placed",
        Some(&key),
        Some(json!({"n": 1})),
    );
    assert_eq!(status, 200, "a granted type: {body}");
    let (status, body) = call(
        &server,
        Method::POST,
        "/v1/events/payments.charged",
        Some(&key),
        Some(json!({"n": 1})),
    );
    assert_eq!(status, 403, "not granted: {body}");
    assert_eq!(body["code"], "forbidden");

    // CloudEvents carry their types in the events: grants are checked per event.
    let cloudevent = |id: &str, kind: &str| json!({"specversion": "1.0", "id": id, "source": "/checkout", "type": kind, "data": {"n": 2}});
    let batch = json!([
        cloudevent("ce-1", "orders.placed"),
        cloudevent("ce-2", "payments.charged")
    ]);
    let response = reqwest::blocking::Client::new()
        .post(server.url("/v1/events"))
        .bearer_auth(&key)
        .header("content-type", "application/cloudevents-batch+json")
        .body(batch.to_string())
        .timeout(Duration::from_secs(10))
        .send()
        .unwrap();
    assert_eq!(response.status(), 207);
    let body: Value = response.json().unwrap();
    assert_eq!(body["results"][0]["status"], "accepted", "{body}");
    assert_eq!(body["results"][1]["status"], "rejected", "{body}");
    assert_eq!(body["results"][1]["reason"], "forbidden", "{body}");
    let response = reqwest::blocking::Client::new()
        .post(server.url("/v1/events"))
        .bearer_auth(&key)
        .header("content-type", "application/cloudevents+json")
        .body(cloudevent("ce-3", "payments.charged").to_string())
        .timeout(Duration::from_secs(10))
        .send()
        .unwrap();
    assert_eq!(response.status(), 403, "a single ungranted CloudEvent");

    // Confluent clients send the key as the HTTP Basic password.
    let response = reqwest::blocking::Client::new()
        .get(server.url("/subjects"))
        .basic_auth("checkout", Some(&key))
        .timeout(Duration::from_secs(10))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);

    let (status, _) = call(
        &server,
        Method::GET,
        "/v1/producers/checkout/keys",
        Some(ADMIN_KEY),
        None,
    );
    assert_eq!(status, 200);
    assert!(server.terminate().success());
}

#[test]
fn keys_mode_needs_an_admin_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = common::command(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("TRIBUTARY_AUTH__MODE", "keys")
        .env_remove("TRIBUTARY_AUTH__ADMIN_KEY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| !l.trim().is_empty()).count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("needs an admin key"), "{stderr}");
}
