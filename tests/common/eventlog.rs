//! Reading back what a server wrote, through the event log's own client: a [`KafkaLog`] on the
//! broker the server used, or the [`EmbeddedLog`] in its data directory once it has exited (the
//! server holds a lock on that directory while it runs).
//!
//! Counts come from the records themselves: every partition is read record by record from its
//! low to its high watermark. (`KafkaLog` checks the end a broker claims against the records
//! before it answers a watermark, so Tansu's wrong ListOffsets answers do not reach here.)

use std::path::Path;
use std::sync::{Arc, OnceLock};
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

    /// The value as Confluent-framed JSON: the schema id and the event (the producer's JSON
    /// as sent, for plain JSON bodies).
    pub(crate) fn framed_json(&self) -> (u32, Value) {
        let (id, payload) = self.framed();
        let event: Value = serde_json::from_slice(payload).expect("a json payload");
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
    dead_letters: OnceLock<Vec<LogRecord>>,
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
            dead_letters: OnceLock::new(),
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
            dead_letters: OnceLock::new(),
        }
    }

    /// Every record of `topic`, partition by partition, in offset order: each partition is
    /// read from its low to its high watermark, and must hold a record at every offset.
    pub(crate) fn records(&self, topic: &str) -> Vec<LogRecord> {
        self.runtime.block_on(async {
            let description = self
                .log
                .describe_topic(topic)
                .await
                .unwrap_or_else(|e| panic!("topic {topic}: {e}"));
            let mut records = Vec::new();
            for partition in 0..description.partitions {
                let marks = self.log.watermarks(topic, partition).await.unwrap();
                let mut next = marks.low;
                while next < marks.high {
                    let batch = self
                        .log
                        .read(topic, partition, next, READ_BATCH)
                        .await
                        .unwrap_or_else(|e| panic!("read {topic}/{partition}@{next}: {e}"));
                    assert!(
                        !batch.is_empty(),
                        "{topic}/{partition}: the records end at {next}, the high watermark is {}",
                        marks.high
                    );
                    for record in batch {
                        assert_eq!(record.offset, next, "{topic}/{partition}: offsets in a row");
                        next += 1;
                        records.push(LogRecord { partition, record });
                    }
                }
            }
            records
        })
    }

    /// The dead letters of `event_type` in `tributary.dlq` (read once per reader).
    pub(crate) fn dead_letters(&self, event_type: &str) -> Vec<LogRecord> {
        let all = self
            .dead_letters
            .get_or_init(|| self.records("tributary.dlq"));
        all.iter()
            .filter(|r| r.header("tributary.dlq.event_type") == Some(event_type))
            .cloned()
            .collect()
    }
}
