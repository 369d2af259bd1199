use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::LogError;

/// A record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Partition key; records with equal keys land in the same partition.
    pub key: Option<Bytes>,
    pub value: Bytes,
    /// Record timestamp in milliseconds since the Unix epoch (Tributary: the event time).
    pub timestamp_ms: i64,
    /// Header names are usually constants: borrowed, they cost no allocation per record.
    pub headers: Vec<(Cow<'static, str>, Bytes)>,
    /// Headers many records carry alike (the gateway: every record of one request), written
    /// after `headers`. Sharing them costs a record one reference count, not a clone and a
    /// push per header.
    pub shared_headers: Option<SharedHeaders>,
    /// Forces the partition, overriding the key.
    pub partition: Option<u32>,
}

/// A list of headers several records share (see [`Record::shared_headers`]).
pub type SharedHeaders = Arc<[(Cow<'static, str>, Bytes)]>;

impl Record {
    pub fn new(value: impl Into<Bytes>, timestamp_ms: i64) -> Self {
        Record {
            key: None,
            value: value.into(),
            timestamp_ms,
            headers: Vec::new(),
            shared_headers: None,
            partition: None,
        }
    }

    /// Every header, as written: `headers`, then the shared ones.
    pub fn all_headers(&self) -> impl Iterator<Item = &(Cow<'static, str>, Bytes)> {
        self.headers
            .iter()
            .chain(self.shared_headers.iter().flat_map(|shared| shared.iter()))
    }

    /// How many headers [`Record::all_headers`] yields.
    pub fn header_count(&self) -> usize {
        self.headers.len()
            + self
                .shared_headers
                .as_ref()
                .map_or(0, |shared| shared.len())
    }

    /// Shares `headers` with other records (written after this record's own).
    pub fn with_shared_headers(mut self, headers: SharedHeaders) -> Self {
        self.shared_headers = Some(headers);
        self
    }

    pub fn with_key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn with_header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Bytes>,
    ) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn with_partition(mut self, partition: u32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Bytes this record occupies in memory and on the wire, roughly: for in-flight limits.
    pub fn approximate_size(&self) -> usize {
        self.key.as_ref().map_or(0, |k| k.len())
            + self.value.len()
            + self
                .all_headers()
                .map(|(n, v)| n.len() + v.len())
                .sum::<usize>()
            + 32
    }
}

/// Where a durable record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    pub partition: u32,
    pub offset: i64,
}

/// The verdict on one appended record.
pub type AppendResult = Result<Position, LogError>;

/// A record as read back from one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<Bytes>,
    pub value: Bytes,
    pub headers: Vec<(String, Bytes)>,
}

impl StoredRecord {
    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&Bytes> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// A record handed to a consumer-group member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    pub topic: String,
    pub partition: u32,
    pub record: StoredRecord,
}

/// How long a topic keeps records. `None` in a field means no limit of that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retention {
    /// Records older than this (by timestamp) may be deleted.
    pub time: Option<Duration>,
    /// Each partition may be trimmed, oldest first, to stay under this many bytes.
    pub bytes: Option<u64>,
}

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: u32,
    pub retention: Retention,
}

impl TopicSpec {
    pub fn new(name: impl Into<String>, partitions: u32) -> Self {
        TopicSpec {
            name: name.into(),
            partitions,
            retention: Retention::default(),
        }
    }

    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// Checks the name (Kafka's rules) and partition count.
    pub fn validate(&self) -> Result<(), LogError> {
        validate_topic_name(&self.name)?;
        if self.partitions == 0 || self.partitions > MAX_PARTITIONS {
            return Err(LogError::InvalidTopic(format!(
                "a topic needs between 1 and {MAX_PARTITIONS} partitions, not {}",
                self.partitions
            )));
        }
        Ok(())
    }
}

/// The most partitions one topic may have.
pub const MAX_PARTITIONS: u32 = 1024;

/// Kafka's topic-name rule: 1–249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub(crate) fn validate_topic_name(name: &str) -> Result<(), LogError> {
    if name.is_empty() || name.len() > 249 {
        return Err(LogError::InvalidTopic(format!(
            "a topic name needs 1 to 249 characters, not {}",
            name.len()
        )));
    }
    if name == "." || name == ".." {
        return Err(LogError::InvalidTopic(format!(
            "{name:?} is not a valid topic name"
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(LogError::InvalidTopic(format!(
            "topic name {name:?} contains {c:?}; only letters, digits, '.', '_' and '-' are allowed"
        )));
    }
    Ok(())
}

/// A topic as the log knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    pub name: String,
    pub partitions: u32,
    pub retention: Retention,
}

/// The range of offsets a partition holds: `[low, high)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermarks {
    pub low: i64,
    pub high: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(TopicSpec::new("orders.order_placed", 3).validate().is_ok());
        assert!(TopicSpec::new("", 1).validate().is_err());
        assert!(TopicSpec::new("..", 1).validate().is_err());
        assert!(TopicSpec::new("a/b", 1).validate().is_err());
        assert!(TopicSpec::new("x".repeat(250), 1).validate().is_err());
        assert!(TopicSpec::new("ok", 0).validate().is_err());
        assert!(TopicSpec::new("ok", MAX_PARTITIONS + 1).validate().is_err());
    }
}
