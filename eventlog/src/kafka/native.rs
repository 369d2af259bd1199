//! Appends without librdkafka: each partition's waiting records go to the broker as one
//! record batch in one Produce request (`producer = native`).
//!
//! librdkafka's per-record API costs about 2.5 µs of CPU per record in the gateway (its
//! enqueue, its broker thread re-framing every record, a delivery report per record). Here
//! the records of an append are written once, straight into the request, and answered
//! together.
//!
//! * **One request in flight per partition** (group commit): while a partition's request is
//!   out, later appends to it wait in its queue and go together in the next request.
//! * **`linger`** (`linger.ms`, as in every Kafka producer): a request goes when its oldest
//!   record has waited `linger` (to half a millisecond, the timer's precision), or at once when
//!   the queue holds a full request ([`MAX_BATCH_BYTES`]) or the producer is closing. A
//!   broker's cost is mostly per request: single events through the gateway at 17,000 a
//!   second went about 6 to a request without lingering and Tansu took 0.40–0.47 cores;
//!   lingering 1–2 ms, about 18 and 0.16–0.19 cores (docs/kafka-log.md).
//! * **Idempotent and `acks=all`**: the producer takes a producer id (InitProducerId) and
//!   numbers each partition's batches, so a batch resent after a lost answer is stored once.
//!   A resend always reuses the id and sequence of the first send. When a batch is given up
//!   without knowing whether the broker stored it, the producer takes a new id, so a later
//!   batch can never be mistaken for it.
//! * **Positions only from the broker's answer**: a record is acknowledged only from a
//!   successful produce answer for its batch, at the batch's base offset plus its index.
//! * The in-flight limits and the keyless partition choice are the librdkafka producer's
//!   ([`Limits`], [`Sticky`]).
//!
//! It speaks plaintext only; TLS or SASL need `producer = librdkafka` (checked at connect).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::time::Instant as Deadline;

mod cluster;

use cluster::{Cluster, Writer};

use super::KafkaOptions;
use super::admin::Admin;
use super::producer::{Batch, InFlight, Limits, choose_partition, unknown_partition};
use super::sticky::Sticky;
use super::wire::{self, Idempotence, Remedy};
use crate::metrics::record_append;
use crate::{AppendResult, LogError, Record};

/// A produce request carries at most about this many bytes of records (brokers refuse
/// batches over `message.max.bytes`, 1 MiB by default); one larger record still goes alone.
const MAX_BATCH_BYTES: usize = 512 << 10;

/// The longest wait between attempts to send a batch.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// The append side of the Kafka log, without librdkafka.
#[derive(Debug)]
pub(super) struct NativeProducer {
    shared: Arc<Shared>,
    admin: Arc<Admin>,
    keyless: Sticky,
}

#[derive(Debug)]
struct Shared {
    options: Arc<KafkaOptions>,
    limits: Limits,
    cluster: Cluster,
    queues: Mutex<HashMap<TopicPartition, Arc<Queue>>>,
    closed: AtomicBool,
    /// Partitions with a sender task running.
    sending: AtomicUsize,
}

/// A partition of a topic.
type TopicPartition = (Arc<str>, u32);

/// One record waiting for, or riding in, a produce request.
struct Entry {
    record: Record,
    in_flight: InFlight,
    /// When the append began: the record may wait for company until `since + linger`.
    since: Deadline,
    deadline: Deadline,
    /// The record's `approximate_size`.
    size: usize,
}

/// One partition's waiting records and its place in the producer's sequence.
#[derive(Debug)]
struct Queue {
    topic: Arc<str>,
    partition: u32,
    state: Mutex<QueueState>,
    /// Wakes a lingering sender when the queue holds a full request.
    full: tokio::sync::Notify,
}

#[derive(Default)]
struct QueueState {
    /// As appended: each append's records for this partition stay one vector (no empty
    /// ones), so queueing and taking them moves vectors, not each 180-byte entry.
    waiting: VecDeque<Vec<Entry>>,
    /// The `size` of every waiting entry, together.
    bytes: usize,
    /// A sender task is draining this queue.
    sending: bool,
    /// `(producer id generation, next sequence)`.
    sequence: (u64, i32),
}

impl std::fmt::Debug for QueueState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueState")
            .field("waiting", &self.waiting.iter().map(Vec::len).sum::<usize>())
            .field("bytes", &self.bytes)
            .field("sending", &self.sending)
            .field("sequence", &self.sequence)
            .finish()
    }
}

/// What a queue's sender does next.
#[derive(Debug, PartialEq)]
enum Next {
    /// Nothing is waiting: the sender ends.
    Stop,
    /// Send the next batch now.
    Send,
    /// Wait for company until then (or until the queue holds a full request).
    Linger(Deadline),
}

/// The runtime's timer fires on whole milliseconds, at the first tick at or after a deadline,
/// so a sleep for 1 ms lasts 1–2 ms. A lingering sender aims this much early (at most half
/// the linger): its wait then lands within half a tick either side of `linger`.
const HALF_TICK: Duration = Duration::from_micros(500);

/// When a batch whose oldest record arrived at `since` is due (see [`HALF_TICK`]).
fn linger_due(since: Deadline, linger: Duration) -> Deadline {
    since + linger - HALF_TICK.min(linger / 2)
}

impl QueueState {
    /// A batch goes when its oldest record has waited `linger` (to the timer's precision, see
    /// [`linger_due`]), when the waiting records fill a request, or at once when the producer
    /// is closing.
    fn next(&self, linger: Duration, closing: bool, now: Deadline) -> Next {
        let Some(oldest) = self.waiting.front().and_then(|v| v.first()) else {
            return Next::Stop;
        };
        let due = linger_due(oldest.since, linger);
        if closing || self.bytes >= MAX_BATCH_BYTES || now >= due {
            Next::Send
        } else {
            Next::Linger(due)
        }
    }
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The sequence the next batch under `writer` starts at.
    fn next_sequence(&self, writer: &Writer) -> i32 {
        let state = self.lock();
        if state.sequence.0 == writer.generation {
            state.sequence.1
        } else {
            0
        }
    }

    /// A batch of `count` records starting at `sequence` under `writer` was stored.
    fn advance(&self, writer: &Writer, sequence: i32, count: usize) {
        let next = ((i64::from(sequence) + count as i64) % (i64::from(i32::MAX) + 1)) as i32;
        self.lock().sequence = (writer.generation, next);
    }
}

impl NativeProducer {
    pub(super) fn new(options: Arc<KafkaOptions>, admin: Arc<Admin>) -> NativeProducer {
        let keyless = Sticky::new(options.linger * 2);
        NativeProducer {
            shared: Arc::new(Shared {
                limits: Limits::new(&options),
                cluster: Cluster::new(options.clone()),
                options,
                queues: Mutex::default(),
                closed: AtomicBool::new(false),
                sending: AtomicUsize::new(0),
            }),
            admin,
            keyless,
        }
    }

    pub(super) fn check_health(&self) -> Result<(), LogError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(LogError::Closed);
        }
        Ok(())
    }

    pub(super) async fn append(
        &self,
        topic: &str,
        records: Vec<Record>,
    ) -> Result<Vec<AppendResult>, LogError> {
        let shared = &self.shared;
        if shared.closed.load(Ordering::Acquire) {
            return Err(LogError::Closed);
        }
        let started = Instant::now();
        let partitions = self.admin.partition_count(topic).await?;
        let topic_name: Arc<str> = Arc::from(topic);
        let since = Deadline::now();
        let deadline = since + shared.options.message_timeout;

        let count = records.len();
        let batch = Arc::new(Batch::new(count));
        let mut refused: Vec<Option<LogError>> = Vec::with_capacity(records.len());
        // Held until the records are answered: appends overlapping this one join its
        // partition (see `sticky`).
        let mut keyless = None;
        // Records with their permits, by partition, not yet in a queue.
        let mut ready: Vec<(u32, Vec<Entry>)> = Vec::new();
        for (index, record) in records.into_iter().enumerate() {
            let Some(partition) =
                choose_partition(&record, partitions, &self.keyless, &mut keyless)
            else {
                refused.push(Some(unknown_partition(topic, &record)));
                batch.settle();
                continue;
            };
            let size = record.approximate_size();
            let permits = match shared.limits.try_acquire(size) {
                Some(permits) => Ok(permits),
                None => {
                    // Hand over what this append holds before waiting for the limits to free
                    // up, or it could wait on its own records.
                    shared.enqueue(&topic_name, std::mem::take(&mut ready));
                    shared.limits.acquire(size, deadline).await
                }
            };
            match permits {
                Ok(permits) => {
                    refused.push(None);
                    let entry = Entry {
                        record,
                        in_flight: InFlight::new(&batch, index, size, permits),
                        since,
                        deadline,
                        size,
                    };
                    match ready.iter_mut().find(|(p, _)| *p == partition) {
                        Some((_, entries)) => entries.push(entry),
                        None => {
                            // Sized for the rest of the append: keyless records of one
                            // append usually all go to one partition.
                            let mut entries = Vec::with_capacity(count - index);
                            entries.push(entry);
                            ready.push((partition, entries));
                        }
                    }
                }
                Err(err) => {
                    refused.push(Some(err));
                    batch.settle();
                }
            }
        }
        shared.enqueue(&topic_name, ready);
        let results = batch
            .finish(
                refused,
                shared.options.message_timeout + Duration::from_secs(10),
            )
            .await;
        drop(keyless); // answered: this append no longer holds its keyless partition
        record_append("kafka", &results, started);
        Ok(results)
    }

    /// Stops new appends and waits for the queued records to be answered.
    pub(super) async fn close(&self) -> Result<(), LogError> {
        let shared = &self.shared;
        shared.closed.store(true, Ordering::Release);
        let deadline = Instant::now() + shared.options.message_timeout + Duration::from_secs(5);
        while shared.sending.load(Ordering::Acquire) > 0 {
            if Instant::now() >= deadline {
                return Err(LogError::Timeout(
                    "queued records were not answered before the producer closed".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }
}

impl Shared {
    fn queue(&self, topic: &Arc<str>, partition: u32) -> Arc<Queue> {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        queues
            .entry((Arc::clone(topic), partition))
            .or_insert_with(|| {
                Arc::new(Queue {
                    topic: Arc::clone(topic),
                    partition,
                    state: Mutex::default(),
                    full: tokio::sync::Notify::new(),
                })
            })
            .clone()
    }

    /// Puts records in their partitions' queues and starts a sender where none runs.
    fn enqueue(self: &Arc<Self>, topic: &Arc<str>, ready: Vec<(u32, Vec<Entry>)>) {
        for (partition, entries) in ready {
            if entries.is_empty() {
                continue;
            }
            let queue = self.queue(topic, partition);
            let bytes: usize = entries.iter().map(|e| e.size).sum();
            let (start, full) = {
                let mut state = queue.lock();
                state.waiting.push_back(entries);
                state.bytes += bytes;
                let full = state.bytes >= MAX_BATCH_BYTES;
                (!std::mem::replace(&mut state.sending, true), full)
            };
            if start {
                self.sending.fetch_add(1, Ordering::AcqRel);
                tokio::spawn(Arc::clone(self).drain(queue));
            } else if full {
                queue.full.notify_one();
            }
        }
    }

    /// Sends the queue's records, a request at a time, until it is empty; each request when
    /// its oldest record has waited `linger` (see the module docs).
    async fn drain(self: Arc<Self>, queue: Arc<Queue>) {
        loop {
            let entries = {
                let mut state = queue.lock();
                let closing = self.closed.load(Ordering::Acquire);
                match state.next(self.options.linger, closing, Deadline::now()) {
                    Next::Stop => {
                        state.sending = false;
                        break;
                    }
                    Next::Send => {
                        let (entries, bytes) = take_batch(&mut state.waiting);
                        state.bytes -= bytes;
                        Ok(entries)
                    }
                    Next::Linger(due) => Err(due),
                }
            };
            match entries {
                Ok(entries) => self.produce(&queue, entries).await,
                Err(due) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(due) => {}
                        () = queue.full.notified() => {}
                    }
                }
            }
        }
        self.sending.fetch_sub(1, Ordering::AcqRel);
    }

    /// Writes `entries` (in order, across their vectors) as one batch and answers each.
    async fn produce(&self, queue: &Queue, mut entries: Vec<Vec<Entry>>) {
        let deadline = entries
            .iter()
            .flatten()
            .map(|e| e.deadline)
            .min()
            .unwrap_or_else(Deadline::now);
        let records: Vec<&Record> = entries.iter().flatten().map(|e| &e.record).collect();
        let outcome = self.send_batch(queue, &records, deadline).await;
        drop(records);
        let partition = queue.partition as i32;
        match outcome {
            Ok(base_offset) => {
                for (i, entry) in entries.iter_mut().flatten().enumerate() {
                    entry
                        .in_flight
                        .answer(Ok((partition, base_offset + i as i64)));
                }
            }
            Err(err) => {
                for entry in entries.iter_mut().flatten() {
                    entry.in_flight.answer(Err(err.clone()));
                }
            }
        }
    }

    /// Sends one batch until the broker stores it (its base offset), refuses it, or the
    /// deadline passes.
    async fn send_batch(
        &self,
        queue: &Queue,
        records: &[&Record],
        deadline: Deadline,
    ) -> Result<i64, LogError> {
        let topic = &*queue.topic;
        let mut backoff = Duration::from_millis(10);
        // The writer and sequence of the first send that may have reached the broker: every
        // resend must use them, or a stored batch could be stored twice.
        let mut pinned: Option<(Writer, i32)> = None;
        let mut last_error;
        loop {
            let attempt = async {
                let (writer, sequence) = match pinned {
                    Some(pinned) => pinned,
                    None => {
                        let writer = self.cluster.writer().await?;
                        (writer, queue.next_sequence(&writer))
                    }
                };
                let conn = self.cluster.leader(&queue.topic, queue.partition).await?;
                let id = conn.next_correlation_id();
                let remaining = deadline.saturating_duration_since(Deadline::now());
                let timeout = self.options.request_timeout.min(remaining);
                let frame = wire::produce_request(
                    id,
                    super::millis(timeout).min(i32::MAX as u64) as i32,
                    topic,
                    queue.partition,
                    records,
                    Idempotence {
                        producer_id: writer.producer_id,
                        epoch: writer.epoch,
                        base_sequence: sequence,
                    },
                );
                pinned = Some((writer, sequence));
                let answer = conn.call(id, &frame, timeout).await.and_then(|body| {
                    wire::produce_response(&body, topic, queue.partition)
                        .map_err(|e| LogError::Unavailable(e.to_string()))
                });
                if answer.is_err() {
                    self.cluster.forget_conn(&conn);
                }
                Ok::<_, LogError>((writer, sequence, answer?))
            };
            last_error = match attempt.await {
                Ok((writer, sequence, answer)) if answer.error_code == 0 => {
                    if answer.base_offset < 0 {
                        // Stored, says the broker, but not where: nothing to acknowledge
                        // with, and a resend would be a duplicate.
                        self.cluster.retire(writer.generation).await;
                        return Err(LogError::Unavailable(format!(
                            "the broker stored a batch in {topic:?} partition {} but \
                             answered offset {}",
                            queue.partition, answer.base_offset
                        )));
                    }
                    queue.advance(&writer, sequence, records.len());
                    return Ok(answer.base_offset);
                }
                Ok((writer, _, answer)) => {
                    let code = answer.error_code;
                    let what = format!(
                        "append to {topic:?} partition {}: {} ({code})",
                        queue.partition,
                        wire::error_name(code)
                    );
                    match wire::remedy(code) {
                        Remedy::Reject => {
                            // Refused as a whole: not stored, and the sequence not used.
                            return Err(LogError::Rejected(what));
                        }
                        Remedy::NewProducerId => {
                            // Not stored: start over under a new producer id.
                            self.cluster.retire(writer.generation).await;
                            pinned = None;
                            LogError::Unavailable(what)
                        }
                        Remedy::Retry => {
                            self.cluster.forget_leaders(topic);
                            LogError::Unavailable(what)
                        }
                    }
                }
                Err(err) => {
                    self.cluster.forget_leaders(topic);
                    err
                }
            };
            if Deadline::now() + backoff >= deadline {
                break;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        // Given up. If a send may have reached the broker, this writer's sequence for the
        // partition is unknown from here on: a new producer id keeps later batches from being
        // taken for this one.
        if let Some((writer, _)) = pinned {
            self.cluster.retire(writer.generation).await;
        }
        Err(match last_error {
            LogError::Timeout(why) | LogError::Unavailable(why) => {
                LogError::Timeout(format!("not stored within the message timeout: {why}"))
            }
            other => other,
        })
    }
}

/// Takes the next request's worth of waiting records from the front of `waiting` (not
/// empty): whole vectors while they fit in [`MAX_BATCH_BYTES`], the front of the next one
/// if part of it fits, and always at least one record. Also answers the taken entries' `size`
/// together.
fn take_batch(waiting: &mut VecDeque<Vec<Entry>>) -> (Vec<Vec<Entry>>, usize) {
    let mut taken = Vec::new();
    let mut bytes = 0;
    let mut count = 0;
    while let Some(front) = waiting.front_mut() {
        let mut fit = 0;
        for entry in front.iter() {
            if count + fit > 0 && bytes + entry.size > MAX_BATCH_BYTES {
                break;
            }
            bytes += entry.size;
            fit += 1;
        }
        count += fit;
        if fit == front.len() {
            taken.extend(waiting.pop_front());
        } else {
            if fit > 0 {
                taken.push(front.drain(..fit).collect());
            }
            break;
        }
    }
    (taken, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors of entries of the given sizes, each record's timestamp its place in order.
    fn waiting(sizes: &[&[usize]]) -> VecDeque<Vec<Entry>> {
        let limits = Limits::new(&KafkaOptions::new("127.0.0.1:9"));
        let total = sizes.iter().map(|v| v.len()).sum();
        let batch = Arc::new(Batch::new(total));
        let mut n = 0;
        sizes
            .iter()
            .map(|vector| {
                vector
                    .iter()
                    .map(|&size| {
                        n += 1;
                        Entry {
                            record: Record::new(bytes::Bytes::new(), n),
                            in_flight: InFlight::new(
                                &batch,
                                n as usize - 1,
                                size,
                                limits.try_acquire(size.min(1 << 20)).unwrap(),
                            ),
                            since: Deadline::now(),
                            deadline: Deadline::now(),
                            size,
                        }
                    })
                    .collect()
            })
            .collect()
    }

    fn order(vectors: &[Vec<Entry>]) -> Vec<Vec<i64>> {
        vectors
            .iter()
            .map(|v| v.iter().map(|e| e.record.timestamp_ms).collect())
            .collect()
    }

    #[tokio::test]
    async fn a_batch_takes_whole_appends_then_the_front_of_the_next() {
        let k = 100_000;
        let mut queue = waiting(&[&[k, k, k], &[k, k, k, k], &[k, k]]);
        // 3 + 2 records fit in 512 KiB; the second append is split.
        let (taken, _) = take_batch(&mut queue);
        assert_eq!(order(&taken), vec![vec![1, 2, 3], vec![4, 5]]);
        assert_eq!(order(queue.make_contiguous()), vec![vec![6, 7], vec![8, 9]]);
        let (taken, _) = take_batch(&mut queue);
        assert_eq!(order(&taken), vec![vec![6, 7], vec![8, 9]]);
        assert!(queue.is_empty());
    }

    #[tokio::test]
    async fn a_batch_goes_when_its_oldest_record_has_lingered_or_a_request_is_full() {
        let linger = Duration::from_millis(5);
        let now = Deadline::now();
        let mut state = QueueState::default();
        assert_eq!(state.next(linger, false, now), Next::Stop);

        state.waiting = waiting(&[&[100], &[100]]);
        state.bytes = 200;
        state.waiting[0][0].since = now - Duration::from_millis(2);
        state.waiting[1][0].since = now;
        // The oldest record decides: it has 3 of its 5 ms left, aimed half a tick early.
        let due = now + Duration::from_micros(2_500);
        assert_eq!(state.next(linger, false, now), Next::Linger(due));
        assert_eq!(
            state.next(linger, false, due - Duration::from_micros(1)),
            Next::Linger(due)
        );
        assert_eq!(state.next(linger, false, due), Next::Send);
        assert_eq!(state.next(Duration::ZERO, false, now), Next::Send);
        // Closing sends what waits without lingering.
        assert_eq!(state.next(linger, true, now), Next::Send);
        // So does a full request's worth.
        state.bytes = MAX_BATCH_BYTES;
        assert_eq!(state.next(linger, false, now), Next::Send);
    }

    #[tokio::test]
    async fn a_lingering_sender_aims_half_a_tick_early_but_never_before_half_the_linger() {
        let since = Deadline::now();
        let due = |micros| linger_due(since, Duration::from_micros(micros)) - since;
        assert_eq!(due(1_000), Duration::from_micros(500));
        assert_eq!(due(5_000), Duration::from_micros(4_500));
        assert_eq!(due(600), Duration::from_micros(300));
        assert_eq!(due(0), Duration::ZERO);
    }

    #[tokio::test]
    async fn a_record_over_the_limit_goes_alone() {
        let mut queue = waiting(&[&[600_000, 10], &[10]]);
        assert_eq!(order(&take_batch(&mut queue).0), vec![vec![1]]);
        assert_eq!(order(&take_batch(&mut queue).0), vec![vec![2], vec![3]]);
        assert!(queue.is_empty());
    }
}
