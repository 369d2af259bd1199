//! The event log: where events live once Tributary has accepted them.
//!
//! This crate owns the [`EventLog`] trait — topics, partitions, offsets, timestamps, retention,
//! durable appends and consumer groups — and its two backends:
//!
//! * [`KafkaLog`], for production: rdkafka with an idempotent, `acks=all` producer. It never
//!   trusts the offsets a broker reports for a timestamp or for the end of a partition without
//!   checking them against the records themselves.
//! * [`EmbeddedLog`], for one machine: segment files on local disk with the same model, so
//!   `tributary serve` works with no services at all.
//!
//! An append reports a record's position only once the record is durable. The crate knows
//! nothing of schemas, event types or HTTP; it must never decode the values it stores.

mod embedded;
mod error;
mod kafka;
mod metrics;
mod partitioner;
mod record;

#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "conformance")]
pub mod mock_kafka;

pub use embedded::{EmbeddedLog, EmbeddedOptions, FsyncPolicy};
pub use error::{ErrorKind, LogError};
pub use kafka::{KafkaLog, KafkaOptions, ProducerKind};
pub use partitioner::partition_for_key;
pub use record::{
    AppendResult, ConsumedRecord, MAX_PARTITIONS, Position, Record, Retention, SharedHeaders,
    StoredRecord, TopicDescription, TopicSpec, Watermarks,
};

use std::time::Duration;

use async_trait::async_trait;

/// A partitioned, append-only log of records with Kafka's model.
///
/// Offsets are per partition, start at 0 and grow by one per record. The *low watermark* is
/// the first offset still retained; the *high watermark* is the offset the next record will
/// get, so a partition holds `[low, high)`. Only durable records are ever visible to readers.
#[async_trait]
pub trait EventLog: Send + Sync + std::fmt::Debug + 'static {
    /// `"embedded"` or `"kafka"`: for logs, metrics and `/readyz`.
    fn backend(&self) -> &'static str;

    /// Creates a topic. Fails with [`LogError::TopicExists`] if it already exists.
    async fn create_topic(&self, spec: &TopicSpec) -> Result<(), LogError>;

    /// Deletes a topic and every record in it.
    async fn delete_topic(&self, topic: &str) -> Result<(), LogError>;

    /// Every topic, sorted by name.
    async fn list_topics(&self) -> Result<Vec<TopicDescription>, LogError>;

    /// One topic's partitions and retention.
    async fn describe_topic(&self, topic: &str) -> Result<TopicDescription, LogError>;

    /// Appends `records` to `topic` and waits until each is durable.
    ///
    /// The outer error means nothing was appended (unknown topic, log closed). Otherwise the
    /// answer has one entry per record, in order: its position once durable, or why it is
    /// not. A record reported with an error may or may not have been written — it was not
    /// confirmed — but a record reported with a position is durable.
    ///
    /// A record's partition is its explicit `partition` if set, else [`partition_for_key`] of
    /// its key. Keyless records are spread round-robin by call: all the keyless records of one
    /// call go to one partition and successive calls rotate over the partitions (like Kafka's
    /// sticky partitioner), so a batch stays one write instead of one per partition. The Kafka
    /// backend also lets calls that overlap in time share a partition for a short window, so
    /// that concurrent single-record calls become one produce request instead of one per
    /// partition.
    async fn append(
        &self,
        topic: &str,
        records: Vec<Record>,
    ) -> Result<Vec<AppendResult>, LogError>;

    /// Up to `max_records` records of one partition starting at `offset`, in offset order.
    ///
    /// Returns what is available without waiting: an empty answer means `offset` is the high
    /// watermark. An offset below the low watermark or above the high watermark is
    /// [`LogError::OffsetOutOfRange`].
    async fn read(
        &self,
        topic: &str,
        partition: u32,
        offset: i64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>, LogError>;

    /// The first offset whose record timestamp is at or after `timestamp_ms`, or the high
    /// watermark when no retained record is that late (Kafka's ListOffsets-by-time semantics).
    async fn offset_for_time(
        &self,
        topic: &str,
        partition: u32,
        timestamp_ms: i64,
    ) -> Result<i64, LogError>;

    /// The low and high watermarks of one partition.
    async fn watermarks(&self, topic: &str, partition: u32) -> Result<Watermarks, LogError>;

    /// Joins consumer group `group` reading `topics`. Partitions are shared among the group's
    /// live members; each starts at the group's committed offset, or at the low watermark.
    async fn subscribe(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<Box<dyn GroupConsumer>, LogError>;

    /// The offsets `group` has committed for each partition of `topic` (`None`: nothing yet).
    async fn committed_offsets(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<Vec<(u32, Option<i64>)>, LogError>;

    /// Cheap reachability check for `/readyz`.
    async fn check_health(&self) -> Result<(), LogError>;

    /// Waits for in-flight appends to finish and releases resources. Appends after `close`
    /// fail with a retryable error.
    async fn close(&self) -> Result<(), LogError>;
}

/// One member of a consumer group.
#[async_trait]
pub trait GroupConsumer: Send + std::fmt::Debug {
    /// Records from the member's assigned partitions, waiting at most `timeout` for the first.
    /// Within a partition records come in offset order, each exactly once per member lifetime.
    async fn poll(
        &mut self,
        max_records: usize,
        timeout: Duration,
    ) -> Result<Vec<ConsumedRecord>, LogError>;

    /// Commits, for every partition, the position after the last record `poll` returned, so
    /// that the group resumes there. Durable when this returns.
    async fn commit(&mut self) -> Result<(), LogError>;

    /// The `(topic, partition)` pairs this member currently owns.
    fn assignment(&self) -> Vec<(String, u32)>;
}
