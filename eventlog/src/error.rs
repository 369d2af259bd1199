/// How a caller should react to a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Transient: the same request may succeed later (broker down, timeout, queue full).
    Retryable,
    /// The request itself is wrong and will never succeed (too large, unknown topic, …).
    Rejected,
    /// The log is broken or misconfigured; retrying will not help until an operator acts.
    Fatal,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Retryable => "retryable",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Fatal => "fatal",
        }
    }
}

/// Errors of the event log. Messages are lowercase and name what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    #[error("topic {0:?} does not exist")]
    UnknownTopic(String),
    #[error("topic {0:?} already exists")]
    TopicExists(String),
    #[error("topic {topic:?} has no partition {partition}")]
    UnknownPartition { topic: String, partition: u32 },
    #[error("offset {offset} is outside the partition's range [{low}, {high}]")]
    OffsetOutOfRange { offset: i64, low: i64, high: i64 },
    #[error("invalid topic: {0}")]
    InvalidTopic(String),
    #[error("record rejected: {0}")]
    Rejected(String),
    #[error("event log unavailable: {0}")]
    Unavailable(String),
    #[error("event log timed out: {0}")]
    Timeout(String),
    #[error("event log closed")]
    Closed,
    #[error("event log failed: {0}")]
    Fatal(String),
}

impl LogError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            LogError::Unavailable(_) | LogError::Timeout(_) | LogError::Closed => {
                ErrorKind::Retryable
            }
            LogError::UnknownTopic(_)
            | LogError::TopicExists(_)
            | LogError::UnknownPartition { .. }
            | LogError::OffsetOutOfRange { .. }
            | LogError::InvalidTopic(_)
            | LogError::Rejected(_) => ErrorKind::Rejected,
            LogError::Fatal(_) => ErrorKind::Fatal,
        }
    }

    pub fn is_retryable(&self) -> bool {
        self.kind() == ErrorKind::Retryable
    }
}

impl From<std::io::Error> for LogError {
    fn from(err: std::io::Error) -> Self {
        LogError::Fatal(format!("i/o error: {err}"))
    }
}
