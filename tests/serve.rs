//! End-to-end tests of `tributary serve`, `migrate` and `version`: the real binary, started
//! as a user would start it, on an ephemeral port.

// These tests are synchronous (no async runtime to block), so std::thread::sleep is fine here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::Server;

/// Runs the binary to completion with a bounded wait.
fn run(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = common::command(cwd);
    command.args(args).envs(env.iter().copied());
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _watchdog = common::watchdog(child.id(), Duration::from_secs(60));
    child.wait_with_output().unwrap()
}

/// A start-up failure: non-zero status and exactly one line on stderr, no panic.
fn assert_one_line_failure(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "expected failure, got {:?}; stderr: {stderr}",
        output.status
    );
    let lines: Vec<_> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got: {stderr}");
    assert!(lines[0].starts_with("tributary: "), "{stderr}");
    assert!(
        lines[0].contains(expected),
        "expected {expected:?} in {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn serves_on_embedded_defaults_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    assert!(
        server.base.starts_with("http://127.0.0.1:"),
        "loopback by default: {}",
        server.base
    );

    let health = server.get("/healthz");
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<serde_json::Value>().unwrap()["status"], "ok");

    let ready = server.get("/readyz");
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().unwrap();
    assert_eq!(body["eventlog"], "embedded");
    assert_eq!(body["database"], "sqlite");

    let missing = server.get("/v1/no/such/route");
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(
        missing.json::<serde_json::Value>().unwrap()["code"],
        "not_found"
    );

    let metrics = server.get("/metrics");
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().unwrap();
    assert!(text.contains("tributary_build_info"), "{text}");
    assert!(
        text.contains(
            "tributary_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains("route=\"unmatched\""),
        "unknown paths share one label: {text}"
    );

    let data = dir.path().join("tributary-data");
    assert!(
        data.join("tributary.db").is_file(),
        "SQLite file in ./tributary-data"
    );
    assert!(
        data.join("eventlog").is_dir(),
        "embedded log in ./tributary-data"
    );

    let status = server.terminate();
    assert!(status.success(), "SIGTERM exits 0, got {status:?}");
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(dir.path(), &[], &[]);
    let output = run(dir.path(), &["serve", "--listen", "127.0.0.1:0"], &[]);
    assert_one_line_failure(&output, "eventlog");
    assert!(first.terminate().success());
}

#[test]
fn config_file_environment_and_flags_layer() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tributary.toml"),
        "data_dir = \"from-file\"\nlisten = \"127.0.0.1:1\"\n",
    )
    .unwrap();
    // The file says port 1; the flag (127.0.0.1:0) wins. The environment beats the file for data_dir.
    let server = Server::start(dir.path(), &[], &[("TRIBUTARY_DATA_DIR", "from-env")]);
    assert!(!server.base.ends_with(":1"), "{}", server.base);
    assert!(dir.path().join("from-env/tributary.db").is_file());
    assert!(!dir.path().join("from-file").exists());
    assert!(server.terminate().success());
}

#[test]
fn bad_configuration_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.toml"), "this is [not toml").unwrap();
    assert_one_line_failure(
        &run(dir.path(), &["serve", "--config", "broken.toml"], &[]),
        "broken.toml",
    );

    std::fs::write(
        dir.path().join("typo.toml"),
        "[eventlog]\nfsink = \"never\"\n",
    )
    .unwrap();
    let output = run(dir.path(), &["serve", "--config", "typo.toml"], &[]);
    assert_one_line_failure(&output, "unknown key `fsink`");
    assert_eq!(output.status.code(), Some(2));

    let output = run(
        dir.path(),
        &["serve"],
        &[("TRIBUTARY_EVENTLOG__FSYNC", "sometimes")],
    );
    assert_one_line_failure(&output, "`eventlog.fsync`");
    assert_eq!(output.status.code(), Some(2));

    assert_one_line_failure(
        &run(dir.path(), &["serve", "--listen", "nowhere"], &[]),
        "`listen`",
    );
    assert_one_line_failure(
        &run(dir.path(), &["serve", "--config", "missing.toml"], &[]),
        "does not exist",
    );
}

#[test]
fn unusable_resources_are_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();

    std::fs::write(dir.path().join("a-file"), "x").unwrap();
    let output = run(
        dir.path(),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            "a-file/data",
        ],
        &[],
    );
    assert_one_line_failure(&output, "not writable");
    assert_eq!(output.status.code(), Some(1));

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    assert_one_line_failure(
        &run(dir.path(), &["serve", "--listen", &addr], &[]),
        "cannot listen on",
    );

    let output = run(
        dir.path(),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            "postgres://nobody:secret@127.0.0.1:1/none",
        ],
        &[("TRIBUTARY_DATABASE__CONNECT_TIMEOUT", "2s")],
    );
    assert_one_line_failure(&output, "cannot open the metadata database");
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("secret"),
        "password leaked"
    );

    let output = run(
        dir.path(),
        &["serve", "--listen", "127.0.0.1:0", "--kafka", "127.0.0.1:1"],
        &[("TRIBUTARY_KAFKA_CLIENT__CONNECT_TIMEOUT", "2s")],
    );
    assert_one_line_failure(&output, "cannot reach Kafka at 127.0.0.1:1");
}

#[test]
fn migrate_check_reports_then_migrate_applies() {
    let dir = tempfile::tempdir().unwrap();
    let check = run(dir.path(), &["migrate", "--check"], &[]);
    assert_eq!(
        check.status.code(),
        Some(1),
        "a fresh database is not current"
    );
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(stdout.contains("pending"), "{stdout}");

    let apply = run(dir.path(), &["migrate"], &[]);
    assert!(
        apply.status.success(),
        "{}",
        String::from_utf8_lossy(&apply.stderr)
    );
    let check = run(dir.path(), &["migrate", "--check"], &[]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(
        stdout.contains("applied") && !stdout.contains("pending"),
        "{stdout}"
    );
}

#[test]
fn version_names_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["version", "--json"], &[]);
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        doc["librdkafka"].as_str().unwrap().starts_with('2'),
        "{doc}"
    );
}

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run scripts/test-full, which starts the services")
    })
}

#[test]
#[ignore = "needs PostgreSQL: set TRIBUTARY_TEST_DATABASE_URL (scripts/test-full does)"]
fn serves_with_postgres_metadata() {
    let url = required_env("TRIBUTARY_TEST_DATABASE_URL");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--database-url", &url], &[]);
    let body: serde_json::Value = server.get("/readyz").json().unwrap();
    assert_eq!(body["database"], "postgres");
    assert!(
        !dir.path().join("tributary-data/tributary.db").exists(),
        "no SQLite file with PostgreSQL"
    );
    assert!(server.terminate().success());
    let check = run(
        dir.path(),
        &["migrate", "--check", "--database-url", &url],
        &[],
    );
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

#[test]
#[ignore = "needs a Kafka broker: set TRIBUTARY_TEST_KAFKA (scripts/test-full does)"]
fn serves_with_kafka_event_log() {
    let kafka = required_env("TRIBUTARY_TEST_KAFKA");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--kafka", &kafka], &[]);
    let body: serde_json::Value = server.get("/readyz").json().unwrap();
    assert_eq!(body["eventlog"], "kafka");
    assert!(
        !dir.path().join("tributary-data/eventlog").exists(),
        "no embedded log with Kafka"
    );
    assert!(server.terminate().success());
}

#[test]
fn logs_are_plain_text_when_stderr_is_not_a_terminal() {
    use std::io::{BufRead, BufReader};

    let dir = tempfile::tempdir().unwrap();
    let mut child = common::command(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("TRIBUTARY_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _watchdog = common::watchdog(child.id(), Duration::from_secs(60));
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("stores open"), "the first log line: {line:?}");
    assert!(
        !line.contains('\u{1b}'),
        "no ANSI escapes in a pipe: {line:?}"
    );
}
