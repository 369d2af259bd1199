//! The blocking read primitives under [`super::reader`]: one assigned Fetch, and a read that
//! steps back when a broker answers a fetch in the middle of a batch with a later batch.
//! Everything here blocks; callers run it on the blocking pool.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::verify::step_back;
use super::{KafkaOptions, errors};
use crate::{ErrorKind, LogError, StoredRecord};

/// A group-less consumer used for reads.
pub(super) type Reader = BaseConsumer;

/// How long a fetch may bring nothing at all (no record, no end-of-partition) before the
/// reader concludes the broker skipped past the requested offset and steps back.
const IDLE_FETCH: Duration = Duration::from_secs(1);

/// What one fetch brought back.
#[derive(Debug, Default)]
struct Fetched {
    records: Vec<StoredRecord>,
    /// The offset after the last record, when the consumer reported end-of-partition.
    end: Option<i64>,
    /// The broker answered OFFSET_OUT_OF_RANGE.
    out_of_range: bool,
}

/// What a read found.
#[derive(Debug)]
pub(super) enum ReadOutcome {
    /// Records from the requested offset (possibly none); `end` when the end was seen.
    Records {
        records: Vec<StoredRecord>,
        end: Option<i64>,
    },
    /// The partition ends at `end`, before the requested offset.
    PastEnd { end: i64 },
    /// The broker refused the offset.
    OutOfRange,
}

pub(super) fn new_reader(options: &KafkaOptions) -> Result<Reader, LogError> {
    let mut config = options.base_config();
    // librdkafka's `assign` needs a group id although these readers never join the group
    // (no subscribe) and never commit.
    config
        .set("group.id", "tributary-reader")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "error")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // A broker answers a Fetch once it has data (Kafka) or when this wait ends (Tansu
        // holds every Fetch for the whole wait): short, so a streaming read is not paced by it.
        .set("fetch.wait.max.ms", "10")
        .set("fetch.error.backoff.ms", "50")
        // Fetch ahead while the queue holds less than this (whichever limit comes first; at
        // most 4 MB per reader, and a pool keeps up to 8).
        .set("queued.min.messages", "10000")
        .set("queued.max.messages.kbytes", "4096")
        // How soon a partition whose queue is full is looked at again. librdkafka's default
        // (1000 ms) makes a read that drained the queue wait a second for its next records —
        // as long as a read waits before it concludes the broker has nothing; 0 makes the
        // broker thread spin on a full queue (it used two thirds of a replay's CPU).
        .set("fetch.queue.backoff.ms", "5");
    config
        .create()
        .map_err(|e| errors::from_kafka(&e, "create kafka reader"))
}

/// A consumed message as a stored record.
pub(super) fn stored(message: &BorrowedMessage<'_>) -> StoredRecord {
    let mut headers = Vec::new();
    if let Some(borrowed) = message.headers() {
        for header in borrowed.iter() {
            let value = header.value.map(Bytes::copy_from_slice).unwrap_or_default();
            headers.push((header.key.to_owned(), value));
        }
    }
    StoredRecord {
        offset: message.offset(),
        timestamp_ms: message.timestamp().to_millis().unwrap_or(-1),
        key: message.key().map(Bytes::copy_from_slice),
        value: message
            .payload()
            .map(Bytes::copy_from_slice)
            .unwrap_or_default(),
        headers,
    }
}

/// Assigns the reader to `start` and polls until `max` records at or after `wanted` arrived,
/// the partition's end was reported, the broker refused the offset, or nothing came for
/// `idle`.
/// With `assign` false the reader is already assigned and positioned at `start` (it is
/// continuing an earlier read), so the records it fetched ahead are used as they are.
#[allow(clippy::too_many_arguments)] // one fetch and everything that bounds it
fn fetch(
    reader: &Reader,
    topic: &str,
    partition: u32,
    start: i64,
    wanted: i64,
    max: usize,
    assign: bool,
    idle: Duration,
    deadline: Instant,
) -> Result<Fetched, LogError> {
    if assign {
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, partition as i32, Offset::Offset(start))
            .map_err(|e| errors::from_kafka(&e, "assign reader"))?;
        reader
            .assign(&assignment)
            .map_err(|e| errors::from_kafka(&e, "assign reader"))?;
    }

    let mut fetched = Fetched::default();
    let mut wanted_count = 0usize;
    let mut last_progress = Instant::now();
    let mut last_error: Option<LogError> = None;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(last_error.unwrap_or_else(|| {
                LogError::Timeout(format!("reading {topic:?}/{partition} at offset {start}"))
            }));
        }
        if now.duration_since(last_progress) >= idle {
            return Ok(fetched);
        }
        match reader.poll(Duration::from_millis(20)) {
            None => {}
            Some(Ok(message)) => {
                if message.topic() != topic || message.partition() != partition as i32 {
                    continue;
                }
                let record = stored(&message);
                last_progress = Instant::now();
                if record.offset >= wanted {
                    wanted_count += 1;
                }
                fetched.records.push(record);
                if wanted_count >= max {
                    return Ok(fetched);
                }
            }
            Some(Err(KafkaError::PartitionEOF(p))) if p == partition as i32 => {
                fetched.end = Some(fetched.records.last().map_or(start, |r| r.offset + 1));
                return Ok(fetched);
            }
            Some(Err(err)) => match err.rdkafka_error_code() {
                Some(RDKafkaErrorCode::OffsetOutOfRange | RDKafkaErrorCode::AutoOffsetReset) => {
                    fetched.out_of_range = true;
                    return Ok(fetched);
                }
                Some(code) if errors::kind_of(code) != ErrorKind::Retryable => {
                    return Err(errors::from_code(
                        code,
                        &format!("read {topic:?}/{partition}"),
                    ));
                }
                // Transport trouble: librdkafka retries; remember it for the timeout message.
                _ => {
                    last_error = Some(errors::from_kafka(
                        &err,
                        &format!("read {topic:?}/{partition}"),
                    ))
                }
            },
        }
    }
}

/// Whether a fetch at `offset` brings anything — a record, the partition's end, a refusal —
/// within `within`. A broker that answers a fetch inside its last batch with nothing at all
/// (Tansu `memory://`) fails this, where [`read_blocking`] would wait [`IDLE_FETCH`] for each
/// of its step backs.
pub(super) fn answers_quickly(
    reader: &Reader,
    topic: &str,
    partition: u32,
    offset: i64,
    within: Duration,
    deadline: Instant,
) -> Result<bool, LogError> {
    let fetched = fetch(
        reader, topic, partition, offset, offset, 1, true, within, deadline,
    )?;
    Ok(!fetched.records.is_empty() || fetched.end.is_some() || fetched.out_of_range)
}

/// The records at or after `offset`, at most `max`, with offsets strictly increasing: Kafka
/// returns whole batches (records before `offset`), and a broker that sends a batch twice
/// (Tansu `memory://` does) must not make a read return a record twice.
fn in_order_from(fetched: Vec<StoredRecord>, offset: i64, max: usize) -> Vec<StoredRecord> {
    let mut records: Vec<StoredRecord> = Vec::with_capacity(fetched.len().min(max));
    for record in fetched {
        if records.len() >= max {
            break;
        }
        let next = records.last().map_or(offset, |last| last.offset + 1);
        if record.offset >= next {
            records.push(record);
        }
    }
    records
}

/// Reads up to `max` records from `offset`, stepping back when the broker skips past it.
/// `low` is the partition's start if known (asked from the broker when needed). With
/// `continuing`, the reader is still assigned at `offset` from an earlier read.
#[allow(clippy::too_many_arguments)] // one read and everything that bounds it
pub(super) fn read_blocking(
    reader: &Reader,
    topic: &str,
    partition: u32,
    offset: i64,
    max: usize,
    mut low: Option<i64>,
    continuing: bool,
    deadline: Instant,
) -> Result<ReadOutcome, LogError> {
    let mut start = offset;
    let mut attempt = 0;
    let mut idle = IDLE_FETCH;
    let mut assign = !continuing;
    loop {
        let fetched = fetch(
            reader, topic, partition, start, offset, max, assign, idle, deadline,
        )?;
        if !assign && fetched.records.first().is_some_and(|r| r.offset != offset) {
            // The queue was not where it was left: read the usual way.
            assign = true;
            continue;
        }
        assign = true;
        if fetched.out_of_range {
            return Ok(ReadOutcome::OutOfRange);
        }
        let first = fetched.records.first().map(|r| r.offset);
        let end = fetched.end;
        let records = in_order_from(fetched.records, offset, max);
        if records.is_empty()
            && let Some(end) = end
        {
            if end < offset {
                return Ok(ReadOutcome::PastEnd { end });
            }
            if end == offset {
                return Ok(ReadOutcome::Records {
                    records,
                    end: Some(end),
                });
            }
        }
        if first.is_some_and(|first| first <= offset) {
            return Ok(ReadOutcome::Records { records, end });
        }
        // Nothing at or before `offset` came back: either the broker skipped to a later batch
        // or said nothing at all. Start further back, unless already at the partition's start.
        let floor = match low {
            Some(low) => low,
            None => {
                let (l, _) = reader
                    .fetch_watermarks(
                        topic,
                        partition as i32,
                        deadline.saturating_duration_since(Instant::now()),
                    )
                    .map_err(|e| errors::from_kafka(&e, "list offsets"))?;
                low = Some(l);
                l
            }
        };
        if start <= floor {
            if !records.is_empty() {
                // A genuine gap in offsets (compaction, transaction markers).
                return Ok(ReadOutcome::Records { records, end });
            }
            // Nothing at all, and nothing earlier to step back to: a slow broker (Tansu on
            // sqlite answers a fetch only after reading to the partition's end, seconds for
            // a few thousand records). Ask once more, waiting for the whole budget.
            let left = deadline.saturating_duration_since(Instant::now());
            if idle >= left || left <= IDLE_FETCH {
                return Err(LogError::Timeout(format!(
                    "no answer reading {topic:?}/{partition} at offset {offset}"
                )));
            }
            idle = left;
            start = offset;
            continue;
        }
        attempt += 1;
        start = step_back(offset, floor, attempt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: i64) -> StoredRecord {
        StoredRecord {
            offset,
            timestamp_ms: 0,
            key: None,
            value: Bytes::new(),
            headers: Vec::new(),
        }
    }

    fn offsets(records: &[StoredRecord]) -> Vec<i64> {
        records.iter().map(|r| r.offset).collect()
    }

    #[test]
    fn reads_drop_earlier_records_repeats_and_excess() {
        let batch: Vec<_> = [10, 11, 12, 13, 14].into_iter().map(at).collect();
        assert_eq!(
            offsets(&in_order_from(batch.clone(), 12, 10)),
            vec![12, 13, 14]
        );
        assert_eq!(offsets(&in_order_from(batch.clone(), 12, 2)), vec![12, 13]);
        let repeated: Vec<_> = [12, 13, 14, 12, 13, 14, 15].into_iter().map(at).collect();
        assert_eq!(
            offsets(&in_order_from(repeated, 12, 10)),
            vec![12, 13, 14, 15]
        );
        assert!(in_order_from(batch, 15, 10).is_empty());
    }
}
