//! Reading partitions, finding their ends, and reading by time — without trusting ListOffsets.
//!
//! Reads use group-less consumers (`assign`, `enable.partition.eof`, `auto.offset.reset=error`)
//! kept in a small pool, so a read costs one Fetch rather than a new connection. Everything
//! runs on the blocking pool with a deadline.
//!
//! What the records say wins over what the broker says:
//!
//! * **Reads.** Kafka returns whole batches, so records below the requested offset are dropped.
//!   If the first record returned lies *after* the requested offset although that offset is
//!   inside the partition (Tansu `memory://` answers a fetch in the middle of a batch with the
//!   next batch), the read starts again further back (1, 8, 64, … records) and filters.
//! * **Watermarks.** The end claimed by ListOffsets is checked by reading from the last record
//!   it claims until the consumer reports end-of-partition, which librdkafka derives from the
//!   high watermark carried in Fetch responses. Where they differ, the Fetch wins.
//! * **Offsets for times.** The broker's answer `O` must lie in `[low, high]`, record `O` must
//!   be at or after the time, and record `O - 1` before it. Otherwise a binary search over the
//!   records replaces it (see [`verify::first_at_or_after`] for when that is exact).
//!
//! Each correction increments `tributary_eventlog_broker_answer_corrected_total{query}`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};

use super::admin::Admin;
use super::fetch::{ReadOutcome, Reader, answers_quickly, new_reader, read_blocking};
use super::verify::{first_at_or_after, step_back, time_answer_holds, time_probes, verified_end};
use super::{KafkaOptions, blocking, errors};
use crate::metrics::BROKER_ANSWER_CORRECTED;
use crate::{ErrorKind, LogError, StoredRecord, Watermarks};

/// Idle readers kept for reuse: enough for two replay jobs reading four partitions each
/// (`tributary-replay`'s runner and lanes), so that each keeps streaming from its reader.
const MAX_IDLE_READERS: usize = 8;
/// How long an idle reader is kept. Short, because an idle client still follows metadata of
/// topics it read (see [`Readers::close_idle`]).
const IDLE_READER_LIFETIME: Duration = Duration::from_secs(30);
/// Records read per step while looking for the end of a partition.
const END_SCAN_BATCH: usize = 1_000;
/// How long the first look for a partition's end may bring nothing before the look starts
/// [`WIDE_END_PROBE`] records further back. Brokers that have the record answer within their
/// fetch wait (10 ms).
const QUICK_END_PROBE: Duration = Duration::from_millis(250);
/// Records before the claimed end where the second look starts: more than one producer batch
/// of typical events (librdkafka's 1 MB batches hold about 1,300 of 700 bytes).
const WIDE_END_PROBE: i64 = 5_000;

/// Where a reader left off: still assigned to `topic`/`partition`, its next record `next`.
/// A read that asks for exactly that offset continues from the reader's queue — records it
/// already fetched ahead — instead of a new Fetch: sequential reads (a replay, a scan) then
/// stream at the consumer's speed rather than one round trip per call.
type Position = (String, u32, i64);

/// A reader in the pool, and where it was left.
struct Idle {
    reader: Reader,
    since: Instant,
    at: Option<Position>,
}

/// The pool of readers and the operations built on them.
pub(super) struct Readers {
    options: Arc<KafkaOptions>,
    admin: Arc<Admin>,
    idle: Arc<Mutex<Vec<Idle>>>,
    /// A consumer that only asks ListOffsets-by-time and never fetches. Kept apart from the
    /// readers: after librdkafka 2.12 asks Tansu for offsets by time, its next Fetch of that
    /// topic can get Tansu's unknown-topic answer, which crashes librdkafka (NULL topic name in
    /// the leader-discovery metadata update).
    lookup: Arc<Mutex<Option<Arc<Reader>>>>,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let idle = self.idle.lock().map_or(0, |v| v.len());
        f.debug_struct("Readers")
            .field("idle", &idle)
            .finish_non_exhaustive()
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        self.clear();
    }
}

fn corrected(query: &'static str) {
    metrics::counter!(BROKER_ANSWER_CORRECTED, "backend" => "kafka", "query" => query).increment(1);
    tracing::debug!(
        query,
        "broker answer contradicted by the records; corrected"
    );
}

impl Readers {
    pub(super) fn new(options: Arc<KafkaOptions>, admin: Arc<Admin>) -> Self {
        Readers {
            options,
            admin,
            idle: Arc::new(Mutex::new(Vec::new())),
            lookup: Arc::new(Mutex::new(None)),
        }
    }

    /// Drops the idle readers (on the blocking pool).
    pub(super) fn clear(&self) {
        let drained: Vec<Reader> = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.drain(..).map(|i| i.reader).collect()
        };
        if !drained.is_empty() {
            super::drop_off_runtime(drained);
        }
        let lookup = self.lookup.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(lookup) = lookup {
            super::drop_off_runtime(lookup);
        }
    }

    /// Closes the idle readers and waits until they are gone. Called before a topic is
    /// deleted: librdkafka 2.12 crashes (NULL topic name in a metadata update) when a client
    /// that fetched a topic sees it disappear from Tansu.
    pub(super) async fn close_idle(&self) {
        let drained: Vec<Reader> = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.drain(..).map(|i| i.reader).collect()
        };
        if drained.is_empty() {
            return;
        }
        let closing = tokio::task::spawn_blocking(move || drop(drained));
        let _ = tokio::time::timeout(self.options.request_timeout, closing).await;
    }

    /// Runs `work` on the blocking pool with a pooled reader and a deadline.
    async fn with_reader<T, F>(
        &self,
        what: &'static str,
        budget: Duration,
        work: F,
    ) -> Result<T, LogError>
    where
        T: Send + 'static,
        F: FnOnce(&Reader, Instant) -> Result<T, LogError> + Send + 'static,
    {
        self.with_reader_at(what, budget, None, move |reader, deadline, _| {
            work(reader, deadline).map(|t| (t, None))
        })
        .await
    }

    /// As [`Readers::with_reader`], preferring a reader left at `wanted`: `work` learns
    /// whether it got one (and may then continue without assigning), and says where it leaves
    /// the reader (`None`: unassigned).
    async fn with_reader_at<T, F>(
        &self,
        what: &'static str,
        budget: Duration,
        wanted: Option<Position>,
        work: F,
    ) -> Result<T, LogError>
    where
        T: Send + 'static,
        F: FnOnce(&Reader, Instant, bool) -> Result<(T, Option<Position>), LogError>
            + Send
            + 'static,
    {
        let idle = self.idle.clone();
        let options = self.options.clone();
        blocking(what, budget + Duration::from_secs(2), move || {
            let (pooled, expired) = {
                let mut idle = idle.lock().unwrap_or_else(|p| p.into_inner());
                let (fresh, expired): (Vec<_>, Vec<_>) = idle
                    .drain(..)
                    .partition(|i| i.since.elapsed() < IDLE_READER_LIFETIME);
                *idle = fresh;
                let at = wanted
                    .as_ref()
                    .and_then(|w| idle.iter().position(|i| i.at.as_ref() == Some(w)));
                let pooled = match at {
                    Some(index) => Some(idle.swap_remove(index)),
                    None => idle.pop(),
                };
                (pooled, expired)
            };
            drop(expired);
            let (reader, continuing) = match pooled {
                Some(pooled) => {
                    let continuing = wanted.is_some() && pooled.at == wanted;
                    (pooled.reader, continuing)
                }
                None => (new_reader(&options)?, false),
            };
            let result = work(&reader, Instant::now() + budget, continuing);
            let (result, left_at) = match result {
                Ok((value, at)) => (Ok(value), Some(at)),
                Err(err) => {
                    let reusable = err.kind() == ErrorKind::Rejected;
                    (Err(err), reusable.then_some(None))
                }
            };
            if let Some(at) = left_at {
                let kept = at.is_some() || reader.unassign().is_ok();
                let mut idle = idle.lock().unwrap_or_else(|p| p.into_inner());
                if kept && idle.len() < MAX_IDLE_READERS {
                    idle.push(Idle {
                        reader,
                        since: Instant::now(),
                        at,
                    });
                }
            }
            result
        })
        .await
    }

    pub(super) async fn read(
        &self,
        topic: &str,
        partition: u32,
        offset: i64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>, LogError> {
        self.admin.check_partition(topic, partition).await?;
        if offset < 0 {
            return Err(self.out_of_range(topic, partition, offset).await);
        }
        if max_records == 0 {
            return Ok(Vec::new());
        }
        let owned = topic.to_owned();
        let wanted = Some((owned.clone(), partition, offset));
        let outcome = self
            .with_reader_at(
                "kafka read",
                self.options.request_timeout,
                wanted,
                move |reader, deadline, continuing| {
                    let read = |continuing| {
                        read_blocking(
                            reader,
                            &owned,
                            partition,
                            offset,
                            max_records,
                            None,
                            continuing,
                            deadline,
                        )
                    };
                    let mut outcome = read(continuing)?;
                    // Nothing from the reader's queue (an end-of-partition it saw earlier):
                    // ask the broker afresh.
                    if continuing
                        && matches!(&outcome, ReadOutcome::Records { records, .. } if records.is_empty())
                    {
                        outcome = read(false)?;
                    }
                    let left_at = match &outcome {
                        ReadOutcome::Records { records, .. } => records
                            .last()
                            .map(|last| (owned.clone(), partition, last.offset + 1)),
                        _ => None,
                    };
                    Ok((outcome, left_at))
                },
            )
            .await?;
        match outcome {
            ReadOutcome::Records { records, .. } => Ok(records),
            ReadOutcome::PastEnd { .. } => Err(self.out_of_range(topic, partition, offset).await),
            ReadOutcome::OutOfRange => {
                let w = self.watermarks(topic, partition).await?;
                if offset == w.high {
                    corrected("fetch_out_of_range");
                    return Ok(Vec::new());
                }
                Err(LogError::OffsetOutOfRange {
                    offset,
                    low: w.low,
                    high: w.high,
                })
            }
        }
    }

    /// The error for an offset outside the partition, with verified watermarks in it.
    async fn out_of_range(&self, topic: &str, partition: u32, offset: i64) -> LogError {
        match self.watermarks(topic, partition).await {
            Ok(w) => LogError::OffsetOutOfRange {
                offset,
                low: w.low,
                high: w.high,
            },
            Err(err) => err,
        }
    }

    /// Watermarks: ListOffsets, with the end checked against a Fetch.
    pub(super) async fn watermarks(
        &self,
        topic: &str,
        partition: u32,
    ) -> Result<Watermarks, LogError> {
        self.admin.check_partition(topic, partition).await?;
        let owned = topic.to_owned();
        let timeout = self.options.request_timeout;
        let (watermarks, was_wrong) = self
            .with_reader("kafka watermarks", timeout, move |reader, deadline| {
                verified_watermarks(reader, &owned, partition, timeout, deadline)
            })
            .await?;
        if was_wrong {
            corrected("high_watermark");
        }
        Ok(watermarks)
    }

    /// The first offset at or after `timestamp_ms`: the broker's answer if the records
    /// confirm it, else a binary search over the records.
    pub(super) async fn offset_for_time(
        &self,
        topic: &str,
        partition: u32,
        timestamp_ms: i64,
    ) -> Result<i64, LogError> {
        let w = self.watermarks(topic, partition).await?;
        if w.low == w.high {
            return Ok(w.high);
        }
        let answer = self
            .broker_offset_for_time(topic, partition, timestamp_ms)
            .await;
        let owned = topic.to_owned();
        let timeout = self.options.request_timeout;
        let (offset, was_wrong) = self
            .with_reader(
                "kafka offset for time",
                timeout * 2,
                move |reader, deadline| {
                    check_offset_for_time(
                        reader,
                        &owned,
                        partition,
                        timestamp_ms,
                        answer,
                        w,
                        deadline,
                    )
                },
            )
            .await?;
        if was_wrong {
            corrected("offset_for_time");
        }
        Ok(offset)
    }
}

impl Readers {
    /// What the broker answers for a time: `Some(Some(o))`, `Some(None)` for "no record that
    /// late", `None` when it gave no usable answer (MockCluster cannot answer by time).
    async fn broker_offset_for_time(
        &self,
        topic: &str,
        partition: u32,
        timestamp_ms: i64,
    ) -> Option<Option<i64>> {
        let slot = self.lookup.clone();
        let options = self.options.clone();
        let topic = topic.to_owned();
        let timeout = self.options.request_timeout;
        let asked = blocking(
            "kafka offsets for times",
            timeout + Duration::from_secs(1),
            move || {
                let lookup = {
                    let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
                    match &*slot {
                        Some(lookup) => lookup.clone(),
                        None => {
                            let fresh = Arc::new(new_reader(&options)?);
                            *slot = Some(fresh.clone());
                            fresh
                        }
                    }
                };
                let mut query = TopicPartitionList::new();
                query
                    .add_partition_offset(&topic, partition as i32, Offset::Offset(timestamp_ms))
                    .map_err(|e| errors::from_kafka(&e, "offsets for times"))?;
                let list = lookup
                    .offsets_for_times(query, timeout)
                    .map_err(|e| errors::from_kafka(&e, "offsets for times"))?;
                Ok(
                    match list
                        .find_partition(&topic, partition as i32)
                        .map(|e| e.offset())
                    {
                        Some(Offset::Offset(o)) => Some(Some(o)),
                        Some(Offset::End) => Some(None),
                        _ => None,
                    },
                )
            },
        )
        .await;
        match asked {
            Ok(answer) => answer,
            Err(err) => {
                // Not an error for the caller: the records decide.
                tracing::debug!(%err, "offsets_for_times failed; searching the records");
                None
            }
        }
    }
}

/// ListOffsets watermarks with the end verified by reading; `true` when the broker was wrong.
fn verified_watermarks(
    reader: &Reader,
    topic: &str,
    partition: u32,
    timeout: Duration,
    deadline: Instant,
) -> Result<(Watermarks, bool), LogError> {
    let (low, claimed) = reader
        .fetch_watermarks(topic, partition as i32, timeout)
        .map_err(|e| errors::from_kafka(&e, &format!("list offsets of {topic:?}/{partition}")))?;
    // Read from the last record the broker claims; the end-of-partition event marks the end.
    let mut probe = if claimed > low { claimed - 1 } else { claimed };
    // Unless that brings nothing quickly: a broker whose claimed end falls inside its last
    // batch and that answers a fetch there with nothing (Tansu `memory://`) would have the
    // read step back one idle second at a time. Start a few batches back instead; reading
    // forward from there to the end costs a few fetches.
    if probe > low && !answers_quickly(reader, topic, partition, probe, QUICK_END_PROBE, deadline)?
    {
        probe = claimed.saturating_sub(WIDE_END_PROBE).max(low);
    }
    let mut attempt = 0;
    // After the first read, each continues where the previous one stopped.
    let mut continuing = false;
    let end = loop {
        match read_blocking(
            reader,
            topic,
            partition,
            probe,
            END_SCAN_BATCH,
            Some(low),
            continuing,
            deadline,
        )? {
            ReadOutcome::Records { end: Some(end), .. } | ReadOutcome::PastEnd { end } => {
                break end;
            }
            ReadOutcome::Records { records, end: None } => match records.last() {
                // More records than claimed: keep reading forward.
                Some(last) => {
                    probe = last.offset + 1;
                    continuing = true;
                }
                None => {
                    return Err(LogError::Unavailable(format!(
                        "could not find the end of {topic:?}/{partition}"
                    )));
                }
            },
            ReadOutcome::OutOfRange => {
                continuing = false;
                // The broker claims more than it serves: look further back.
                if probe <= low {
                    return Err(LogError::Unavailable(format!(
                        "{topic:?}/{partition} refuses reads at its own low watermark {low}"
                    )));
                }
                attempt += 1;
                probe = step_back(probe, low, attempt);
            }
        }
    };
    let (high, was_wrong) = verified_end(claimed, end);
    Ok((
        Watermarks {
            low: low.min(high),
            high,
        },
        was_wrong,
    ))
}

/// The timestamp of the record at `offset` (or the next one present), if any.
fn timestamp_at(
    reader: &Reader,
    topic: &str,
    partition: u32,
    offset: i64,
    low: i64,
    deadline: Instant,
) -> Result<Option<i64>, LogError> {
    match read_blocking(
        reader,
        topic,
        partition,
        offset,
        1,
        Some(low),
        false,
        deadline,
    )? {
        ReadOutcome::Records { records, .. } => Ok(records.first().map(|r| r.timestamp_ms)),
        ReadOutcome::PastEnd { .. } | ReadOutcome::OutOfRange => Ok(None),
    }
}

/// The broker's answer for a time, checked, else searched; `true` when the broker was wrong.
fn check_offset_for_time(
    reader: &Reader,
    topic: &str,
    partition: u32,
    timestamp_ms: i64,
    answer: Option<Option<i64>>,
    w: Watermarks,
    deadline: Instant,
) -> Result<(i64, bool), LogError> {
    if let Some(answer) = answer
        && let Some(probes) = time_probes(w.low, w.high, answer)
    {
        let at = match probes.at {
            Some(o) => timestamp_at(reader, topic, partition, o, w.low, deadline)?,
            None => None,
        };
        let before = match probes.before {
            Some(o) => timestamp_at(reader, topic, partition, o, w.low, deadline)?,
            None => None,
        };
        if time_answer_holds(probes, timestamp_ms, at, before) {
            return Ok((answer.unwrap_or(w.high), false));
        }
    }
    let found = first_at_or_after(w.low, w.high, timestamp_ms, |offset| {
        match timestamp_at(reader, topic, partition, offset, w.low, deadline)? {
            Some(ts) => Ok(ts),
            None => Err(LogError::Unavailable(format!(
                "{topic:?}/{partition} has no record at offset {offset} inside its watermarks"
            ))),
        }
    })?;
    Ok((found, true))
}
