//! Real Confluent Schema Registry clients against the real binary: Confluent's Python client
//! (`confluent-kafka`) and the npm `@kafkajs/confluent-schema-registry`, each registering,
//! looking up, serializing and deserializing (scripts in `tests/clients/`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Server;

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// Runs `program args… URL` in `tests/clients`, failing with its output (and the install
/// hint when a package is missing).
fn run_client(program: &str, script: &str, install: &str) {
    let server = Server::start_fresh(&[]);
    let output = Command::new(program)
        .current_dir(clients_dir())
        .arg(script)
        .arg(&server.base)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}; {install}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("MISSING PACKAGE") || stderr.contains("ERR_MODULE_NOT_FOUND") {
        panic!("a client package is missing: {install}\n{stderr}");
    }
    assert!(
        output.status.success(),
        "{script} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("all checks passed"), "{stdout}\n{stderr}");
}

#[test]
#[ignore = "needs the client packages: scripts/test-full installs them"]
fn confluent_python_client_registers_and_round_trips() {
    run_client(
        "python3",
        "confluent_python.py",
        "python3 -m pip install 'confluent-kafka[avro,json,schemaregistry]==2.16.1' (scripts/lib/services.sh ensure_python)",
    );
}

#[test]
#[ignore = "needs the client packages: scripts/test-full installs them"]
fn kafkajs_registry_client_registers_and_round_trips() {
    run_client(
        "node",
        "kafkajs_registry.mjs",
        "cd tests/clients && npm ci (scripts/lib/services.sh ensure_node_clients)",
    );
}
