//! The conformance suite against the embedded backend.

use std::sync::Arc;

use async_trait::async_trait;
use tributary_eventlog::conformance::Subject;
use tributary_eventlog::{EmbeddedLog, EmbeddedOptions, EventLog, LogError};

/// A fresh log in a temporary directory, with small segments so that the suite rolls
/// segments and retention has whole segments to delete.
struct Embedded {
    _dir: tempfile::TempDir,
    log: Arc<EmbeddedLog>,
}

#[async_trait]
impl Subject for Embedded {
    fn log(&self) -> Arc<dyn EventLog> {
        self.log.clone()
    }

    async fn enforce_retention(&self) -> Option<Result<(), LogError>> {
        Some(self.log.enforce_retention().await)
    }
}

async fn embedded() -> Embedded {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = EmbeddedOptions::new(dir.path()).with_segment_bytes(64 << 10);
    let log = EmbeddedLog::open(options).await.expect("open embedded log");
    Embedded {
        _dir: dir,
        log: Arc::new(log),
    }
}

tributary_eventlog::conformance_suite!(setup: embedded());
