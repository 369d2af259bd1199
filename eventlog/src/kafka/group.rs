//! Consumer groups: one librdkafka consumer per member.
//!
//! Settings: `enable.auto.commit=false` (a member commits exactly what `poll` returned, when
//! asked), `auto.offset.reset=earliest` (a group with nothing committed starts at the low
//! watermark), `session.timeout.ms` from the options with heartbeats at a third of it.
//! Polls and commits run on the blocking pool. Dropping a member closes its consumer on the
//! blocking pool, which sends LeaveGroup so the others take its partitions at once instead
//! of after the session timeout.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use super::{KafkaOptions, OffRuntime, blocking, errors, millis};
use crate::{ConsumedRecord, GroupConsumer, LogError};

/// One member of a consumer group.
pub(super) struct KafkaGroupMember {
    /// Closed on the blocking pool when the member is dropped (LeaveGroup waits on the network).
    consumer: OffRuntime<Arc<BaseConsumer>>,
    group: String,
    request_timeout: Duration,
    /// Next offset per partition, after the last record `poll` returned.
    positions: HashMap<(String, u32), i64>,
}

impl std::fmt::Debug for KafkaGroupMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaGroupMember")
            .field("group", &self.group)
            .field("positions", &self.positions)
            .finish_non_exhaustive()
    }
}

fn group_config(options: &KafkaOptions, group: &str) -> rdkafka::ClientConfig {
    let session = millis(options.session_timeout);
    let mut config = options.base_config();
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", session.to_string())
        .set("heartbeat.interval.ms", (session / 3).max(1).to_string())
        .set("fetch.wait.max.ms", "100");
    config
}

impl KafkaGroupMember {
    pub(super) async fn join(
        options: &KafkaOptions,
        group: &str,
        topics: &[String],
    ) -> Result<Self, LogError> {
        let config = group_config(options, group);
        let topics = topics.to_vec();
        let consumer = blocking("kafka subscribe", options.request_timeout, move || {
            let consumer: BaseConsumer = config
                .create()
                .map_err(|e| errors::from_kafka(&e, "create kafka group consumer"))?;
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            consumer
                .subscribe(&names)
                .map_err(|e| errors::from_kafka(&e, "subscribe"))?;
            Ok(consumer)
        })
        .await?;
        Ok(KafkaGroupMember {
            consumer: OffRuntime::new(Arc::new(consumer)),
            group: group.to_owned(),
            request_timeout: options.request_timeout,
            positions: HashMap::new(),
        })
    }
}

#[async_trait]
impl GroupConsumer for KafkaGroupMember {
    async fn poll(
        &mut self,
        max_records: usize,
        timeout: Duration,
    ) -> Result<Vec<ConsumedRecord>, LogError> {
        if max_records == 0 {
            return Ok(Vec::new());
        }
        let consumer = Arc::clone(&self.consumer);
        let records = blocking(
            "kafka group poll",
            timeout + Duration::from_secs(5),
            move || poll_blocking(&consumer, max_records, timeout),
        )
        .await?;
        // Each record at most once per member: a broker that re-sends a batch (Tansu
        // `memory://` does) must not make `poll` hand out a record again.
        let mut fresh = Vec::with_capacity(records.len());
        for r in records {
            let key = (r.topic.clone(), r.partition);
            if self
                .positions
                .get(&key)
                .is_some_and(|next| r.record.offset < *next)
            {
                continue;
            }
            self.positions.insert(key, r.record.offset + 1);
            fresh.push(r);
        }
        Ok(fresh)
    }

    async fn commit(&mut self) -> Result<(), LogError> {
        let consumer = Arc::clone(&self.consumer);
        let positions = self.positions.clone();
        let timeout = self.request_timeout;
        blocking("kafka commit", timeout, move || {
            // Commit only partitions this member still owns: a revoked partition's position
            // belongs to its new owner now.
            let owned = consumer
                .assignment()
                .map_err(|e| errors::from_kafka(&e, "read assignment"))?;
            let mut offsets = TopicPartitionList::new();
            for ((topic, partition), next) in &positions {
                if owned.find_partition(topic, *partition as i32).is_some() {
                    offsets
                        .add_partition_offset(topic, *partition as i32, Offset::Offset(*next))
                        .map_err(|e| errors::from_kafka(&e, "commit"))?;
                }
            }
            if offsets.count() == 0 {
                return Ok(());
            }
            consumer
                .commit(&offsets, CommitMode::Sync)
                .map_err(|e| errors::from_kafka(&e, "commit"))
        })
        .await
    }

    fn assignment(&self) -> Vec<(String, u32)> {
        // Reading the assignment is a local call (no network).
        let Ok(list) = self.consumer.assignment() else {
            return Vec::new();
        };
        let mut out: Vec<(String, u32)> = list
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition() as u32))
            .collect();
        out.sort();
        out
    }
}

/// Waits up to `timeout` for a first record, then takes whatever else is ready, up to `max`.
fn poll_blocking(
    consumer: &BaseConsumer,
    max: usize,
    timeout: Duration,
) -> Result<Vec<ConsumedRecord>, LogError> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < max {
        let wait = if out.is_empty() {
            deadline.saturating_duration_since(Instant::now())
        } else {
            Duration::ZERO
        };
        match consumer.poll(wait) {
            None => {
                if out.is_empty() && Instant::now() < deadline {
                    continue;
                }
                break;
            }
            Some(Ok(message)) => {
                use rdkafka::message::Message;
                out.push(ConsumedRecord {
                    topic: message.topic().to_owned(),
                    partition: message.partition() as u32,
                    record: super::fetch::stored(&message),
                });
            }
            Some(Err(KafkaError::PartitionEOF(_))) => {}
            Some(Err(err)) => {
                let err = errors::from_kafka(&err, "group poll");
                if !err.is_retryable() {
                    return Err(err);
                }
                // Transient (broker restarting, rebalance): librdkafka recovers on its own.
                tracing::debug!(%err, "transient error while polling a consumer group");
            }
        }
        if Instant::now() >= deadline && !out.is_empty() {
            break;
        }
    }
    Ok(out)
}

/// The offsets `group` committed for each partition of `topic`.
pub(super) async fn committed_offsets(
    options: &KafkaOptions,
    group: &str,
    topic: &str,
    partitions: u32,
) -> Result<Vec<(u32, Option<i64>)>, LogError> {
    let config = group_config(options, group);
    let topic = topic.to_owned();
    let timeout = options.request_timeout;
    blocking(
        "kafka committed offsets",
        timeout + Duration::from_secs(2),
        move || {
            let consumer: BaseConsumer = config
                .create()
                .map_err(|e| errors::from_kafka(&e, "create kafka group client"))?;
            let mut query = TopicPartitionList::new();
            for p in 0..partitions {
                query.add_partition(&topic, p as i32);
            }
            let answer = consumer
                .committed_offsets(query, timeout)
                .map_err(|e| errors::from_kafka(&e, "committed offsets"))?;
            let mut out = Vec::with_capacity(partitions as usize);
            for p in 0..partitions {
                let offset = match answer.find_partition(&topic, p as i32).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) if o >= 0 => Some(o),
                    _ => None,
                };
                out.push((p, offset));
            }
            Ok(out)
        },
    )
    .await
}
