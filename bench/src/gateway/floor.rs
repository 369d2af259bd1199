//! `floor`: the bare rdkafka producer loop the gateway is measured against.
//!
//! One application thread sends the benchmark's pre-serialized events (Confluent-framed, as
//! the gateway writes them) through a `BaseProducer` — idempotent, `acks=all`, `linger.ms=5`
//! (at full speed batches fill long before 1 or 5 ms pass: 1.18M and 1.19M events per
//! CPU-second on a fresh broker on 2026-11-27) — as fast as librdkafka's queue takes them, for
//! `--duration` seconds, then waits for every delivery report. The figure is delivered events
//! per CPU-second of this whole process (its thread and librdkafka's).
//!
//! With `--rate`, the loop instead sends that many records per second, evenly paced in 1 ms
//! ticks, and reports the distribution of each record's enqueue→delivery-report time: what the
//! broker and librdkafka alone take to make one record durable at the rate the gateway's
//! single-event run is held to. The gateway's own latency cannot be lower than that.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
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
    /// Producer `linger.ms` (Tributary's Kafka backend uses 1; the paced run should too).
    #[arg(long, default_value_t = 5)]
    linger_ms: u64,
    #[command(flatten)]
    events: events::EventArgs,
    /// The broker's process id: its CPU time is reported.
    #[arg(long)]
    broker_pid: Option<u32>,
    /// Records per second, paced; reports delivery latency instead of the maximum rate.
    #[arg(long)]
    rate: Option<u64>,
    /// Partition the records round-robin one by one, instead of librdkafka's sticky
    /// partitioner (which sticks for twice `linger.ms`, as the gateway's Kafka log does for
    /// keyless records of overlapping requests).
    #[arg(long)]
    round_robin: bool,
}

/// Counts delivery reports; the only work the floor does per event besides the enqueue. In the
/// paced mode each record's opaque is its send time (µs since `origin`, plus one), and the
/// report records how long the delivery took.
#[derive(Debug)]
struct Deliveries {
    ok: AtomicU64,
    failed: AtomicU64,
    origin: Instant,
    latency_us: Mutex<Histogram<u64>>,
}

impl Deliveries {
    fn new() -> Deliveries {
        Deliveries {
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            origin: Instant::now(),
            latency_us: Mutex::new(
                Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds"),
            ),
        }
    }

    /// The opaque that stamps a record with the time it is sent.
    fn stamp(&self) -> usize {
        self.origin.elapsed().as_micros() as usize + 1
    }
}

#[derive(Debug, Clone)]
struct Counting(Arc<Deliveries>);

impl rdkafka::ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_at: usize) {
        match result {
            Ok(_) => self.0.ok.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.0.failed.fetch_add(1, Ordering::Relaxed),
        };
        if sent_at > 0 {
            let took = (self.0.stamp() - sent_at) as u64;
            let mut latency = self.0.latency_us.lock().unwrap_or_else(|p| p.into_inner());
            latency.saturating_record(took.max(1));
        }
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
    let deliveries = Arc::new(Deliveries::new());
    let producer: BaseProducer<Counting> = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", args.linger_ms.to_string())
        // librdkafka's own default relation, and the window of Tributary's Kafka log.
        .set(
            "sticky.partitioning.linger.ms",
            (2 * args.linger_ms).to_string(),
        )
        .create_with_context(Counting(deliveries.clone()))
        .context("create producer")?;

    // Warm up: connect, fetch metadata and the producer id before the clock starts.
    send(&producer, &args.topic, &values[0], None, 0)?;
    wait_for_deliveries(&producer, Duration::from_secs(30))?;
    let warm = deliveries.ok.load(Ordering::Relaxed);

    let broker_cpu = |pid: Option<u32>| pid.map_or(Ok(0.0), procstat::tree_cpu_seconds);
    let cpu_before = procstat::own_cpu_seconds()?;
    let broker_before = broker_cpu(args.broker_pid)?;
    let started = Instant::now();
    let stop = started + Duration::from_secs_f64(args.duration);
    let sent = match args.rate {
        None => flat_out(&producer, &args.topic, &values, stop)?,
        Some(rate) => paced(&producer, args, &values, &deliveries, (started, stop), rate)?,
    };
    wait_for_deliveries(&producer, Duration::from_secs(60))?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = procstat::own_cpu_seconds()? - cpu_before;
    let broker = broker_cpu(args.broker_pid)? - broker_before;

    let delivered = deliveries.ok.load(Ordering::Relaxed) - warm;
    let failed = deliveries.failed.load(Ordering::Relaxed);
    if failed > 0 || delivered != sent {
        bail!("{sent} sent, {delivered} delivered, {failed} failed");
    }
    let latency = deliveries
        .latency_us
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let ms = |q: f64| (latency.value_at_quantile(q) as f64 / 10.0).round() / 100.0;
    let report = json!({
        "bench": "gateway",
        "system": "floor",
        "mode": if args.rate.is_some() { "paced" } else { "producer-loop" },
        "rate": args.rate,
        "round_robin": args.round_robin,
        "delivery_ms": args.rate.map(|_| json!({
            "p50": ms(0.5), "p90": ms(0.9), "p99": ms(0.99), "p999": ms(0.999),
            "max": (latency.max() as f64 / 10.0).round() / 100.0,
        })),
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

/// Sends as fast as librdkafka's queue takes records until `stop`; the number sent.
fn flat_out(
    producer: &BaseProducer<Counting>,
    topic: &str,
    values: &[Vec<u8>],
    stop: Instant,
) -> anyhow::Result<u64> {
    let mut sent = 0u64;
    loop {
        for value in values {
            send(producer, topic, value, None, 0)?;
            sent += 1;
            if sent.is_multiple_of(256) {
                producer.poll(Duration::ZERO);
                if Instant::now() >= stop {
                    return Ok(sent);
                }
            }
        }
    }
}

/// Sends `rate` records per second in 1 ms ticks until `stop`, each stamped with its send time
/// (the loop keeps up easily at the rates it is used for); the number sent. Delivery reports
/// are served by a second thread blocking in `poll`, as `ThreadedProducer` (and so the
/// gateway) does, so a report is timed when it arrives, not at the sender's next tick.
fn paced(
    producer: &BaseProducer<Counting>,
    args: &FloorArgs,
    values: &[Vec<u8>],
    deliveries: &Deliveries,
    (started, stop): (Instant, Instant),
    rate: u64,
) -> anyhow::Result<u64> {
    let sending = AtomicBool::new(true);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while sending.load(Ordering::Acquire) {
                producer.poll(Duration::from_millis(100));
            }
        });
        let mut sent = 0u64;
        let mut next = values.iter().cycle();
        let mut tick = started;
        let outcome = loop {
            if tick >= stop {
                break Ok(sent);
            }
            let due = (tick.duration_since(started).as_secs_f64() * rate as f64) as u64;
            let mut failed = None;
            while sent < due && failed.is_none() {
                let value = next.next().expect("values is not empty");
                let partition = args
                    .round_robin
                    .then(|| (sent % u64::from(args.partitions)) as i32);
                match send(producer, &args.topic, value, partition, deliveries.stamp()) {
                    Ok(()) => sent += 1,
                    Err(err) => failed = Some(err),
                }
            }
            if let Some(err) = failed {
                break Err(err);
            }
            tick += Duration::from_millis(1);
            // A plain thread of its own, not an async worker: sleeping is what it is for.
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(tick.saturating_duration_since(Instant::now()));
        };
        sending.store(false, Ordering::Release);
        outcome
    })
}

/// Enqueues one record, serving delivery reports while librdkafka's queue is full.
fn send(
    producer: &BaseProducer<Counting>,
    topic: &str,
    value: &[u8],
    partition: Option<i32>,
    sent_at: usize,
) -> anyhow::Result<()> {
    let mut record = BaseRecord::<(), [u8], usize>::with_opaque_to(topic, sent_at).payload(value);
    if let Some(partition) = partition {
        record = record.partition(partition);
    }
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
