//! What every end-to-end test needs: the real `tributary` binary, started as a user would
//! start it on an ephemeral loopback port, and stopped when the test ends.

// Each test file uses a different part of this module.
#![allow(dead_code)]
// Synchronous test code (no async runtime to block): std::thread::sleep is fine here.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

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
