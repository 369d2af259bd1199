//! Reading back what a server wrote, through the event log's own client: a [`KafkaLog`] on the
//! broker the server used, or the [`EmbeddedLog`] in its data directory once it has exited (the
//! server holds a lock on that directory while it runs).
//!
//! Counts come from the records themselves: every partition is read from its low watermark
//! until a read comes back empty, and the end reached must be the high watermark.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tributary_eventlog::{
    EmbeddedLog, EmbeddedOptions, EventLog, KafkaLog, KafkaOptions, StoredRecord,
};

/// Records read per call.
const READ_BATCH: usize = 1_000;

/// A record as read back, with the partition it lives in.
#[derive(Debug, Clone)]
pub(crate) struct LogRecord {
    pub(crate) partition: u32,
    pub(crate) record: StoredRecord,
}

impl LogRecord {
    /// The first header called `name`, as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        let value = self.record.header(name)?;
        Some(std::str::from_utf8(value).expect("a utf-8 header"))
    }

    /// The key as text.
    pub(crate) fn key(&self) -> Option<&str> {
        let key = self.record.key.as_ref()?;
        Some(std::str::from_utf8(key).expect("a utf-8 key"))
    }

    /// The value read as Confluent's wire format: the schema id and the payload after it.
    /// Fails the test if the value is not framed (magic byte 0, 4-byte big-endian id).
    pub(crate) fn framed(&self) -> (u32, &[u8]) {
        let value = &self.record.value;
        assert!(
            value.len() > 5 && value[0] == 0,
            "not confluent-framed: {value:?}"
        );
        let id = u32::from_be_bytes(value[1..5].try_into().unwrap());
        (id, &value[5..])
    }

    /// The value as Confluent-framed JSON: the schema id and the event. The payload must be
    /// compact (serde_json's own rendering of what it holds).
    pub(crate) fn framed_json(&self) -> (u32, Value) {
        let (id, payload) = self.framed();
        let event: Value = serde_json::from_slice(payload).expect("a json payload");
        assert_eq!(
            payload,
            serde_json::to_vec(&event).unwrap().as_slice(),
            "the payload is compact json"
        );
        (id, event)
    }

    /// The event's `tributary.event_id`.
    pub(crate) fn event_id(&self) -> &str {
        self.header(tributary_core::headers::EVENT_ID)
            .expect("every record carries its event id")
    }
}

/// An open event log, read on a runtime of its own (the tests are synchronous).
pub(crate) struct LogReader {
    // Dropped before the runtime (fields drop in order), after `close` in `Drop`.
    log: Arc<dyn EventLog>,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for LogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader")
            .field("backend", &self.log.backend())
            .finish()
    }
}

impl Drop for LogReader {
    fn drop(&mut self) {
        let _ = self.runtime.block_on(self.log.close());
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

impl LogReader {
    /// A Kafka client on `bootstrap_servers`.
    pub(crate) fn kafka(bootstrap_servers: &str) -> LogReader {
        let runtime = runtime();
        let mut options = KafkaOptions::new(bootstrap_servers);
        options.request_timeout = Duration::from_secs(10);
        let log = runtime
            .block_on(KafkaLog::connect(options))
            .unwrap_or_else(|e| panic!("cannot reach Kafka at {bootstrap_servers}: {e}"));
        LogReader {
            log: Arc::new(log),
            runtime,
        }
    }

    /// The embedded log in `dir` (the server's `{data_dir}/eventlog`); no server may hold it.
    pub(crate) fn embedded(dir: &Path) -> LogReader {
        let runtime = runtime();
        let log = runtime
            .block_on(EmbeddedLog::open(EmbeddedOptions::new(dir)))
            .unwrap_or_else(|e| panic!("cannot open the embedded log in {}: {e}", dir.display()));
        LogReader {
            log: Arc::new(log),
            runtime,
        }
    }

    /// Every record of `topic`, partition by partition, in offset order. Nothing may write
    /// to the topic meanwhile: the end of each partition must be its high watermark.
    pub(crate) fn records(&self, topic: &str) -> Vec<LogRecord> {
        self.read_all(topic, true)
    }

    /// The dead letters of `event_type` in `tributary.dlq` (which other tests on a shared
    /// broker may be writing to meanwhile).
    pub(crate) fn dead_letters(&self, event_type: &str) -> Vec<LogRecord> {
        self.read_all("tributary.dlq", false)
            .into_iter()
            .filter(|r| r.header("tributary.dlq.event_type") == Some(event_type))
            .collect()
    }

    fn read_all(&self, topic: &str, quiet: bool) -> Vec<LogRecord> {
        self.runtime.block_on(async {
            let description = self
                .log
                .describe_topic(topic)
                .await
                .unwrap_or_else(|e| panic!("topic {topic}: {e}"));
            let mut records = Vec::new();
            for partition in 0..description.partitions {
                let low = self.log.watermarks(topic, partition).await.unwrap().low;
                let mut next = low;
                loop {
                    let batch = self
                        .log
                        .read(topic, partition, next, READ_BATCH)
                        .await
                        .unwrap_or_else(|e| panic!("read {topic}/{partition}@{next}: {e}"));
                    let Some(last) = batch.last() else { break };
                    assert!(
                        batch.first().unwrap().offset >= next,
                        "{topic}/{partition}: a read from {next} went back"
                    );
                    next = last.offset + 1;
                    for record in batch {
                        records.push(LogRecord { partition, record });
                    }
                }
                let high = self.log.watermarks(topic, partition).await.unwrap().high;
                assert!(
                    next == high || (!quiet && next < high),
                    "{topic}/{partition}: the records end at {next}, the high watermark is {high}"
                );
            }
            records
        })
    }
}
