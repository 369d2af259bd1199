//! Filling the source topic: gateway-like records through a bare rdkafka producer (not timed
//! against anything; only fast).
//!
//! Record `i` carries event `i mod distinct` (Confluent-framed, schema id 1), keyed by the
//! event's `customer_id` and placed by Tributary's partitioner as the gateway would, stamped
//! `first_ms + i · 3600000 / n` (an hour of event time, ascending), with the gateway's headers.
//! Its event id is a UUIDv7 whose last six bytes are `i`, so a scan can tell which records of
//! the source a copy holds (see [`event_index`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use tributary_core::headers;
use tributary_eventlog::partition_for_key;
use uuid::Uuid;

/// The event time the source spans.
const SPAN_MS: i64 = 3_600_000;

const PRODUCERS: [&str; 4] = [
    "checkout-service",
    "mobile-app",
    "web-storefront",
    "partner-api",
];

/// What the source holds.
#[derive(Debug, Clone)]
pub(super) struct Filled {
    pub(super) events: u64,
    /// Records per partition.
    pub(super) per_partition: Vec<u64>,
    /// Timestamps of the first and the last record.
    pub(super) first_ms: i64,
    pub(super) last_ms: i64,
    /// Mean bytes of key, value and headers per record.
    pub(super) record_bytes: u64,
    pub(super) seconds: f64,
}

/// Counts delivery reports.
#[derive(Debug, Default)]
pub(super) struct Deliveries {
    pub(super) ok: AtomicU64,
    pub(super) failed: AtomicU64,
}

#[derive(Debug, Clone)]
pub(super) struct Counting(pub(super) Arc<Deliveries>);

impl rdkafka::ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.0.ok.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.0.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// An idempotent, `acks=all` producer counting its deliveries (`config`: further properties).
pub(super) fn producer(
    mut config: ClientConfig,
    bootstrap: &str,
    linger_ms: u64,
) -> anyhow::Result<(BaseProducer<Counting>, Arc<Deliveries>)> {
    let deliveries = Arc::new(Deliveries::default());
    let producer = config
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", linger_ms.to_string())
        .create_with_context(Counting(deliveries.clone()))
        .context("create producer")?;
    Ok((producer, deliveries))
}

/// Enqueues one record, serving delivery reports while librdkafka's queue is full.
pub(super) fn send<K, P>(
    producer: &BaseProducer<Counting>,
    mut record: BaseRecord<'_, K, P>,
) -> anyhow::Result<()>
where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(Duration::from_millis(1));
            }
            Err((err, _)) => bail!("enqueue failed: {err}"),
        }
    }
}

/// Serves delivery reports until none is outstanding.
pub(super) fn wait_for_deliveries(
    producer: &BaseProducer<Counting>,
    limit: Duration,
) -> anyhow::Result<()> {
    let until = Instant::now() + limit;
    while producer.in_flight_count() > 0 {
        if Instant::now() >= until {
            bail!(
                "{} deliveries still outstanding after {limit:?}",
                producer.in_flight_count()
            );
        }
        producer.poll(Duration::from_millis(20));
    }
    Ok(())
}

/// The event id of record `index`: a UUIDv7 at `timestamp_ms` whose last six bytes are `index`.
fn event_id(timestamp_ms: i64, index: u64) -> Uuid {
    let mut tail = [0u8; 10];
    tail[4..].copy_from_slice(&index.to_be_bytes()[2..]);
    uuid::Builder::from_unix_timestamp_millis(timestamp_ms as u64, &tail).into_uuid()
}

/// The record index an event id written by [`fill`] carries.
pub(super) fn event_index(event_id: &[u8]) -> Option<u64> {
    let id = Uuid::try_parse_ascii(event_id).ok()?;
    let mut index = [0u8; 8];
    index[2..].copy_from_slice(&id.as_bytes()[10..]);
    Some(u64::from_be_bytes(index))
}

/// Produces `events` records into `topic` (which exists with `partitions` partitions) and
/// waits until every one is delivered.
pub(super) fn fill(
    bootstrap: &str,
    topic: &str,
    partitions: u32,
    events: u64,
    values: &[Vec<u8>],
    linger_ms: u64,
    batch_records: Option<u32>,
    timeout: Duration,
) -> anyhow::Result<Filled> {
    // Each distinct event once: its framed value, its key (the customer) and its partition.
    let mut prepared = Vec::with_capacity(values.len());
    for value in values {
        let parsed: serde_json::Value = serde_json::from_slice(value)?;
        let key = parsed["customer_id"]
            .as_str()
            .context("a generated event has a customer_id")?
            .to_owned();
        let partition = partition_for_key(key.as_bytes(), partitions);
        prepared.push((
            tributary_registry::confluent_frame(1, value),
            key,
            partition,
        ));
    }
    let mut config = ClientConfig::new();
    if let Some(records) = batch_records {
        config.set("batch.num.messages", records.to_string());
    }
    let (producer, deliveries) = producer(config, bootstrap, linger_ms)?;
    let first_ms = crate::now_ms() - SPAN_MS;
    let mut per_partition = vec![0u64; partitions as usize];
    let mut bytes = 0u64;
    let mut last_ms = first_ms;
    let mut id_text = [0u8; 36];
    let started = Instant::now();
    for i in 0..events {
        let (value, key, partition) = &prepared[(i % prepared.len() as u64) as usize];
        let timestamp =
            first_ms + (i128::from(i) * i128::from(SPAN_MS) / i128::from(events)) as i64;
        let id = event_id(timestamp, i)
            .hyphenated()
            .encode_lower(&mut id_text);
        let received_at = (timestamp + 40).to_string();
        let quality = if i % 50 == 0 { "87" } else { "100" };
        let producer_name = PRODUCERS[(i % PRODUCERS.len() as u64) as usize];
        let headers = OwnedHeaders::new_with_capacity(6)
            .insert(Header {
                key: headers::EVENT_ID,
                value: Some(&*id),
            })
            .insert(Header {
                key: headers::PRODUCER,
                value: Some(producer_name),
            })
            .insert(Header {
                key: headers::PRODUCER_AUTHENTICATED,
                value: Some("true"),
            })
            .insert(Header {
                key: headers::RECEIVED_AT,
                value: Some(received_at.as_str()),
            })
            .insert(Header {
                key: headers::SCHEMA_VERSION,
                value: Some("3"),
            })
            .insert(Header {
                key: headers::QUALITY,
                value: Some(quality),
            });
        bytes += (value.len()
            + key.len()
            + [
                (headers::EVENT_ID, id.len()),
                (headers::PRODUCER, producer_name.len()),
                (headers::PRODUCER_AUTHENTICATED, 4),
                (headers::RECEIVED_AT, received_at.len()),
                (headers::SCHEMA_VERSION, 1),
                (headers::QUALITY, quality.len()),
            ]
            .iter()
            .map(|(name, len)| name.len() + len)
            .sum::<usize>()) as u64;
        let record = BaseRecord::to(topic)
            .partition(*partition as i32)
            .key(key.as_bytes())
            .payload(&value[..])
            .timestamp(timestamp)
            .headers(headers);
        send(&producer, record)?;
        per_partition[*partition as usize] += 1;
        last_ms = timestamp;
        if i % 256 == 0 {
            producer.poll(Duration::ZERO);
            if started.elapsed() > timeout {
                bail!("filling took longer than {timeout:?}");
            }
        }
    }
    wait_for_deliveries(&producer, timeout)?;
    let seconds = started.elapsed().as_secs_f64();
    let ok = deliveries.ok.load(Ordering::Relaxed);
    let failed = deliveries.failed.load(Ordering::Relaxed);
    if ok != events || failed > 0 {
        bail!("{events} records sent to {topic}, {ok} delivered, {failed} failed");
    }
    Ok(Filled {
        events,
        per_partition,
        first_ms,
        last_ms,
        record_bytes: bytes / events,
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_carry_their_index() {
        for index in [0, 1, 999_999, (1 << 48) - 1] {
            let id = event_id(1_700_000_000_000, index);
            assert_eq!(id.get_version_num(), 7);
            let text = id.hyphenated().to_string();
            assert_eq!(event_index(text.as_bytes()), Some(index));
        }
        assert_eq!(event_index(b"not a uuid"), None);
    }
}
