//! The one error type of replay.

use tributary_eventlog::LogError;

/// Why a replay could not be planned or run. Messages are lowercase and say what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The request itself is wrong (empty topics, `from >= to`, a bad pointer, a bad time);
    /// retrying the same request fails the same way.
    #[error("bad replay request: {0}")]
    BadRequest(String),
    /// The event log failed; [`LogError::is_retryable`] says whether a later run may succeed.
    #[error("event log: {0}")]
    Log(#[from] LogError),
    /// The sink did not confirm a write; the job resumes from its last checkpoint.
    #[error("sink failed: {0}")]
    Sink(String),
    /// The checkpoint store failed, or holds checkpoints that do not fit the plan.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// A job or an event type the request names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this (not an owner of every selected type, nor an admin).
    #[error("{0}")]
    Forbidden(String),
    /// The request conflicts with what exists (a finished job, an export directory that is
    /// already there).
    #[error("{0}")]
    Conflict(String),
    /// The metadata store (jobs, event types) failed.
    #[error("metadata store: {0}")]
    Store(String),
}

impl From<crate::store::StoreError> for ReplayError {
    fn from(error: crate::store::StoreError) -> Self {
        ReplayError::Store(error.to_string())
    }
}
