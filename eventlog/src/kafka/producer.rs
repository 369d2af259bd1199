//! Appends: one idempotent, `acks=all` librdkafka producer with bounded in-flight data.
//!
//! Each record takes permits from two semaphores — its approximate size in bytes and one
//! record — *before* it is handed to librdkafka. The permits travel with the record as its
//! delivery opaque and are released in the delivery-report callback, so the amount of data
//! appended but not yet durable never exceeds the limits: a slow or absent broker makes
//! callers wait (up to `message_timeout`) instead of growing memory. librdkafka's own queue
//! is sized above those limits, so `QueueFull` is rare; when it happens the append sleeps and
//! tries again rather than spinning.
//!
//! A position is reported only from a successful delivery report, which with `acks=all`
//! means every in-sync replica has the record. After a fatal producer error (idempotence
//! broken, fenced, authorization) the producer is rebuilt for the next call.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer as _, ProducerContext, ThreadedProducer,
};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::admin::Admin;
use super::sticky::Sticky;
use super::{KafkaOptions, OffRuntime, blocking, errors, millis};
use crate::metrics::{IN_FLIGHT_BYTES, record_append};
use crate::{AppendResult, LogError, Position, Record, partition_for_key};

/// A delivery answer: `(partition, offset)` or why not.
pub(super) type Delivery = Result<(i32, i64), LogError>;

/// One append call's records in librdkafka: the answers the delivery callback fills in, and
/// a wake-up for the caller once every record was answered. One allocation and one wait per
/// call, instead of a channel and a timer per record.
pub(super) struct Batch {
    answers: Mutex<Vec<Option<Delivery>>>,
    /// Records not answered yet, plus one held by the caller while it is still enqueueing
    /// (so that early answers cannot finish the batch before every record was handed over).
    remaining: AtomicUsize,
    done: Notify,
    in_flight_bytes: metrics::Gauge,
}

impl Batch {
    pub(super) fn new(records: usize) -> Batch {
        Batch {
            answers: Mutex::new((0..records).map(|_| None).collect()),
            remaining: AtomicUsize::new(records + 1),
            done: Notify::new(),
            in_flight_bytes: metrics::gauge!(IN_FLIGHT_BYTES, "backend" => "kafka"),
        }
    }

    /// Records the answer of record `index` (the first answer wins) and counts it.
    fn answer(&self, index: usize, answer: Delivery) {
        let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot @ None) = answers.get_mut(index) {
            *slot = Some(answer);
        }
        drop(answers);
        self.settle();
    }

    /// One fewer to wait for; the last one wakes the caller.
    pub(super) fn settle(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.notify_one();
        }
    }

    /// The answers, in record order; `None` for records never answered.
    fn take(&self) -> Vec<Option<Delivery>> {
        std::mem::take(&mut *self.answers.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Called once every record was handed over (`refused` says which were refused before):
    /// waits up to `wait` for the answers, then gives one result per record.
    pub(super) async fn finish(
        &self,
        refused: Vec<Option<LogError>>,
        wait: Duration,
    ) -> Vec<AppendResult> {
        self.settle(); // every record handed over: the caller's own count
        let timed_out = tokio::time::timeout(wait, self.done.notified())
            .await
            .is_err();
        settle_answers(refused, self.take(), timed_out.then_some(wait))
    }
}

/// What travels with a record until it is answered: where its answer goes, and the permits it
/// holds until then. Shared by both producers.
pub(super) struct InFlight {
    batch: Arc<Batch>,
    index: usize,
    /// Answered, or refused before librdkafka took it (then the caller reports it): either
    /// way not to be counted again when dropped.
    answered: bool,
    size: usize,
    _permits: Permits,
}

impl InFlight {
    /// Record `index` of `batch`, holding `permits` for `size` bytes.
    pub(super) fn new(batch: &Arc<Batch>, index: usize, size: usize, permits: Permits) -> Self {
        batch.in_flight_bytes.increment(size as f64);
        InFlight {
            batch: Arc::clone(batch),
            index,
            answered: false,
            size,
            _permits: permits,
        }
    }

    pub(super) fn answer(&mut self, answer: Delivery) {
        if !self.answered {
            self.answered = true;
            self.batch.answer(self.index, answer);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.batch.in_flight_bytes.decrement(self.size as f64);
        self.answer(Err(LogError::Unavailable(
            "the kafka producer went away before confirming the record".into(),
        )));
    }
}

/// Receives delivery reports on the producer's polling thread.
struct DeliveryContext;

impl ClientContext for DeliveryContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(error.rdkafka_error_code(), Some(RDKafkaErrorCode::Fatal)) {
            tracing::error!(%error, reason, "kafka producer hit a fatal error");
        } else {
            tracing::warn!(%error, reason, "kafka producer error");
        }
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<InFlight>;

    fn delivery(&self, result: &DeliveryResult<'_>, mut in_flight: Box<InFlight>) {
        let answer = match result {
            Ok(message) => Ok((message.partition(), message.offset())),
            Err((err, message)) => Err(errors::from_kafka(
                err,
                &format!("append to {:?}", message.topic()),
            )),
        };
        // The caller may have given up waiting; the answer then has nobody to read it.
        in_flight.answer(answer);
        // Dropping `in_flight` here releases its permits: the record is no longer in flight.
    }
}

type Inner = ThreadedProducer<DeliveryContext>;

/// The append side of the Kafka log.
pub(super) struct Producer {
    options: Arc<KafkaOptions>,
    admin: Arc<Admin>,
    inner: RwLock<OffRuntime<Arc<Inner>>>,
    limits: Limits,
    closed: AtomicBool,
    /// Where keyless records go.
    keyless: Sticky,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("limits", &self.limits)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The byte permits one record takes: its size, capped so that a record larger than the whole
/// limit can still go (alone).
fn byte_permits(size: usize, limit: usize) -> u32 {
    size.clamp(1, limit).min(u32::MAX as usize) as u32
}

/// The permits one record holds while in flight: its bytes and itself.
pub(super) type Permits = (OwnedSemaphorePermit, OwnedSemaphorePermit);

/// The in-flight limits both producers share: bytes and records appended but not answered.
pub(super) struct Limits {
    bytes: Arc<Semaphore>,
    records: Arc<Semaphore>,
    max_bytes: usize,
    timeout: Duration,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("available_bytes", &self.bytes.available_permits())
            .field("available_records", &self.records.available_permits())
            .finish()
    }
}

impl Limits {
    pub(super) fn new(options: &KafkaOptions) -> Limits {
        Limits {
            bytes: Arc::new(Semaphore::new(options.max_in_flight_bytes)),
            records: Arc::new(Semaphore::new(options.max_in_flight_records)),
            max_bytes: options.max_in_flight_bytes,
            timeout: options.message_timeout,
        }
    }

    /// The permits for a record of `size` bytes if they are free now (the usual case: no
    /// timer).
    pub(super) fn try_acquire(&self, size: usize) -> Option<Permits> {
        let wanted = byte_permits(size, self.max_bytes);
        let bytes = self.bytes.clone().try_acquire_many_owned(wanted).ok()?;
        Some((bytes, self.records.clone().try_acquire_owned().ok()?))
    }

    /// The permits for a record of `size` bytes, waiting for them until `deadline`.
    pub(super) async fn acquire(
        &self,
        size: usize,
        deadline: tokio::time::Instant,
    ) -> Result<Permits, LogError> {
        if let Some(permits) = self.try_acquire(size) {
            return Ok(permits);
        }
        let wanted = byte_permits(size, self.max_bytes);
        let waited = tokio::time::timeout_at(deadline, async {
            let bytes = self.bytes.clone().acquire_many_owned(wanted).await;
            let record = self.records.clone().acquire_owned().await;
            (bytes, record)
        })
        .await;
        match waited {
            Ok((Ok(bytes), Ok(one))) => Ok((bytes, one)),
            Ok(_) => Err(LogError::Closed),
            Err(_) => Err(LogError::Timeout(format!(
                "the in-flight limit stayed full for {:?}",
                self.timeout
            ))),
        }
    }
}

/// The partition of `record` in a topic of `partitions`: its own, its key's, or the keyless
/// choice this append holds (taken from `sticky` on first need). `None` when the record names
/// a partition the topic does not have.
pub(super) fn choose_partition<'a>(
    record: &Record,
    partitions: u32,
    sticky: &'a Sticky,
    keyless: &mut Option<super::sticky::Hold<'a>>,
) -> Option<u32> {
    let partition = match (record.partition, &record.key) {
        (Some(p), _) => p,
        (None, Some(key)) => partition_for_key(key, partitions),
        (None, None) => keyless
            .get_or_insert_with(|| sticky.hold(Instant::now()))
            .partition(partitions),
    };
    (partition < partitions).then_some(partition)
}

/// Turns one append's outcome into its answer, one entry per record: the error it was
/// refused with before being handed over, else its delivery answer.
fn settle_answers(
    refused: Vec<Option<LogError>>,
    answers: Vec<Option<Delivery>>,
    timed_out: Option<Duration>,
) -> Vec<AppendResult> {
    refused
        .into_iter()
        .zip(answers)
        .map(|(refused, answer)| match (refused, answer) {
            (Some(err), _) => Err(err),
            (None, Some(Ok((partition, offset)))) => Ok(Position {
                partition: partition as u32,
                offset,
            }),
            (None, Some(Err(err))) => Err(err),
            (None, None) => match timed_out {
                Some(wait) => Err(LogError::Timeout(format!(
                    "no delivery report within {wait:?}"
                ))),
                None => Err(LogError::Unavailable(
                    "the kafka producer went away before confirming the record".into(),
                )),
            },
        })
        .collect()
}

/// The error for a record naming a partition `topic` does not have.
pub(super) fn unknown_partition(topic: &str, record: &Record) -> LogError {
    LogError::UnknownPartition {
        topic: topic.to_owned(),
        partition: record.partition.unwrap_or_default(),
    }
}

impl Producer {
    pub(super) fn new(options: Arc<KafkaOptions>, admin: Arc<Admin>) -> Result<Self, LogError> {
        let inner = build(&options)?;
        let limits = Limits::new(&options);
        let keyless = Sticky::new(options.linger * 2);
        Ok(Producer {
            options,
            admin,
            inner: RwLock::new(OffRuntime::new(Arc::new(inner))),
            limits,
            keyless,
            closed: AtomicBool::new(false),
        })
    }

    /// The producer to use, rebuilt first if the current one hit a fatal error.
    fn current(&self) -> Result<Arc<Inner>, LogError> {
        let current = Arc::clone(&self.inner.read().unwrap_or_else(|p| p.into_inner()));
        let Some((code, reason)) = current.client().fatal_error() else {
            return Ok(current);
        };
        let mut slot = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if !Arc::ptr_eq(&slot, &current) {
            return Ok(Arc::clone(&slot)); // someone else rebuilt it already
        }
        tracing::warn!(
            ?code,
            reason,
            "rebuilding the kafka producer after a fatal error"
        );
        let fresh = Arc::new(build(&self.options)?);
        // The old producer is dropped on the blocking pool with its wrapper.
        *slot = OffRuntime::new(fresh.clone());
        Ok(fresh)
    }

    pub(super) fn check_health(&self) -> Result<(), LogError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(LogError::Closed);
        }
        let current = Arc::clone(&self.inner.read().unwrap_or_else(|p| p.into_inner()));
        match current.client().fatal_error() {
            Some((code, reason)) => Err(LogError::Fatal(format!(
                "kafka producer failed ({}): {reason}; it is rebuilt on the next append",
                code.to_string().to_lowercase()
            ))),
            None => Ok(()),
        }
    }

    pub(super) async fn append(
        &self,
        topic: &str,
        records: Vec<Record>,
    ) -> Result<Vec<AppendResult>, LogError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(LogError::Closed);
        }
        let started = Instant::now();
        let partitions = self.admin.partition_count(topic).await?;
        let producer = self.current()?;

        let batch = Arc::new(Batch::new(records.len()));
        let mut refused: Vec<Option<LogError>> = Vec::with_capacity(records.len());
        // Held until the records are answered: appends overlapping this one join its
        // partition (see `sticky`).
        let mut keyless = None;
        for (index, record) in records.iter().enumerate() {
            let outcome = match choose_partition(record, partitions, &self.keyless, &mut keyless) {
                None => Err(unknown_partition(topic, record)),
                Some(partition) => {
                    self.enqueue(&producer, topic, partition, record, &batch, index)
                        .await
                }
            };
            match outcome {
                Ok(()) => refused.push(None),
                Err(err) => {
                    refused.push(Some(err));
                    batch.settle();
                }
            }
        }
        let results = batch
            .finish(
                refused,
                self.options.message_timeout + Duration::from_secs(10),
            )
            .await;
        drop(keyless); // answered: this append no longer holds its keyless partition
        record_append("kafka", &results, started);
        Ok(results)
    }

    /// Takes in-flight permits for one record and hands it to librdkafka. Waits (bounded by
    /// `message_timeout`) while the limits or librdkafka's queue are full.
    async fn enqueue(
        &self,
        producer: &Inner,
        topic: &str,
        partition: u32,
        record: &Record,
        batch: &Arc<Batch>,
        index: usize,
    ) -> Result<(), LogError> {
        let deadline = tokio::time::Instant::now() + self.options.message_timeout;
        let size = record.approximate_size();
        let mut backoff = Duration::from_millis(5);
        loop {
            if self.closed.load(Ordering::Acquire) {
                return Err(LogError::Closed);
            }
            let permits = self.limits.acquire(size, deadline).await?;
            let in_flight = Box::new(InFlight::new(batch, index, size, permits));
            // Build and send without holding librdkafka types across an await.
            let sent = send(producer, topic, partition, record, in_flight);
            match sent {
                Ok(()) => return Ok(()),
                Err(RDKafkaErrorCode::QueueFull) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(100));
                }
                Err(code) => {
                    return Err(errors::from_code(code, &format!("append to {topic:?}")));
                }
            }
        }
    }

    /// Stops new appends and waits (on the blocking pool) for in-flight records.
    pub(super) async fn close(&self) -> Result<(), LogError> {
        self.closed.store(true, Ordering::Release);
        let producer = Arc::clone(&self.inner.read().unwrap_or_else(|p| p.into_inner()));
        let timeout = self.options.message_timeout;
        blocking(
            "kafka producer flush",
            timeout + Duration::from_secs(5),
            move || {
                // Flushing blocks on the network; this closure runs on the blocking pool.
                #[allow(clippy::disallowed_methods)]
                let flushed = producer.flush(timeout);
                flushed.map_err(|e| errors::from_kafka(&e, "flush the kafka producer"))
            },
        )
        .await
    }
}

/// Hands one record to librdkafka. On failure the record (and with it the permits) is
/// dropped; the code says why.
fn send(
    producer: &Inner,
    topic: &str,
    partition: u32,
    record: &Record,
    in_flight: Box<InFlight>,
) -> Result<(), RDKafkaErrorCode> {
    let mut headers = OwnedHeaders::new_with_capacity(record.header_count());
    for (name, value) in record.all_headers() {
        headers = headers.insert(Header {
            key: name.as_ref(),
            value: Some(&value[..]),
        });
    }
    let mut base: BaseRecord<'_, [u8], [u8], Box<InFlight>> =
        BaseRecord::with_opaque_to(topic, in_flight)
            .payload(&record.value[..])
            .partition(partition as i32)
            .timestamp(record.timestamp_ms)
            .headers(headers);
    if let Some(key) = &record.key {
        base = base.key(&key[..]);
    }
    producer.send(base).map_err(|(err, mut refused)| {
        // Not in librdkafka's hands: the caller reports it, the batch must not count it.
        refused.delivery_opaque.answered = true;
        err.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail)
    })
}

/// A new idempotent, `acks=all` producer.
fn build(options: &KafkaOptions) -> Result<Inner, LogError> {
    let queue_messages = (options.max_in_flight_records + 1_000).min(i32::MAX as usize);
    let queue_kbytes = (options.max_in_flight_bytes / 1024 + 1_024).min(i32::MAX as usize);
    let mut config = options.base_config();
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set(
            "message.timeout.ms",
            millis(options.message_timeout).to_string(),
        )
        .set(
            "request.timeout.ms",
            millis(options.request_timeout).to_string(),
        )
        .set("linger.ms", options.linger.as_millis().to_string())
        .set("queue.buffering.max.messages", queue_messages.to_string())
        .set("queue.buffering.max.kbytes", queue_kbytes.to_string());
    config
        .create_with_context(DeliveryContext)
        .map_err(|e| errors::from_kafka(&e, "create kafka producer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_permits_are_capped_by_the_limit() {
        assert_eq!(byte_permits(100, 1000), 100);
        assert_eq!(
            byte_permits(5000, 1000),
            1000,
            "a huge record can still go alone"
        );
        assert_eq!(byte_permits(0, 1000), 1);
    }
}
