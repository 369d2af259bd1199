//! The embedded backend (placeholder: being written).

use std::path::PathBuf;

/// When the embedded log forces appended data to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// fsync before acknowledging every append (group commit): survives power loss.
    #[default]
    Always,
    /// Leave flushing to the OS: survives a process crash, not a power loss.
    Never,
}

/// Options of the embedded log.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    pub dir: PathBuf,
    pub fsync: FsyncPolicy,
    pub segment_bytes: u64,
}

/// The embedded backend.
#[derive(Debug)]
pub struct EmbeddedLog {
    _options: EmbeddedOptions,
}
