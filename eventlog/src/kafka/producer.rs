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
type Delivery = Result<(i32, i64), LogError>;

/// One append call's records in librdkafka: the answers the delivery callback fills in, and
/// a wake-up for the caller once every record was answered. One allocation and one wait per
/// call, instead of a channel and a timer per record.
struct Batch {
    answers: Mutex<Vec<Option<Delivery>>>,
    /// Records not answered yet, plus one held by the caller while it is still enqueueing
    /// (so that early answers cannot finish the batch before every record was handed over).
    remaining: AtomicUsize,
    done: Notify,
    in_flight_bytes: metrics::Gauge,
}

impl Batch {
    fn new(records: usize) -> Batch {
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
    fn settle(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.notify_one();
        }
    }

    /// The answers, in record order; `None` for records never answered.
    fn take(&self) -> Vec<Option<Delivery>> {
        std::mem::take(&mut *self.answers.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// What travels with a record through librdkafka: where its answer goes, and the permits it
/// holds until then.
struct InFlight {
    batch: Arc<Batch>,
    index: usize,
    /// Answered, or refused before librdkafka took it (then the caller reports it): either
    /// way not to be counted again when dropped.
    answered: bool,
    size: usize,
    _bytes: OwnedSemaphorePermit,
    _record: OwnedSemaphorePermit,
}

impl InFlight {
    fn answer(&mut self, answer: Delivery) {
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
    bytes: Arc<Semaphore>,
    records: Arc<Semaphore>,
    closed: AtomicBool,
    /// Where keyless records go.
    keyless: Sticky,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("available_bytes", &self.bytes.available_permits())
            .field("available_records", &self.records.available_permits())
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The byte permits one record takes: its size, capped so that a record larger than the whole
/// limit can still go (alone).
fn byte_permits(size: usize, limit: usize) -> u32 {
    size.clamp(1, limit).min(u32::MAX as usize) as u32
}

impl Producer {
    pub(super) fn new(options: Arc<KafkaOptions>, admin: Arc<Admin>) -> Result<Self, LogError> {
        let inner = build(&options)?;
        let bytes = Arc::new(Semaphore::new(options.max_in_flight_bytes));
        let records = Arc::new(Semaphore::new(options.max_in_flight_records));
        let keyless = Sticky::new(options.linger * 2);
        Ok(Producer {
            options,
            admin,
            inner: RwLock::new(OffRuntime::new(Arc::new(inner))),
            bytes,
            records,
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
            let partition = match (record.partition, &record.key) {
                (Some(p), _) => p,
                (None, Some(key)) => partition_for_key(key, partitions),
                (None, None) => keyless
                    .get_or_insert_with(|| self.keyless.hold(Instant::now()))
                    .partition(partitions),
            };
            let outcome = if partition >= partitions {
                Err(LogError::UnknownPartition {
                    topic: topic.to_owned(),
                    partition,
                })
            } else {
                self.enqueue(&producer, topic, partition, record, &batch, index)
                    .await
            };
            match outcome {
                Ok(()) => refused.push(None),
                Err(err) => {
                    refused.push(Some(err));
                    batch.settle();
                }
            }
        }
        batch.settle(); // every record handed over: the caller's own count
        let wait = self.options.message_timeout + Duration::from_secs(10);
        let timed_out = tokio::time::timeout(wait, batch.done.notified())
            .await
            .is_err();
        let answers = batch.take();
        drop(keyless); // answered: this append no longer holds its keyless partition
        let results: Vec<AppendResult> = refused
            .into_iter()
            .zip(answers)
            .map(|(refused, answer)| match (refused, answer) {
                (Some(err), _) => Err(err),
                (None, Some(Ok((partition, offset)))) => Ok(Position {
                    partition: partition as u32,
                    offset,
                }),
                (None, Some(Err(err))) => Err(err),
                (None, None) if timed_out => Err(LogError::Timeout(format!(
                    "no delivery report within {wait:?}"
                ))),
                (None, None) => Err(LogError::Unavailable(
                    "the kafka producer went away before confirming the record".into(),
                )),
            })
            .collect();
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
            let wanted = byte_permits(size, self.options.max_in_flight_bytes);
            // Under the limits (the usual case) the permits are taken without a timer.
            let free = self
                .bytes
                .clone()
                .try_acquire_many_owned(wanted)
                .ok()
                .and_then(|bytes| Some((bytes, self.records.clone().try_acquire_owned().ok()?)));
            let permits = match free {
                Some((bytes, one)) => Ok((Ok(bytes), Ok(one))),
                None => {
                    tokio::time::timeout_at(deadline, async {
                        let bytes = self.bytes.clone().acquire_many_owned(wanted).await;
                        let record = self.records.clone().acquire_owned().await;
                        (bytes, record)
                    })
                    .await
                }
            };
            let (bytes, one) = match permits {
                Ok((Ok(bytes), Ok(one))) => (bytes, one),
                Ok(_) => return Err(LogError::Closed),
                Err(_) => {
                    return Err(LogError::Timeout(format!(
                        "the in-flight limit stayed full for {:?}",
                        self.options.message_timeout
                    )));
                }
            };
            batch.in_flight_bytes.increment(size as f64);
            let in_flight = Box::new(InFlight {
                batch: Arc::clone(batch),
                index,
                answered: false,
                size,
                _bytes: bytes,
                _record: one,
            });
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
    let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
    for (name, value) in &record.headers {
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
