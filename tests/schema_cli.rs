//! End-to-end tests of `tributary schema register | check | diff | get | list`: a real
//! `tributary serve` on an ephemeral port in a temporary directory, and the real binary
//! talking to it with `--server`, as a user would.

// These tests are synchronous (no async runtime to block), so std::thread::sleep is fine here.
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

mod common;

use common::Server;

impl Server {
    /// Writes a file into the server's temporary directory (where the CLI also runs).
    fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    /// Runs `tributary schema ARGS --server BASE` in the temporary directory.
    fn schema(&self, args: &[&str]) -> Output {
        run(self.dir(), &self.base, args, None)
    }

    fn schema_stdin(&self, args: &[&str], input: &str) -> Output {
        run(self.dir(), &self.base, args, Some(input))
    }

    fn put(&self, path: &str, body: &Value) {
        let answer = reqwest::blocking::Client::new()
            .put(format!("{}{path}", self.base))
            .json(body)
            .timeout(Duration::from_secs(10))
            .send()
            .expect("request");
        assert!(answer.status().is_success(), "{:?}", answer.text());
    }
}

fn run(cwd: &Path, server: &str, args: &[&str], input: Option<&str>) -> Output {
    let mut command = common::command(cwd);
    command
        .arg("schema")
        .args(args)
        .args(["--server", server])
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    if let Some(input) = input {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).unwrap();
    }
    let _watchdog = common::watchdog(child.id(), Duration::from_secs(60));
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Success: status 0, nothing on stderr; returns stdout.
fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        output.status,
        stdout(output),
        stderr(output)
    );
    assert_eq!(stderr(output), "", "nothing on stderr on success");
    stdout(output)
}

fn json_out(output: &Output) -> Value {
    let text = ok(output);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Failure with `code`, stderr starting `tributary: ` and containing `expected`, no panic;
/// returns stderr.
fn fails(output: &Output, code: i32, expected: &str) -> String {
    let err = stderr(output);
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {err}",
        stdout(output)
    );
    assert!(err.contains(expected), "expected {expected:?} in {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// Failure with exactly one line on stderr.
fn fails_one_line(output: &Output, code: i32, expected: &str) {
    let err = fails(output, code, expected);
    let lines: Vec<_> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got: {err}");
    assert!(lines[0].starts_with("tributary: "), "{err}");
}

const V1: &str = r#"{"type":"record","name":"OrderPlaced","namespace":"orders","fields":[{"name":"id","type":"string"},{"name":"amount","type":"double"}]}"#;
const V2: &str = r#"{"type":"record","name":"OrderPlaced","namespace":"orders","fields":[{"name":"id","type":"string"},{"name":"amount","type":"double"},{"name":"currency","type":"string","default":"EUR"}]}"#;
/// Adds a field without a default: BACKWARD-incompatible with V1 and V2.
const BAD: &str = r#"{"type":"record","name":"OrderPlaced","namespace":"orders","fields":[{"name":"id","type":"string"},{"name":"amount","type":"double"},{"name":"currency","type":"string","default":"EUR"},{"name":"customer","type":"string"}]}"#;
/// Reads V2's data but not V1's: compatible with the latest, not with all under *_TRANSITIVE.
const NEEDS_CURRENCY: &str = r#"{"type":"record","name":"OrderPlaced","namespace":"orders","fields":[{"name":"id","type":"string"},{"name":"amount","type":"double"},{"name":"currency","type":"string"}]}"#;

const TYPE: &str = "orders.order_placed";
const SUBJECT: &str = "orders.order_placed-value";

/// A server holding V1 and V2 of `orders.order_placed`.
fn server_with_two_versions() -> Server {
    let server = Server::start_fresh(&[]);
    server.file("v1.avsc", V1);
    server.file("v2.avsc", V2);
    ok(&server.schema(&["register", TYPE, "-f", "v1.avsc"]));
    ok(&server.schema(&["register", TYPE, "-f", "v2.avsc"]));
    server
}

#[test]
fn register_new_then_idempotent_then_incompatible() {
    let server = Server::start_fresh(&[]);
    server.file("v1.avsc", V1);
    server.file("v2.avsc", V2);
    server.file("bad.avsc", BAD);

    let out = ok(&server.schema(&["register", TYPE, "-f", "v1.avsc"]));
    assert_eq!(out, format!("registered {SUBJECT} version 1 (id 1)\n"));
    let out = ok(&server.schema(&["register", TYPE, "-f", "v1.avsc"]));
    assert_eq!(
        out,
        format!("already registered: {SUBJECT} version 1 (id 1)\n")
    );
    let out = ok(&server.schema(&["register", "--subject", SUBJECT, "-f", "v2.avsc"]));
    assert_eq!(out, format!("registered {SUBJECT} version 2 (id 2)\n"));

    let refused = server.schema(&["register", TYPE, "-f", "bad.avsc"]);
    let err = fails(
        &refused,
        1,
        "schema not registered under orders.order_placed-value",
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines[0],
        "tributary: schema not registered under orders.order_placed-value, incompatible with \
         version 2 (BACKWARD):"
    );
    assert!(
        lines[1].starts_with("  - READER_FIELD_MISSING_DEFAULT_VALUE at /fields/3: "),
        "one problem per line: {err}"
    );
    assert!(lines[1].contains("\"customer\""), "{err}");
    assert_eq!(lines.len(), 2, "{err}");
    assert_eq!(stdout(&refused), "");

    // The refusal registered nothing.
    let versions = json_out(&server.schema(&["list", TYPE, "--json"]));
    assert_eq!(versions.as_array().unwrap().len(), 2);
}

#[test]
fn register_from_stdin_json_schema_and_references_flag() {
    let server = Server::start_fresh(&[]);
    let schema = r#"{"type":"object","properties":{"sku":{"type":"string"}}}"#;
    let out = server.schema_stdin(
        &["register", "shop.item", "-f", "-", "--type", "json"],
        schema,
    );
    assert_eq!(ok(&out), "registered shop.item-value version 1 (id 1)\n");
    let got = ok(&server.schema(&["get", "shop.item"]));
    assert!(
        got.starts_with("shop.item-value version 1 (id 1, JSON)\n"),
        "{got}"
    );

    // Stdin needs --type; a reference to a missing subject is the server's refusal.
    let out = server.schema_stdin(&["register", "shop.item", "-f", "-"], schema);
    fails_one_line(
        &out,
        2,
        "reading a schema from stdin needs --type avro|json",
    );
    server.file("item.json", schema);
    let out = server.schema(&[
        "register",
        "shop.other",
        "-f",
        "item.json",
        "--reference",
        "Sku=shop.sku-value:1",
    ]);
    fails_one_line(&out, 1, "(error 42201)");
    let out = server.schema(&[
        "register",
        "shop.other",
        "-f",
        "item.json",
        "--reference",
        "x",
    ]);
    fails_one_line(&out, 2, "expected NAME=SUBJECT:VERSION");
}

#[test]
fn check_against_latest_one_version_and_all() {
    let server = server_with_two_versions();
    server.file("bad.avsc", BAD);
    server.file("needs.avsc", NEEDS_CURRENCY);

    let out = ok(&server.schema(&["check", TYPE, "-f", "v2.avsc"]));
    assert_eq!(out, "compatible\n");

    let out = server.schema(&["check", TYPE, "-f", "bad.avsc"]);
    fails_one_line(
        &out,
        1,
        "the schema is not compatible with orders.order_placed-value",
    );
    let text = stdout(&out);
    assert!(
        text.starts_with("incompatible with version 2 (BACKWARD):\n  - READER_FIELD_MISSING_DEFAULT_VALUE at /fields/3"),
        "{text}"
    );

    // Compatible with the latest; against version 1 it is not.
    ok(&server.schema(&["check", TYPE, "-f", "needs.avsc"]));
    let out = server.schema(&["check", TYPE, "-f", "needs.avsc", "--version", "1"]);
    fails_one_line(&out, 1, "not compatible");
    assert!(stdout(&out).starts_with("incompatible with version 1 (BACKWARD):"));

    // "all" follows the subject's level: under BACKWARD that is the latest only ...
    ok(&server.schema(&["check", TYPE, "-f", "needs.avsc", "--version", "all"]));
    // ... and under BACKWARD_TRANSITIVE every version.
    server.put(
        &format!("/config/{SUBJECT}"),
        &json!({ "compatibility": "BACKWARD_TRANSITIVE" }),
    );
    let out = server.schema(&["check", TYPE, "-f", "needs.avsc", "--version", "all"]);
    fails_one_line(&out, 1, "not compatible");
    assert!(
        stdout(&out).starts_with("incompatible with version 1 (BACKWARD_TRANSITIVE):"),
        "{}",
        stdout(&out)
    );

    let out = server.schema(&["check", TYPE, "-f", "v2.avsc", "--version", "zero"]);
    fails_one_line(&out, 2, "neither a positive number nor `latest`");
}

#[test]
fn get_latest_by_version_by_id_and_raw() {
    let server = server_with_two_versions();

    let latest = ok(&server.schema(&["get", TYPE]));
    insta::assert_snapshot!("get_latest", latest);
    let by_version = ok(&server.schema(&["get", TYPE, "--version", "1"]));
    insta::assert_snapshot!("get_version_1", by_version);
    let by_id = ok(&server.schema(&["get", "--id", "2"]));
    insta::assert_snapshot!("get_id_2", by_id);
    let by_id_in_subject = ok(&server.schema(&["get", TYPE, "--id", "1"]));
    assert!(
        by_id_in_subject.starts_with("orders.order_placed-value version 1 (id 1, AVRO)\n"),
        "{by_id_in_subject}"
    );

    let raw = ok(&server.schema(&["get", TYPE, "--version", "1", "--raw"]));
    assert_eq!(raw, format!("{V1}\n"));
    let raw = ok(&server.schema(&["get", "--id", "2", "--raw"]));
    assert_eq!(raw, format!("{V2}\n"));
}

#[test]
fn list_subjects_and_versions_aligned() {
    let server = server_with_two_versions();
    server.file("item.json", r#"{"type":"object"}"#);
    ok(&server.schema(&["register", "shop.item", "-f", "item.json"]));
    ok(&server.schema(&["register", "--subject", "x", "-f", "item.json"]));

    let subjects = ok(&server.schema(&["list"]));
    insta::assert_snapshot!("list_subjects", subjects);
    let lines: Vec<&str> = subjects.lines().collect();
    let column = lines[0].find("LATEST").unwrap();
    for line in &lines[1..] {
        assert!(
            line[..column].ends_with("  ") && !line[column..].starts_with(' '),
            "aligned: {subjects}"
        );
    }
    let prefixed = ok(&server.schema(&["list", "--prefix", "shop."]));
    assert_eq!(prefixed.lines().count(), 2, "{prefixed}");

    let versions = ok(&server.schema(&["list", TYPE]));
    insta::assert_snapshot!("list_versions", versions);

    let out = server.schema(&["list", "nothing.here"]);
    fails_one_line(
        &out,
        1,
        "Subject 'nothing.here-value' not found. (error 40401)",
    );
}

#[test]
fn diff_versions_and_file_against_latest() {
    let server = server_with_two_versions();
    server.file("bad.avsc", BAD);

    let default = ok(&server.schema(&["diff", TYPE]));
    insta::assert_snapshot!("diff_previous_latest", default);
    let explicit = ok(&server.schema(&["diff", "--subject", SUBJECT, "1", "2"]));
    assert_eq!(explicit, default);

    let reversed = ok(&server.schema(&["diff", TYPE, "2", "1"]));
    assert!(
        reversed.contains("\n-      \"name\": \"currency\",\n"),
        "{reversed}"
    );
    assert!(
        reversed.ends_with("compatible under BACKWARD: version 2 after version 1\n"),
        "{reversed}"
    );

    let same = ok(&server.schema(&["diff", TYPE, "1", "1"]));
    assert!(same.contains("(no differences)\n"), "{same}");

    let file = ok(&server.schema(&["diff", TYPE, "--file", "bad.avsc"]));
    insta::assert_snapshot!("diff_file_latest", file);

    let out = server.schema(&["diff", TYPE, "1"]);
    fails_one_line(&out, 2, "give two versions (V1 V2) or none");
}

#[test]
fn json_output_of_every_command() {
    let server = Server::start_fresh(&[]);
    server.file("v1.avsc", V1);
    server.file("v2.avsc", V2);
    server.file("bad.avsc", BAD);

    let registered = json_out(&server.schema(&["register", TYPE, "-f", "v1.avsc", "--json"]));
    assert_eq!(
        registered,
        json!({"subject": SUBJECT, "version": 1, "id": 1, "schemaType": "AVRO", "created": true})
    );
    let again = json_out(&server.schema(&["register", TYPE, "-f", "v1.avsc", "--json"]));
    assert_eq!(again["created"], false);
    json_out(&server.schema(&["register", TYPE, "-f", "v2.avsc", "--json"]));

    let refused = server.schema(&["register", TYPE, "-f", "bad.avsc", "--json"]);
    assert_eq!(refused.status.code(), Some(1));
    let body: Value = serde_json::from_str(&stdout(&refused)).unwrap();
    assert_eq!(body["error_code"], 409);
    assert!(body["messages"].as_array().unwrap().len() >= 2, "{body}");

    let check = json_out(&server.schema(&["check", TYPE, "-f", "v2.avsc", "--json"]));
    assert_eq!(check, json!({"is_compatible": true, "messages": []}));
    let check = server.schema(&["check", TYPE, "-f", "bad.avsc", "--json"]);
    assert_eq!(check.status.code(), Some(1));
    let report: Value = serde_json::from_str(&stdout(&check)).unwrap();
    assert_eq!(report["is_compatible"], false);

    let got = json_out(&server.schema(&["get", TYPE, "--json"]));
    assert_eq!(
        got,
        json!({"subject": SUBJECT, "version": 2, "id": 2, "schema": V2})
    );
    let by_id = json_out(&server.schema(&["get", "--id", "1", "--json"]));
    assert_eq!(by_id, json!({"id": 1, "schema": V1}));

    let subjects = json_out(&server.schema(&["list", "--json"]));
    assert_eq!(
        subjects,
        json!([{"subject": SUBJECT, "version": 2, "id": 2, "schema": V2}])
    );
    let versions = json_out(&server.schema(&["list", TYPE, "--json"]));
    assert_eq!(versions[0]["version"], 1);
    assert_eq!(versions[1]["version"], 2);

    let diff = json_out(&server.schema(&["diff", TYPE, "--json"]));
    assert_eq!(diff["changed"], true);
    assert_eq!(diff["from"]["version"], 1);
    assert_eq!(diff["to"]["version"], 2);
    assert_eq!(diff["compatibility"]["is_compatible"], true);
    assert_eq!(diff["compatibility"]["level"], "BACKWARD");
    assert!(diff["diff"].as_str().unwrap().starts_with("@@ "));

    let missing = server.schema(&["get", "nope.none", "--json"]);
    assert_eq!(missing.status.code(), Some(1));
    let body: Value = serde_json::from_str(&stdout(&missing)).unwrap();
    assert_eq!(
        body,
        json!({"error_code": 40401, "message": "Subject 'nope.none-value' not found."})
    );
}

#[test]
fn bad_input_gives_one_line_and_the_right_status() {
    let server = server_with_two_versions();
    server.file("schema.txt", V1);

    let out = server.schema(&["register", TYPE, "-f", "missing.avsc"]);
    fails_one_line(
        &out,
        1,
        "cannot read missing.avsc: no such file or directory",
    );
    let out = server.schema(&["register", TYPE, "-f", "schema.txt"]);
    fails_one_line(&out, 2, "cannot tell the schema type of schema.txt");
    let out = server.schema(&["register", TYPE, "-f", "schema.txt", "--type", "protobuf"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses unknown types");
    assert!(stderr(&out).contains("invalid value 'protobuf'"));
    let out = server.schema(&["register", TYPE]);
    assert_eq!(out.status.code(), Some(2), "--file is required");
    let out = server.schema(&["register", "-f", "schema.txt", "--type", "avro"]);
    fails_one_line(
        &out,
        2,
        "name an event type (TYPE) or a subject (--subject S)",
    );
    let out = server.schema(&["get", "Orders"]);
    fails_one_line(&out, 2, "\"Orders\" is not an event type name");

    let out = server.schema(&["get", "nope.none"]);
    fails_one_line(
        &out,
        1,
        "Subject 'nope.none-value' not found. (error 40401)",
    );
    let out = server.schema(&["get", TYPE, "--version", "9"]);
    fails_one_line(&out, 1, "Version 9 not found. (error 40402)");
    let out = server.schema(&["get", "--id", "99"]);
    fails_one_line(&out, 1, "Schema 99 not found. (error 40403)");
    server.file("broken.avsc", "{\"type\":");
    let out = server.schema(&["register", TYPE, "-f", "broken.avsc"]);
    fails_one_line(&out, 1, "Invalid schema");

    // Nothing listens on port 1.
    let down = run(server.dir(), "http://127.0.0.1:1", &["list"], None);
    fails_one_line(
        &down,
        1,
        "cannot reach the Tributary server at http://127.0.0.1:1: connection refused",
    );
    let out = run(server.dir(), "ftp://x", &["list"], None);
    fails_one_line(&out, 2, "scheme \"ftp\" is not supported");
}

#[test]
fn topic_prefix_names_the_subject() {
    let server = Server::start_fresh(&[]);
    server.file("v1.avsc", V1);
    let out = server.schema(&["register", TYPE, "-f", "v1.avsc", "--topic-prefix", "prod."]);
    assert_eq!(
        ok(&out),
        "registered prod.orders.order_placed-value version 1 (id 1)\n"
    );
    let out = server.schema(&[
        "get",
        "--subject",
        "prod.orders.order_placed-value",
        "--raw",
    ]);
    assert_eq!(ok(&out), format!("{V1}\n"));
}

#[test]
fn a_server_that_does_not_answer_times_out() {
    // Accepts connections (the kernel completes the handshake) but never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", silent.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let out = run(dir.path(), &base, &["list", "--timeout", "300ms"], None);
    fails_one_line(
        &out,
        1,
        &format!("the Tributary server at {base} did not answer within 300ms"),
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    drop(silent);
}
