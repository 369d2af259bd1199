//! What a topic really holds, found without trusting the system that wrote it: its high
//! watermarks, and a full scan that identifies every record by the index in its event id.

use std::time::Instant;

use anyhow::{Context, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{Value, json};
use tributary_core::headers;
use tributary_eventlog::{EventLog, KafkaLog};

use super::Setup;
use super::fill::event_index;

/// What one topic was found to hold.
#[derive(Debug)]
pub(super) struct Checked {
    /// Per partition, from Tributary's Kafka log: ListOffsets checked against a Fetch.
    low: Vec<i64>,
    high: Vec<i64>,
    /// Per partition, the broker's raw ListOffsets answer (Tansu `memory://` under-reports).
    listoffsets_high: Vec<i64>,
    /// Records the scan read per partition (each offset once).
    scanned: Vec<u64>,
    distinct: u64,
    /// Event ids seen more than once.
    duplicates: u64,
    /// Records whose event id is missing or not one the fill wrote.
    foreign: u64,
    /// Offsets the broker delivered more than once (ignored after the first).
    repeated_offsets: u64,
    /// Places where offsets jumped.
    offset_gaps: u64,
    /// Records without `tributary.replay_job` = the job id (targets only).
    missing_job_header: u64,
    /// Every partition's event indexes ascend, as the fill wrote them.
    order_kept: bool,
    seconds: f64,
}

impl Checked {
    /// Whether the topic holds exactly the records the fill wrote, `expected[p]` in partition
    /// `p`, each once and in order.
    pub(super) fn holds_exactly(&self, expected: &[u64]) -> bool {
        let total: u64 = expected.iter().sum();
        let as_offsets: Vec<i64> = expected.iter().map(|&n| n as i64).collect();
        self.high == as_offsets
            && self.low.iter().all(|&low| low == 0)
            && self.scanned == expected
            && self.distinct == total
            && self.duplicates == 0
            && self.foreign == 0
            && self.offset_gaps == 0
            && self.missing_job_header == 0
            && self.order_kept
    }

    pub(super) fn report(&self) -> Value {
        json!({
            "high_watermarks": self.high,
            "records_by_watermarks": self.high.iter().sum::<i64>() - self.low.iter().sum::<i64>(),
            "listoffsets_high_watermarks": self.listoffsets_high,
            "scanned_records": self.scanned.iter().sum::<u64>(),
            "distinct_event_ids": self.distinct,
            "duplicate_event_ids": self.duplicates,
            "foreign_records": self.foreign,
            "repeated_offsets": self.repeated_offsets,
            "offset_gaps": self.offset_gaps,
            "missing_replay_header": self.missing_job_header,
            "order_kept": self.order_kept,
            "check_seconds": super::round3(self.seconds),
        })
    }
}

/// Checks `topic`; with `job`, every record must carry `tributary.replay_job` = `job`.
pub(super) fn topic(
    runtime: &tokio::runtime::Runtime,
    admin: &KafkaLog,
    setup: &Setup,
    topic: &str,
    job: Option<&str>,
) -> anyhow::Result<Checked> {
    let started = Instant::now();
    let mut low = Vec::new();
    let mut high = Vec::new();
    for partition in 0..setup.partitions {
        let w = runtime
            .block_on(admin.watermarks(topic, partition))
            .with_context(|| format!("watermarks of {topic}/{partition}"))?;
        low.push(w.low);
        high.push(w.high);
    }

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &setup.bootstrap)
        .set("group.id", "tributary-bench-check")
        .set("fetch.wait.max.ms", "10")
        .set("enable.partition.eof", "true")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .context("create checking consumer")?;
    let mut listoffsets_high = Vec::new();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..setup.partitions as i32 {
        let (_, claimed) = consumer
            .fetch_watermarks(topic, partition, setup.timeout)
            .with_context(|| format!("list offsets of {topic}/{partition}"))?;
        listoffsets_high.push(claimed);
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;

    let events = setup.filled.events;
    let partitions = setup.partitions as usize;
    let mut seen = vec![0u64; events.div_ceil(64) as usize];
    let mut checked = Checked {
        low,
        high,
        listoffsets_high,
        scanned: vec![0; partitions],
        distinct: 0,
        duplicates: 0,
        foreign: 0,
        repeated_offsets: 0,
        offset_gaps: 0,
        missing_job_header: 0,
        order_kept: true,
        seconds: 0.0,
    };
    let mut next_offset = vec![0i64; partitions];
    let mut last_index: Vec<Option<u64>> = vec![None; partitions];
    let mut at_end = vec![false; partitions];
    while at_end.iter().any(|done| !done) {
        if started.elapsed() > setup.timeout {
            bail!("scanning {topic} took longer than {:?}", setup.timeout);
        }
        let message = match consumer.poll(std::time::Duration::from_millis(100)) {
            None => continue,
            Some(Ok(message)) => message,
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end[p as usize] = true;
                continue;
            }
            Some(Err(err)) => bail!("scanning {topic}: {err}"),
        };
        let p = message.partition() as usize;
        let offset = message.offset();
        if offset < next_offset[p] {
            checked.repeated_offsets += 1;
            continue;
        }
        if offset > next_offset[p] {
            checked.offset_gaps += 1;
        }
        next_offset[p] = offset + 1;
        at_end[p] = false;
        checked.scanned[p] += 1;

        let mut event_id = None;
        let mut job_header = None;
        if let Some(headers) = message.headers() {
            for header in headers.iter() {
                if header.key == headers::EVENT_ID {
                    event_id = header.value;
                } else if header.key == headers::REPLAY_JOB {
                    job_header = header.value;
                }
            }
        }
        if let Some(job) = job
            && job_header != Some(job.as_bytes())
        {
            checked.missing_job_header += 1;
        }
        let Some(index) = event_id.and_then(event_index).filter(|&i| i < events) else {
            checked.foreign += 1;
            continue;
        };
        let (word, bit) = ((index / 64) as usize, 1u64 << (index % 64));
        if seen[word] & bit != 0 {
            checked.duplicates += 1;
        } else {
            seen[word] |= bit;
            checked.distinct += 1;
        }
        if last_index[p].is_some_and(|last| last >= index) {
            checked.order_kept = false;
        }
        last_index[p] = Some(index);
    }
    checked.seconds = started.elapsed().as_secs_f64();
    Ok(checked)
}
