//! What every end-to-end test needs: the real `tributary` binary, started as a user would
//! start it on an ephemeral loopback port, and stopped when the test ends.

// Each test file uses a different part of this module.
#![allow(dead_code)]
// Synchronous test code (no async runtime to block): std::thread::sleep is fine here.
#![allow(clippy::disallowed_methods)]

mod backend;
mod eventlog;
mod webdriver;

// Only the files that read back the log use these.
#[allow(unused_imports)]
pub(crate) use backend::{Backend, Bed, KAFKA_ENV};
#[allow(unused_imports)]
pub(crate) use eventlog::{LogReader, LogRecord};
#[allow(unused_imports)]
pub(crate) use webdriver::Browser;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_tributary");

/// Settings a developer's shell may carry that would change what the tests start.
const AMBIENT_SETTINGS: &[&str] = &[
    "TRIBUTARY_CONFIG",
    "TRIBUTARY_LISTEN",
    "TRIBUTARY_DATA_DIR",
    "TRIBUTARY_KAFKA",
    "TRIBUTARY_DATABASE_URL",
    "TRIBUTARY_TOPIC_PREFIX",
    "TRIBUTARY_SERVER",
];

/// A command for the binary in `cwd`, with quiet logs and no ambient settings.
pub(crate) fn command(cwd: &Path) -> Command {
    let mut command = Command::new(BIN);
    command.current_dir(cwd).env("TRIBUTARY_LOG", "warn");
    for name in AMBIENT_SETTINGS {
        command.env_remove(name);
    }
    command
}

/// A running `tributary serve`; killed if the test ends without stopping it.
pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `tributary serve --listen 127.0.0.1:0 ARGS` in `cwd` and waits for the address
    /// it prints.
    pub(crate) fn start(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::spawn(cwd.to_owned(), None, args, env)
    }

    /// As [`Server::start`], in a temporary directory of its own.
    pub(crate) fn start_fresh(args: &[&str]) -> Server {
        let temp = tempfile::tempdir().unwrap();
        Server::spawn(temp.path().to_owned(), Some(temp), args, &[])
    }

    fn spawn(
        dir: PathBuf,
        temp: Option<tempfile::TempDir>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let mut command = command(&dir);
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("start tributary serve");
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
            dir,
            _temp: temp,
        }
    }

    /// The server's working directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn get(&self, path: &str) -> reqwest::blocking::Response {
        reqwest::blocking::Client::new()
            .get(self.url(path))
            .timeout(Duration::from_secs(10))
            .send()
            .expect("request")
    }

    /// A request to `path` (30 s timeout), for the headers a test wants to set.
    pub(crate) fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::blocking::RequestBuilder {
        http().request(method, self.url(path))
    }

    /// POSTs `body` as `content_type` from the producer `e2e`; the status and the JSON body.
    pub(crate) fn post(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::blocking::Body>,
    ) -> (u16, Value) {
        let answer = answer(
            self.request(reqwest::Method::POST, path)
                .header("content-type", content_type)
                .header("tributary-producer", "e2e")
                .body(body),
        );
        (answer.status, answer.body)
    }

    pub(crate) fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        let answer = answer(
            self.request(reqwest::Method::PATCH, path)
                .header("content-type", "application/json")
                .body(body.to_string()),
        );
        (answer.status, answer.body)
    }

    /// `/metrics`, as Prometheus text.
    pub(crate) fn metrics(&self) -> String {
        self.get("/metrics").text().unwrap()
    }

    /// Sends SIGTERM and returns the exit status (the test fails if it takes over 30 s).
    pub(crate) fn terminate(self) -> ExitStatus {
        self.signal("TERM");
        self.wait_exit()
    }

    pub(crate) fn signal(&self, signal: &str) {
        send_signal(self.child.id(), signal);
    }

    /// Waits for the process to exit (the test fails if it takes over 30 s).
    pub(crate) fn wait_exit(mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Signals a process through kill(1): the workspace forbids `unsafe`, so no libc::kill.
pub(crate) fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// Kills `pid` once `limit` has passed, so a hung child cannot hang the test run.
pub(crate) fn watchdog(pid: u32, limit: Duration) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(pid.to_string())
            .status();
    })
}

/// An HTTP client for the tests: every request may take 30 s at most.
pub(crate) fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// What the server answered: status, headers and the body as JSON (`Null` if it is not).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Value,
}

impl Answer {
    /// A header's value as text (empty when absent).
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("", |v| v.to_str().expect("a text header"))
    }
}

/// Sends `request` and reads the answer.
pub(crate) fn answer(request: reqwest::blocking::RequestBuilder) -> Answer {
    let response = request.send().expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

/// POSTs `body` as JSON to `path` (as the local admin); the status and the JSON answer.
pub(crate) fn post_json(server: &Server, path: &str, body: &Value) -> (u16, Value) {
    let reply = answer(
        server
            .request(reqwest::Method::POST, path)
            .header("content-type", "application/json")
            .body(body.to_string()),
    );
    (reply.status, reply.body)
}

/// Reads an HTTP/1.1 answer from a raw connection until the server closes it (the request
/// must say `Connection: close`). Only `Content-Length` bodies are understood.
pub(crate) fn read_raw_answer(stream: &mut std::net::TcpStream) -> Answer {
    use std::io::Read;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the answer");
    let text = String::from_utf8(raw).expect("a text answer");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an http answer: {text:?}"));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {status_line:?}"));
    let mut headers = reqwest::header::HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        headers.append(
            reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
            value.trim().parse().unwrap(),
        );
    }
    assert!(
        !headers.contains_key("transfer-encoding"),
        "chunked answers are not understood: {text:?}"
    );
    Answer {
        status,
        headers,
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

/// The value of the sample of `name` whose labels include every one of `labels`.
pub(crate) fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|want| l.contains(want)))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

/// A fresh event-type name `e2e.{stem}_…`, so runs against a shared broker never collide.
pub(crate) fn fresh_type(stem: &str) -> String {
    format!("e2e.{stem}_{}", unique())
}

/// `{pid}_{nanoseconds}`: different in every call of every run.
pub(crate) fn unique() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}_{nanos}", std::process::id())
}
