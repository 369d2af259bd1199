//! The shared vocabulary of replay: what a job selects, where it writes, how far it got.
//! The engine (`engine`, `plan`), the sinks (`topic`, `file`) and the job store all speak it.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Which retained records a job reads. Topics are resolved by the caller (an event type's
/// topic, or the dead-letter topic); the time range is on the record timestamp (the event
/// time), `[from_ms, to_ms)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    pub topics: Vec<String>,
    pub from_ms: i64,
    pub to_ms: i64,
    /// Only records whose key is one of these (exact bytes of the UTF-8 text); empty: any.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Only records whose `tributary.producer` header is one of these; empty: any.
    #[serde(default)]
    pub producers: Vec<String>,
    /// Only records whose `tributary.schema_version` header is one of these; empty: any.
    #[serde(default)]
    pub schema_versions: Vec<i32>,
    /// Only records whose JSON value satisfies this; `None`: any.
    #[serde(default)]
    pub predicate: Option<Predicate>,
    /// Only dead letters with one of these `tributary.dlq.reason` values; empty: any.
    #[serde(default)]
    pub dead_letter_reasons: Vec<String>,
    /// Only dead letters whose `tributary.dlq.event_type` is one of these; empty: any.
    #[serde(default)]
    pub dead_letter_types: Vec<String>,
}

/// A condition on one field of a JSON event (RFC 6901 pointer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum Predicate {
    /// The field exists and equals `value`.
    Eq {
        pointer: String,
        value: serde_json::Value,
    },
    /// The field is missing or differs from `value`.
    Ne {
        pointer: String,
        value: serde_json::Value,
    },
    /// The field exists (any value, `null` included).
    Exists { pointer: String },
}

/// One record on its way to a sink: where it was read, and what is written.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayRecord {
    pub topic: String,
    pub partition: u32,
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<Bytes>,
    pub value: Bytes,
    /// As read, plus `tributary.replay_job` (added by the engine).
    pub headers: Vec<(String, Bytes)>,
}

/// Where a job's records go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Target {
    /// Appended to this topic (`replay.<job-id>` by default, or the source topic itself).
    Topic { topic: String },
    /// Written to files in `dir` (which must not exist yet), with a manifest.
    Files { dir: PathBuf, format: FileFormat },
    /// Dead letters fixed with `fix` and re-ingested through the gateway's pipeline under
    /// their original event ids (see [`ReingestSink`](crate::ReingestSink)).
    Reingest { fix: crate::reingest::Fix },
}

/// The format of an audit export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// One JSON object per line.
    Ndjson,
    /// An Avro object container file.
    Avro,
}

/// How far a job got in one partition: everything below `next_offset` is done (emitted,
/// filtered out, or skipped as unreadable) and, for emitted records, confirmed durable by the
/// sink at `sink_position`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub topic: String,
    pub partition: u32,
    pub next_offset: i64,
    pub emitted: u64,
    /// Read but not selected (filters, time range).
    pub filtered: u64,
    /// Could not be read (e.g. not JSON when a predicate needs it): skipped and counted.
    pub unreadable: u64,
    /// The sink's position after the last confirmed write (bytes of a file; 0 for topics).
    pub sink_position: u64,
}

/// The checkpoints of one job, by (topic, partition).
pub type CheckpointMap = BTreeMap<(String, u32), Checkpoint>;

/// The error a checkpoint store or sink reports.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The future the traits below return (object-safe async).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where checkpoints are kept (SQL in the server, memory in tests, a file for the CLI).
pub trait Checkpoints: Send + Sync {
    /// Every partition's checkpoint of `job_id` (empty: the job never confirmed anything).
    fn load<'a>(&'a self, job_id: &'a str) -> BoxFuture<'a, Result<CheckpointMap, BoxError>>;

    /// Stores `checkpoint` (replacing the partition's previous one).
    fn save<'a>(
        &'a self,
        job_id: &'a str,
        checkpoint: &'a Checkpoint,
    ) -> BoxFuture<'a, Result<(), BoxError>>;
}

/// Where a job writes. `write` returns only once every record of the batch is durable (a
/// topic: acknowledged by the log; a file: written and fsynced), with the sink's position
/// after them; a job resumed from a checkpoint reopens its sink at that position.
pub trait Sink: Send {
    fn write<'a>(&'a mut self, batch: Vec<ReplayRecord>) -> BoxFuture<'a, Result<u64, BoxError>>;

    /// Flushes and closes; for files, writes the manifest. Called once, after the last write.
    fn finish(self: Box<Self>) -> BoxFuture<'static, Result<SinkReport, BoxError>>;

    /// Another writer into the same target, for a partition replayed side by side with the
    /// others. Only a target that keeps each partition's order whatever the others do, and
    /// has no position shared between them, has one (a topic); with `None`, the default, the
    /// engine replays partitions one after another. The engine never finishes these writers.
    fn concurrent_writer(&self) -> Option<Box<dyn Sink>> {
        None
    }
}

/// What a sink says when it is finished.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkReport {
    /// The manifest written, for file targets.
    pub manifest: Option<PathBuf>,
    /// What a dead-letter recovery did with the dead letters it took (see
    /// [`ReingestSink`](crate::ReingestSink)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reingest: Option<crate::reingest::ReingestCounts>,
}

impl SinkReport {
    /// This report after `later` (a later run of the same job): the latest manifest, the
    /// counts summed.
    pub fn merged(&self, later: &SinkReport) -> SinkReport {
        let reingest = match (self.reingest, later.reingest) {
            (Some(a), Some(b)) => Some(a.plus(b)),
            (a, b) => a.or(b),
        };
        SinkReport {
            manifest: later.manifest.clone().or_else(|| self.manifest.clone()),
            reingest,
        }
    }
}
