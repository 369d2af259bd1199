//! Replay jobs: re-emitting retained events — selected by topic, time range, key, producer,
//! schema version and a field predicate — to a topic or to audit files, at a bounded rate,
//! with a checkpoint per partition so a job killed mid-way resumes without re-emitting what it
//! already confirmed.
//!
//! [`model`] is the shared vocabulary; the engine plans a job (offsets fixed when it starts)
//! and runs it against a [`Sink`]; the job store and the HTTP API keep jobs in SQL.

mod model;

pub use model::{
    BoxError, BoxFuture, Checkpoint, CheckpointMap, Checkpoints, FileFormat, Predicate,
    ReplayRecord, Selection, Sink, SinkReport, Target,
};

mod file;

pub use file::{FileError, FileSink, VerifyReport, verify};
