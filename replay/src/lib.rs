//! Replay jobs: re-emitting retained events — selected by topic, time range, key, producer,
//! schema version and a field predicate — to a topic or to audit files, at a bounded rate,
//! with a checkpoint per partition so a job killed mid-way resumes without re-emitting what it
//! already confirmed.
//!
//! The model ([`Selection`], [`Checkpoint`], [`Sink`], …) is the shared vocabulary; the engine
//! plans a job ([`plan`], [`dry_run`]) and runs it ([`run`]) against a [`Sink`] such as
//! [`TopicSink`]; the job store and the HTTP API keep jobs in SQL. What the engine guarantees:
//!
//! * **A fixed upper bound.** [`plan`] takes each partition's high watermark when the job
//!   starts as its end: records appended later are never replayed, so a job ends, even one
//!   that writes back into its source topic.
//! * **Exact time boundaries on every backend.** A record is selected when
//!   `from <= timestamp < to`. The planned start comes from the log's offset-for-time answer,
//!   checked against the records around it (a wrong answer is replaced by a binary search),
//!   and every record of the range is still filtered by time, because event times are not
//!   monotonic. See [`LOOKBACK`] for the one assumption on how far out of order they are.
//! * **Resume without gaps or duplicates past the checkpoint.** [`run`] writes a batch to the
//!   sink and saves the partition's checkpoint only after the sink has confirmed it; a run
//!   that stops for any reason resumes from the checkpoints. Only a batch written but not yet
//!   checkpointed when the run died can appear twice in a topic target.
//! * **Order per partition.** Records of one source partition are emitted in offset order; a
//!   [`TopicSink`] keeps their partition when the target has as many partitions as the source.
//! * **Bad records are counted, never fatal.** A record the predicate cannot read (not JSON)
//!   is skipped and counted as unreadable.
//! * **Bounded rate, pause, cancel, limit.** `rate_per_sec` paces emitted records evenly,
//!   [`Control`] pauses or cancels between batches, and `max_events` stops the job.
//!
//! This crate reads the event log and writes through sinks; it never decodes Avro, never
//! trusts a broker's offsets without checking them, and never chases a live tail.

mod engine;
mod error;
mod file;
mod http;
mod memory;
mod model;
mod open;
mod plan;
mod reingest;
mod scan;
pub use scan::DEFAULT_BATCH;
mod select;
mod service;
mod store;
mod time;
mod topic;

pub use engine::{
    Control, JobRun, Outcome, PARALLEL_PARTITIONS, PartitionProgress, Progress, RunState, Totals,
    resume_position, run,
};
pub use error::ReplayError;
pub use file::{FileError, FileSink, VerifyReport, verify};
pub use http::{REPLAY_TAG, replay_routes};
pub use memory::MemoryCheckpoints;
pub use model::{
    BoxError, BoxFuture, Checkpoint, CheckpointMap, Checkpoints, FileFormat, Predicate,
    ReplayRecord, Selection, Sink, SinkReport, Target,
};
pub use open::open_sink;
pub use plan::{LOOKBACK, PartitionEstimate, PartitionPlan, Plan, dry_run, plan};
pub use reingest::{
    Fix, FixPreview, MAX_FIX_OPERATIONS, Reingest, ReingestCounts, ReingestSink, ReingestVerdict,
    Resubmission, preview,
};
pub use select::validate;
pub use service::{
    Created, DryRun, FileRequest, JobView, MAX_FILTER_VALUES, MAX_JOB_TYPES, ReplayOptions,
    ReplayRequest, ReplayService, RunnerTask, TargetRequest, job_run, new_job_id, spawn_runner,
    start,
};
pub use store::{Desired, JobState, JobStore, NewJob, SqlCheckpoints, StoreError, StoredJob};
pub use time::parse_time;
pub use topic::{TopicSink, default_target_topic, ensure_topic};
