//! The topic target: replayed records appended to a topic of the event log.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use tributary_eventlog::{EventLog, LogError, Record, TopicSpec};

use crate::error::ReplayError;
use crate::model::{BoxError, BoxFuture, ReplayRecord, Sink, SinkReport};

/// The topic a job writes to unless told otherwise.
pub fn default_target_topic(job_id: &str) -> String {
    format!("replay.{job_id}")
}

/// Creates `topic` with `partitions` partitions unless it exists (with any count).
pub async fn ensure_topic(
    log: &dyn EventLog,
    topic: &str,
    partitions: u32,
) -> Result<(), ReplayError> {
    match log.describe_topic(topic).await {
        Ok(_) => return Ok(()),
        Err(LogError::UnknownTopic(_)) => {}
        Err(err) => return Err(err.into()),
    }
    match log.create_topic(&TopicSpec::new(topic, partitions)).await {
        // Someone else created it in between: as good.
        Ok(()) | Err(LogError::TopicExists(_)) => Ok(()),
        Err(LogError::InvalidTopic(why)) => Err(ReplayError::BadRequest(format!(
            "cannot create target topic: {why}"
        ))),
        Err(err) => Err(err.into()),
    }
}

/// Appends each batch to a topic, keeping every record's key, timestamp and headers. Records
/// of a source topic with as many partitions as the target keep their partition, so their
/// order per partition is the source's; the others are placed by key (keyless: spread).
///
/// A batch is written when every record of it is durable; if the log reports any record as
/// failed, the write fails (records of that batch may have been appended: a resumed job
/// writes them again).
///
/// Partitions may be written side by side ([`Sink::concurrent_writer`]): the log keeps each
/// partition's order, and a topic has no position to share.
#[derive(Debug, Clone)]
pub struct TopicSink {
    log: Arc<dyn EventLog>,
    topic: String,
    /// Source topics whose partition count equals the target's.
    same_partitions: HashSet<String>,
}

impl TopicSink {
    /// A sink into `topic` (which must exist) for records read from `sources`.
    pub async fn open(
        log: Arc<dyn EventLog>,
        topic: &str,
        sources: &[String],
    ) -> Result<TopicSink, ReplayError> {
        let target = log.describe_topic(topic).await?;
        let mut same_partitions = HashSet::new();
        for source in sources {
            if log.describe_topic(source).await?.partitions == target.partitions {
                same_partitions.insert(source.clone());
            }
        }
        Ok(TopicSink {
            log,
            topic: topic.to_owned(),
            same_partitions,
        })
    }

    fn to_record(&self, record: ReplayRecord) -> Record {
        let partition = self
            .same_partitions
            .contains(&record.topic)
            .then_some(record.partition);
        Record {
            key: record.key,
            value: record.value,
            timestamp_ms: record.timestamp_ms,
            headers: record
                .headers
                .into_iter()
                .map(|(name, value)| (Cow::Owned(name), value))
                .collect(),
            shared_headers: None,
            partition,
        }
    }

    async fn append(&self, batch: Vec<ReplayRecord>) -> Result<u64, BoxError> {
        let count = batch.len();
        let records: Vec<Record> = batch.into_iter().map(|r| self.to_record(r)).collect();
        let results = self.log.append(&self.topic, records).await?;
        if results.len() != count {
            return Err(format!(
                "the log answered {} verdicts for {count} records appended to {}",
                results.len(),
                self.topic
            )
            .into());
        }
        let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        if let Some(first) = failed.first() {
            return Err(format!(
                "{} of {count} records not appended to {}: {first}",
                failed.len(),
                self.topic
            )
            .into());
        }
        Ok(0)
    }
}

impl Sink for TopicSink {
    fn write<'a>(&'a mut self, batch: Vec<ReplayRecord>) -> BoxFuture<'a, Result<u64, BoxError>> {
        Box::pin(self.append(batch))
    }

    fn finish(self: Box<Self>) -> BoxFuture<'static, Result<SinkReport, BoxError>> {
        Box::pin(async { Ok(SinkReport::default()) })
    }

    fn concurrent_writer(&self) -> Option<Box<dyn Sink>> {
        Some(Box::new(self.clone()))
    }
}
