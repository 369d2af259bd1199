//! Audit exports: a replay job's records written to files an auditor can keep and check.
//!
//! An export is a directory that did not exist before the job: one data file
//! (`events.ndjson` or `events.avro`, see [`record`] for the representation) and, once the
//! job finishes, `manifest.json` (size, SHA-256 and per-partition counts of the data file).
//! [`FileSink`] writes it; [`verify`] re-reads it and says, in words, what does not match.
//!
//! Crash safety: every `write` ends on a record boundary (a line, an Avro block) and is fsynced
//! before its position is returned, so truncating the data file to any returned position leaves
//! a valid file. [`FileSink::resume`] truncates to the checkpointed position and rebuilds the
//! running statistics and hash by re-reading the file up to it (it is our own format); no
//! sidecar state is kept. This module never overwrites a finished audit: `create` refuses an
//! existing directory.

mod container;
mod manifest;
mod record;
mod scan;
mod sink;
mod verify;

use std::io;
use std::path::PathBuf;

pub use sink::FileSink;
pub use verify::{VerifyReport, verify};

/// Why an audit export could not be written, resumed or read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// `create` never writes into a directory that exists: an audit is never overwritten.
    #[error("{path} already exists; an audit export is written to a new directory only")]
    Exists { path: PathBuf },
    #[error("{path}: the parent directory does not exist")]
    ParentMissing { path: PathBuf },
    #[error("{path} does not exist")]
    Missing { path: PathBuf },
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A line of an NDJSON data file (1-based) is not a record of ours.
    #[error("{path}: corrupt record at line {line}: {reason}")]
    CorruptLine {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    /// A data block of an Avro data file (1-based, the header not counted) cannot be read.
    #[error("{path}: corrupt data at block {block}: {reason}")]
    CorruptBlock {
        path: PathBuf,
        block: u64,
        reason: String,
    },
    #[error("{path}: corrupt avro header: {reason}")]
    CorruptHeader { path: PathBuf, reason: String },
    /// The data file ends inside a record or block (an unfinished write or a cut file).
    #[error("{path}: {bytes} bytes of an unfinished record or block after byte {from}")]
    Incomplete {
        path: PathBuf,
        from: u64,
        bytes: u64,
    },
    /// `resume` was given a position that no `write` of this export returned.
    #[error("cannot resume {path} at byte {position}: {reason}")]
    Position {
        path: PathBuf,
        position: u64,
        reason: String,
    },
    /// A batch would put a partition's offsets out of order; nothing of it was written.
    #[error(
        "offset {offset} of {topic}/{partition} does not follow offset {previous}: offsets must strictly increase within a partition"
    )]
    OutOfOrder {
        topic: String,
        partition: u32,
        offset: i64,
        previous: i64,
    },
    #[error("avro encoding failed: {0}")]
    Avro(String),
    /// An earlier write failed part-way; the file must be reopened with `resume` at the last
    /// checkpointed position.
    #[error("the file sink failed earlier and must be resumed from its last checkpoint")]
    Broken,
}

impl FileError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> FileError {
        FileError::Io {
            path: path.into(),
            source,
        }
    }
}

/// The data file's name in an export directory of `format`.
pub(crate) fn data_file_name(format: crate::FileFormat) -> &'static str {
    match format {
        crate::FileFormat::Ndjson => "events.ndjson",
        crate::FileFormat::Avro => "events.avro",
    }
}

/// The manifest's name in an export directory.
pub(crate) const MANIFEST_FILE: &str = "manifest.json";
