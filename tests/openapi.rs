//! `/openapi.json` against the real binary: it is valid OpenAPI 3.1, every documented
//! operation is served, nothing undocumented is served at a documented path, and no `/v1`
//! route is registered outside the documented routers.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::Server;
use reqwest::Method;
use reqwest::blocking::{Client, Response};
use serde_json::Value;

fn spec_text(server: &Server) -> String {
    let response = server.get("/openapi.json");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    response.text().unwrap()
}

/// (path template, method) of every documented operation.
fn operations(spec: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in [
            "get", "put", "post", "delete", "patch", "head", "options", "trace",
        ] {
            if item.get(method).is_some() {
                out.insert((path.clone(), method.to_uppercase()));
            }
        }
    }
    out
}

/// A concrete path for a template: every parameter filled with a value of the right form
/// that names nothing that exists.
fn concrete(template: &str) -> String {
    template
        .replace("{event_type}", "nosuch.thing")
        .replace("{name}", "nosuch.thing")
        .replace("{id}", "1")
}

fn send(server: &Server, method: &Method, path: &str) -> Response {
    Client::new()
        .request(method.clone(), server.url(path))
        .timeout(Duration::from_secs(10))
        .send()
        .expect("request")
}

/// The router's own answers for a path or method it does not serve: the fallback (404 with
/// "no route" under /v1, Confluent's 404 body elsewhere) and 405.
fn unrouted(response: Response) -> Option<String> {
    let status = response.status().as_u16();
    let body = response.text().unwrap_or_default();
    let fallback =
        status == 404 && (body.contains("no route for") || body.contains("\"error_code\":404"));
    (fallback || status == 405).then(|| format!("{status} {body}"))
}

#[test]
fn the_document_is_valid_openapi_3_1() {
    let server = Server::start_fresh(&[]);
    let text = spec_text(&server);
    let spec = oas3::from_json(&text).expect("/openapi.json parses as OpenAPI 3.1");
    let version = spec.validate_version().expect("a supported version");
    assert_eq!((version.major, version.minor), (3, 1));

    let raw: Value = serde_json::from_str(&text).unwrap();
    let mut count = 0;
    for (path, method, operation) in spec.operations() {
        count += 1;
        let here = format!("{method} {path}");
        assert!(operation.operation_id.is_some(), "{here}: no operationId");
        assert!(!operation.tags.is_empty(), "{here}: no tag");
        operation
            .parameters(&spec)
            .unwrap_or_else(|e| panic!("{here}: {e}"));
        if let Some(body) = operation
            .request_body(&spec)
            .unwrap_or_else(|e| panic!("{here}: {e}"))
        {
            for (media, content) in &body.content {
                content
                    .schema(&spec)
                    .unwrap_or_else(|e| panic!("{here} {media}: {e}"));
            }
        }
        let responses = operation.responses(&spec);
        let documented = raw["paths"][&path][method.as_str().to_lowercase()]["responses"]
            .as_object()
            .unwrap()
            .len();
        assert_eq!(responses.len(), documented, "{here}: unresolvable response");
        for (status, response) in &responses {
            for (media, content) in &response.content {
                content
                    .schema(&spec)
                    .unwrap_or_else(|e| panic!("{here} {status} {media}: {e}"));
            }
            if path.starts_with("/v1/") && (status.starts_with('4') || status.starts_with('5')) {
                assert!(
                    response.content.contains_key("application/problem+json"),
                    "{here} {status}: errors under /v1 are problem+json"
                );
            }
        }
    }
    assert_eq!(count, operations(&raw).len());
    let schemes = raw["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes["api_key"]["scheme"], "bearer");
    assert_eq!(schemes["basic"]["scheme"], "basic");
}

#[test]
fn every_documented_operation_is_served_and_nothing_else_at_its_path() {
    let server = Server::start_fresh(&[]);
    let spec: Value = serde_json::from_str(&spec_text(&server)).unwrap();
    let documented = operations(&spec);
    for required in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/v1/events/{event_type}",
        "/v1/event-types",
        "/v1/producers",
    ] {
        assert!(
            documented.iter().any(|(path, _)| path == required),
            "{required} is not documented"
        );
    }
    let paths: BTreeSet<&String> = documented.iter().map(|(path, _)| path).collect();
    for path in paths {
        let url = concrete(path);
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            let is_documented = documented.contains(&(path.clone(), method.to_string()));
            let answer = unrouted(send(&server, &method, &url));
            if is_documented {
                assert_eq!(answer, None, "{method} {path} is documented but not served");
            } else {
                assert!(
                    answer.is_some(),
                    "{method} {path} is served but not documented"
                );
            }
        }
    }
}

/// Every file of the workspace's crates, as text.
fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let name = path.file_name().unwrap().to_string_lossy();
            if !matches!(name.as_ref(), "target" | "tests" | "node_modules" | ".git") {
                sources(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((
                path.display().to_string(),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }
}

/// `routes!` documents what it routes; a plain `.route("/v1…")` (or `.nest`) would serve a
/// path the document does not know, which no request against the server can reveal.
#[test]
fn no_v1_route_is_registered_outside_the_documented_routers() {
    let mut files = Vec::new();
    sources(Path::new(env!("CARGO_MANIFEST_DIR")), &mut files);
    assert!(files.len() > 20, "found only {} source files", files.len());
    let mut offenders = Vec::new();
    for (path, text) in &files {
        let squeezed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        for call in [".route(", ".route_service(", ".nest(", ".nest_service("] {
            if squeezed.contains(&format!("{call}\"/v1")) {
                offenders.push(format!("{path}: {call}\"/v1…"));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "register /v1 routes with utoipa_axum::routes! so they are documented: {offenders:?}"
    );
}
