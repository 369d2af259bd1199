//! Real Confluent Schema Registry clients against the real binary: Confluent's Python client
//! (`confluent-kafka`) and the npm `@kafkajs/confluent-schema-registry`, each registering,
//! looking up, serializing and deserializing (scripts in `tests/clients/`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_tributary");

/// A running server on an ephemeral port; killed when dropped.
struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("TRIBUTARY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start tributary");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("read the banner");
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    Server {
        child,
        base,
        _dir: dir,
    }
}

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// Runs `program args… URL` in `tests/clients`, failing with its output (and the install
/// hint when a package is missing).
fn run_client(program: &str, script: &str, install: &str) {
    let server = start();
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
