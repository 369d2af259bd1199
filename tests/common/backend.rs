//! One end-to-end case, two event logs: a [`Bed`] is a `tributary serve` in a temporary
//! directory on the embedded log or on the Kafka broker `TRIBUTARY_TEST_KAFKA` names, and the
//! way to read back what it wrote.

use std::process::ExitStatus;

use serde_json::Value;

use super::{LogReader, Server};

/// The environment variable naming the test broker (`scripts/test-full` sets it).
pub(crate) const KAFKA_ENV: &str = "TRIBUTARY_TEST_KAFKA";

/// Which event log the server writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// The embedded log in the server's data directory.
    Embedded,
    /// The Kafka broker of `TRIBUTARY_TEST_KAFKA`.
    Kafka,
}

fn kafka_servers() -> String {
    std::env::var(KAFKA_ENV).unwrap_or_else(|_| {
        panic!("{KAFKA_ENV} is not set: run scripts/test-full, which starts the services")
    })
}

/// A server on one backend, in a temporary directory that outlives it.
pub(crate) struct Bed {
    pub(crate) backend: Backend,
    server: Option<Server>,
    // Dropped last: the server and the embedded log live in it.
    dir: tempfile::TempDir,
}

impl std::ops::Deref for Bed {
    type Target = Server;

    fn deref(&self) -> &Server {
        self.server.as_ref().expect("the server is running")
    }
}

impl Bed {
    /// Starts `tributary serve` on `backend` with extra environment `env`.
    pub(crate) fn start(backend: Backend, env: &[(&str, &str)]) -> Bed {
        let dir = tempfile::tempdir().unwrap();
        let mut bed = Bed {
            backend,
            server: None,
            dir,
        };
        bed.restart(env);
        bed
    }

    /// Starts the server again in the same directory (after [`Bed::stop`]).
    pub(crate) fn restart(&mut self, env: &[(&str, &str)]) {
        assert!(self.server.is_none(), "the server is still running");
        let kafka = match self.backend {
            Backend::Embedded => None,
            Backend::Kafka => Some(kafka_servers()),
        };
        let args: Vec<&str> = match &kafka {
            Some(servers) => vec!["--kafka", servers],
            None => Vec::new(),
        };
        let server = Server::start(self.dir.path(), &args, env);
        let ready: Value = server.get("/readyz").json().unwrap();
        let expected = match self.backend {
            Backend::Embedded => "embedded",
            Backend::Kafka => "kafka",
        };
        assert_eq!(ready["eventlog"], expected, "{ready}");
        self.server = Some(server);
    }

    /// Hands the running server over (to signal it and wait for it by hand).
    pub(crate) fn take_server(&mut self) -> Server {
        self.server.take().expect("the server is running")
    }

    /// Stops the server with SIGTERM; it must exit 0.
    pub(crate) fn stop(&mut self) {
        let status: ExitStatus = self.take_server().terminate();
        assert!(status.success(), "SIGTERM exits 0: {status}");
    }

    /// Stops the server if it runs, and opens the log it wrote to.
    pub(crate) fn log(&mut self) -> LogReader {
        if self.server.is_some() {
            self.stop();
        }
        match self.backend {
            Backend::Embedded => {
                LogReader::embedded(&self.dir.path().join("tributary-data").join("eventlog"))
            }
            Backend::Kafka => LogReader::kafka(&kafka_servers()),
        }
    }
}
