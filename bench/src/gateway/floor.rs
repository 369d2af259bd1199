//! `floor`: the bare rdkafka producer loop the gateway is measured against.
//!
//! One application thread sends the benchmark's pre-serialized events (Confluent-framed, as
//! the gateway writes them) through a `BaseProducer` — idempotent, `acks=all`, the same
//! `linger.ms` as Tributary's Kafka backend — as fast as librdkafka's queue takes them, for
//! `--duration` seconds, then waits for every delivery report. The figure is delivered events
//! per CPU-second of this whole process (its thread and librdkafka's).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use serde_json::json;
use tributary_eventlog::{EventLog, KafkaLog, KafkaOptions, TopicSpec};

use super::{events, procstat};

#[derive(Debug, clap::Args)]
pub(crate) struct FloorArgs {
    /// Kafka bootstrap servers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    /// Topic to produce to (created with `--partitions` when missing).
    #[arg(long, default_value = "bench.gateway_floor")]
    topic: String,
    #[arg(long, default_value_t = 3)]
    partitions: u32,
    /// Seconds of sending in the measured run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Producer `linger.ms` (Tributary's Kafka backend uses 5).
    #[arg(long, default_value_t = 5)]
    linger_ms: u64,
    #[command(flatten)]
    events: events::EventArgs,
    /// The broker's process id: its CPU time is reported.
    #[arg(long)]
    broker_pid: Option<u32>,
}

/// Counts delivery reports; the only work the floor does per event besides the enqueue.
#[derive(Debug, Default)]
struct Deliveries {
    ok: AtomicU64,
    failed: AtomicU64,
}

#[derive(Debug, Clone)]
struct Counting(Arc<Deliveries>);

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

pub(crate) fn run(args: &FloorArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let admin = KafkaLog::connect(KafkaOptions::new(args.bootstrap.clone())).await?;
        let spec = TopicSpec::new(&args.topic, args.partitions);
        admin.create_topic(&spec).await?;
        admin.close().await
    })?;
    drop(runtime);

    let values: Vec<Vec<u8>> = args
        .events
        .generate(args.events.distinct_events)
        .iter()
        .map(|event| tributary_registry::confluent_frame(1, event))
        .collect();
    let deliveries = Arc::new(Deliveries::default());
    let producer: BaseProducer<Counting> = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", args.linger_ms.to_string())
        .create_with_context(Counting(deliveries.clone()))
        .context("create producer")?;

    // Warm up: connect, fetch metadata and the producer id before the clock starts.
    send(&producer, &args.topic, &values[0])?;
    wait_for_deliveries(&producer, Duration::from_secs(30))?;
    let warm = deliveries.ok.load(Ordering::Relaxed);

    let broker_cpu = |pid: Option<u32>| pid.map_or(Ok(0.0), procstat::tree_cpu_seconds);
    let cpu_before = procstat::own_cpu_seconds()?;
    let broker_before = broker_cpu(args.broker_pid)?;
    let started = Instant::now();
    let stop = started + Duration::from_secs_f64(args.duration);
    let mut sent = 0u64;
    'sending: loop {
        for value in &values {
            send(&producer, &args.topic, value)?;
            sent += 1;
            if sent.is_multiple_of(256) {
                producer.poll(Duration::ZERO);
                if Instant::now() >= stop {
                    break 'sending;
                }
            }
        }
    }
    wait_for_deliveries(&producer, Duration::from_secs(60))?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = procstat::own_cpu_seconds()? - cpu_before;
    let broker = broker_cpu(args.broker_pid)? - broker_before;

    let delivered = deliveries.ok.load(Ordering::Relaxed) - warm;
    let failed = deliveries.failed.load(Ordering::Relaxed);
    if failed > 0 || delivered != sent {
        bail!("{sent} sent, {delivered} delivered, {failed} failed");
    }
    let report = json!({
        "bench": "gateway",
        "system": "floor",
        "mode": "producer-loop",
        "event_bytes": args.events.event_bytes,
        "record_bytes": values[0].len(),
        "linger_ms": args.linger_ms,
        "partitions": args.partitions,
        "seconds": (elapsed * 1000.0).round() / 1000.0,
        "events_accepted": delivered,
        "events_per_second": (delivered as f64 / elapsed).round(),
        "cpu_seconds": (cpu * 1000.0).round() / 1000.0,
        "cores": (cpu / elapsed * 1000.0).round() / 1000.0,
        "events_per_cpu_second": if cpu > 0.0 { (delivered as f64 / cpu).round() } else { 0.0 },
        "peak_rss_mib": (procstat::tree_peak_rss_bytes(std::process::id())? as f64 / 1_048_576.0 * 10.0).round() / 10.0,
        "broker_cpu_seconds": (broker * 1000.0).round() / 1000.0,
        "broker_cores": (broker / elapsed * 1000.0).round() / 1000.0,
    });
    println!("{report}");
    Ok(())
}

/// Enqueues one record, serving delivery reports while librdkafka's queue is full.
fn send(producer: &BaseProducer<Counting>, topic: &str, value: &[u8]) -> anyhow::Result<()> {
    let mut record = BaseRecord::<(), [u8]>::to(topic).payload(value);
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

/// Serves delivery reports until none is outstanding (what `flush` does, without `flush`).
fn wait_for_deliveries(producer: &BaseProducer<Counting>, limit: Duration) -> anyhow::Result<()> {
    let until = Instant::now() + limit;
    while producer.in_flight_count() > 0 {
        if Instant::now() >= until {
            bail!(
                "{} deliveries still outstanding after {limit:?}",
                producer.in_flight_count()
            );
        }
        producer.poll(Duration::from_millis(50));
    }
    Ok(())
}
