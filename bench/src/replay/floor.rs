//! The floor: the least a topic-to-topic copy can do with rdkafka.
//!
//! One thread; one `BaseConsumer` assigned to every source partition from the beginning (with
//! librdkafka's defaults but for `--floor-property`), until each partition reports its end; each record is
//! sent to the same partition of the target with its key, value, timestamp and headers plus
//! `tributary.replay_job`, through a `BaseProducer` with the durability Tributary uses
//! (idempotent, `acks=all`, the same `linger.ms`), polled for delivery reports every 256
//! records; the clock stops when every record is delivered. Offsets the broker sends twice
//! are skipped (Tansu `memory://` can repeat a batch), as any correct copy must.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::BaseRecord;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{Value, json};
use tributary_core::headers;

use super::fill::{producer, send, wait_for_deliveries};
use super::{Setup, procstat, round3};

pub(super) fn copy(
    setup: &Setup,
    target: &str,
    job_id: &str,
    properties: &BTreeMap<String, String>,
) -> anyhow::Result<Value> {
    let mut config = ClientConfig::new();
    for (key, value) in properties {
        config.set(key, value);
    }
    let consumer: BaseConsumer = config
        .set("bootstrap.servers", &setup.bootstrap)
        .set("group.id", "tributary-bench-floor")
        .set("enable.partition.eof", "true")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .context("create floor consumer")?;
    let linger_ms = setup.linger.as_millis() as u64;
    let (producer, deliveries) = producer(ClientConfig::new(), &setup.bootstrap, linger_ms)?;
    let partitions = setup.partitions as usize;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..setup.partitions as i32 {
        assignment.add_partition_offset(&setup.source, partition, Offset::Beginning)?;
    }

    let cpu_before = procstat::own_cpu_seconds()?;
    let broker_before = setup.broker_cpu()?;
    let started = Instant::now();
    consumer.assign(&assignment)?;
    let mut next_offset = vec![0i64; partitions];
    let mut at_end = vec![false; partitions];
    let mut sent = 0u64;
    let mut repeated = 0u64;
    while at_end.iter().any(|done| !done) {
        if started.elapsed() > setup.timeout {
            bail!("the floor copy took longer than {:?}", setup.timeout);
        }
        let message = match consumer.poll(Duration::from_millis(100)) {
            None => continue,
            Some(Ok(message)) => message,
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end[p as usize] = true;
                continue;
            }
            Some(Err(err)) => bail!("consuming {}: {err}", setup.source),
        };
        let p = message.partition() as usize;
        if message.offset() < next_offset[p] {
            repeated += 1;
            continue;
        }
        next_offset[p] = message.offset() + 1;
        at_end[p] = false;
        let headers = message
            .headers()
            .map_or_else(|| OwnedHeaders::new_with_capacity(1), |h| h.detach())
            .insert(Header {
                key: headers::REPLAY_JOB,
                value: Some(job_id),
            });
        let mut record = BaseRecord::<[u8], [u8]>::to(target)
            .partition(message.partition())
            .payload(message.payload().unwrap_or_default())
            .headers(headers);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(timestamp) = message.timestamp().to_millis() {
            record = record.timestamp(timestamp);
        }
        send(&producer, record)?;
        sent += 1;
        if sent.is_multiple_of(256) {
            producer.poll(Duration::ZERO);
        }
    }
    let read_seconds = started.elapsed().as_secs_f64();
    wait_for_deliveries(&producer, setup.timeout)?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = procstat::own_cpu_seconds()? - cpu_before;
    let broker = setup.broker_cpu()? - broker_before;

    let delivered = deliveries.ok.load(Ordering::Relaxed);
    let failed = deliveries.failed.load(Ordering::Relaxed);
    if failed > 0 || delivered != sent {
        bail!("floor: {sent} sent, {delivered} delivered, {failed} failed");
    }
    Ok(json!({
        "linger_ms": linger_ms,
        "consumer_properties": properties,
        "seconds": round3(seconds),
        "read_to_end_seconds": round3(read_seconds),
        "events_copied": sent,
        "events_per_second": (sent as f64 / seconds).round(),
        "repeated_offsets_skipped": repeated,
        "bench_cpu_seconds": round3(cpu),
        "broker_cpu_seconds": round3(broker),
        "bench_cores": round3(cpu / seconds),
        "broker_cores": round3(broker / seconds),
    }))
}
