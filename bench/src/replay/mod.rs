//! `replay` (driven by `bench/replay.sh`): Tributary's replay engine copying a whole topic into
//! a fresh topic of the same broker, next to a bare rdkafka consume→produce loop (the floor).
//!
//! 1. **Fill** (not timed): `--events` gateway-like records go into a source topic through a
//!    bare idempotent rdkafka producer — Confluent-framed 512-byte JSON orders, keyed by
//!    customer and placed by Tributary's partitioner, stamped with an hour of event times, and
//!    carrying the headers the gateway writes (`tributary.event_id`, `producer`,
//!    `producer_authenticated`, `received_at`, `schema_version`, `quality`). The source is then
//!    scanned to prove it holds exactly those records.
//! 2. **tributary**: a job selecting the source's whole time range, planned with
//!    [`tributary_replay::plan`] and run with [`tributary_replay::run`] into a [`TopicSink`] with
//!    [`MemoryCheckpoints`], over Tributary's Kafka backend. The clock covers plan and run.
//!    The log and the sink are wrapped to time every read and write the engine makes.
//!    `--kafka-property` adds librdkafka properties to Tributary's Kafka client (what an
//!    operator can set in `[kafka_client.properties]`), for experiments.
//! 3. **floor**: one thread, one `BaseConsumer` assigned to every source partition from the
//!    beginning to end-of-partition, producing each record (key, value, timestamp, headers plus
//!    `tributary.replay_job`) to the same partition of a fresh topic through a `BaseProducer`
//!    with Tributary's durability settings (idempotent, `acks=all`, same `linger.ms`), then
//!    waiting for every delivery report.
//!
//! Every copy is checked before its figure counts: the target's high watermarks (Tributary's
//! verified ones; the broker's raw ListOffsets answer is only recorded) must equal the
//! source's record count per partition, and a full scan must find every event id exactly once,
//! the replay header on every record, and each partition in source order. A copy that fails
//! or copies wrong is reported as such, and the command exits with an error at the end.
//!
//! [`TopicSink`]: tributary_replay::TopicSink
//! [`MemoryCheckpoints`]: tributary_replay::MemoryCheckpoints

mod check;
mod engine;
mod fill;
mod floor;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::ValueEnum;
use serde_json::{Value, json};
use tributary_eventlog::{EventLog, KafkaLog, KafkaOptions, TopicSpec};

use crate::gateway::events::EventArgs;
use crate::gateway::procstat;

#[derive(Debug, clap::Args)]
pub(crate) struct ReplayArgs {
    /// Kafka bootstrap servers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    /// Records in the source topic (each copy replays all of them).
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Partitions of the source topic and of every target topic.
    #[arg(long, default_value_t = 3)]
    partitions: u32,
    /// Producer `linger.ms` of both copies (Tributary's Kafka backend defaults to 1).
    #[arg(long, default_value_t = 1)]
    linger_ms: u64,
    /// Rounds; each runs every system once, into fresh topics (the order alternates).
    #[arg(long, default_value_t = 1)]
    rounds: u32,
    /// The systems to run, in this order in the first round.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [System::Tributary, System::Floor])]
    systems: Vec<System>,
    /// librdkafka properties (`KEY=VALUE`) added to Tributary's Kafka client.
    #[arg(long)]
    kafka_property: Vec<String>,
    /// librdkafka properties (`KEY=VALUE`) of the floor's consumer. Tansu holds every Fetch
    /// for the full `fetch.wait.max.ms` (librdkafka's default: 500), so the floor waits 10.
    #[arg(long, default_values_t = ["fetch.wait.max.ms=10".to_owned()])]
    floor_property: Vec<String>,
    /// `linger.ms` of the producer that fills the source: with the record rate, it decides
    /// how many records each batch of the source holds.
    #[arg(long, default_value_t = 5)]
    fill_linger_ms: u64,
    /// Records per batch of the fill producer (`batch.num.messages`; librdkafka's default
    /// 10000, capped by `batch.size`, 1 MB). 500 with a long `--fill-linger-ms` lines the
    /// source's batches up with the replay engine's 500-record reads: a diagnostic.
    #[arg(long)]
    fill_batch_records: Option<u32>,
    #[command(flatten)]
    events_args: EventArgs,
    /// The broker's process id: its CPU time is reported.
    #[arg(long)]
    broker_pid: Option<u32>,
    /// How long one copy, fill or scan may take before the run fails.
    #[arg(long, default_value_t = 1800)]
    timeout_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum System {
    /// Tributary's replay engine into a topic sink, Kafka client as shipped.
    Tributary,
    /// A bare rdkafka consume→produce loop.
    Floor,
}

impl System {
    fn name(self) -> &'static str {
        match self {
            System::Tributary => "tributary",
            System::Floor => "floor",
        }
    }
}

/// What every copy shares: the broker, the source and what it holds.
#[derive(Debug)]
struct Setup {
    bootstrap: String,
    partitions: u32,
    linger: Duration,
    timeout: Duration,
    broker_pid: Option<u32>,
    source: String,
    filled: fill::Filled,
}

impl Setup {
    fn kafka_options(&self, properties: &BTreeMap<String, String>) -> KafkaOptions {
        let mut options = KafkaOptions::new(self.bootstrap.clone());
        options.linger = self.linger;
        options.extra = properties.clone();
        options
    }

    /// CPU seconds of the broker (0 when its pid is unknown).
    fn broker_cpu(&self) -> anyhow::Result<f64> {
        self.broker_pid.map_or(Ok(0.0), procstat::tree_cpu_seconds)
    }
}

pub(crate) fn run(args: &ReplayArgs) -> anyhow::Result<()> {
    if args.events == 0 || args.partitions == 0 || args.rounds == 0 {
        bail!("need --events, --partitions and --rounds of at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let run_id = format!("{}-{}", std::process::id(), crate::now_ms());
    let source = format!("bench.replay.source.{run_id}");
    let admin: KafkaLog = runtime.block_on(async {
        let admin = KafkaLog::connect(KafkaOptions::new(args.bootstrap.clone())).await?;
        admin
            .create_topic(&TopicSpec::new(&source, args.partitions))
            .await?;
        anyhow::Ok(admin)
    })?;

    let kafka_properties = properties(&args.kafka_property)?;
    let floor_properties = properties(&args.floor_property)?;
    let timeout = Duration::from_secs(args.timeout_secs);
    let values = args.events_args.generate(args.events_args.distinct_events);
    let filled = fill::fill(
        &args.bootstrap,
        &source,
        args.partitions,
        args.events,
        &values,
        args.fill_linger_ms,
        args.fill_batch_records,
        timeout,
    )
    .context("fill the source topic")?;
    let setup = Setup {
        bootstrap: args.bootstrap.clone(),
        partitions: args.partitions,
        linger: Duration::from_millis(args.linger_ms),
        timeout,
        broker_pid: args.broker_pid,
        source,
        filled,
    };
    let source_check = check::topic(&runtime, &admin, &setup, &setup.source, None)?;
    let mut line = json!({
        "bench": "replay",
        "system": "fill",
        "topic": setup.source,
        "events": args.events,
        "partitions": args.partitions,
        "event_bytes": args.events_args.event_bytes,
        "record_bytes": setup.filled.record_bytes,
        "fill_linger_ms": args.fill_linger_ms,
        "fill_batch_records": args.fill_batch_records,
        "seconds": round3(setup.filled.seconds),
        "events_per_second": (args.events as f64 / setup.filled.seconds).round(),
        "per_partition": setup.filled.per_partition,
    });
    merge(&mut line, source_check.report());
    println!("{line}");
    if !source_check.holds_exactly(&setup.filled.per_partition) {
        bail!("the source topic does not hold exactly the records produced: {line}");
    }

    let mut rates: Vec<(System, u32, f64)> = Vec::new();
    let mut failures = Vec::new();
    for round in 0..args.rounds {
        let mut order: Vec<System> = Vec::new();
        for system in &args.systems {
            if !order.contains(system) {
                order.push(*system);
            }
        }
        if round % 2 == 1 {
            order.reverse();
        }
        for system in order {
            let target = format!("bench.replay.{}.{run_id}.{round}", system.name());
            let job_id = format!("bench-{}-{run_id}-{round}", system.name());
            runtime.block_on(admin.create_topic(&TopicSpec::new(&target, setup.partitions)))?;
            let started = Instant::now();
            let copied = match system {
                System::Tributary => {
                    runtime.block_on(engine::copy(&setup, &target, &job_id, &kafka_properties))
                }
                System::Floor => floor::copy(&setup, &target, &job_id, &floor_properties),
            };
            let mut line = match copied {
                Ok(line) => line,
                Err(err) => {
                    // A copy that fails is a result too: say how and when, and go on.
                    println!(
                        "{}",
                        json!({
                            "bench": "replay",
                            "system": system.name(),
                            "round": round,
                            "target": target,
                            "error": format!("{err:#}"),
                            "seconds_until_error": round3(started.elapsed().as_secs_f64()),
                        })
                    );
                    failures.push(format!("{} round {round} failed", system.name()));
                    continue;
                }
            };
            let seconds = line["seconds"].as_f64().unwrap_or(f64::NAN);
            let checked = check::topic(&runtime, &admin, &setup, &target, Some(&job_id))?;
            let verified = checked.holds_exactly(&setup.filled.per_partition);
            merge(
                &mut line,
                json!({ "bench": "replay", "system": system.name(), "round": round, "target": target }),
            );
            merge(&mut line, checked.report());
            merge(&mut line, json!({ "verified": verified }));
            println!("{line}");
            if verified {
                rates.push((system, round, setup.filled.events as f64 / seconds));
            } else {
                failures.push(format!("{} round {round} copied wrong", system.name()));
            }
        }
    }
    runtime.block_on(admin.close())?;

    let best = |system: System| {
        rates
            .iter()
            .filter(|(s, _, _)| *s == system)
            .map(|(_, _, r)| *r)
            .fold(None, |best: Option<f64>, r| {
                Some(best.map_or(r, |b| b.max(r)))
            })
    };
    let floor = best(System::Floor);
    let ratio = |system: System| best(system).zip(floor).map(|(t, f)| t / f);
    // The floor swings between runs on a shared machine: each round's two copies, run back to
    // back, make a pair; the median of the pairs' ratios is the figure the target is held to.
    let in_round = |system: System, round: u32| {
        rates
            .iter()
            .find(|(s, r, _)| *s == system && *r == round)
            .map(|(_, _, rate)| *rate)
    };
    let mut round_ratios: Vec<f64> = (0..args.rounds)
        .filter_map(|round| {
            in_round(System::Tributary, round)
                .zip(in_round(System::Floor, round))
                .map(|(t, f)| t / f)
        })
        .collect();
    let round_ratios_in_order: Vec<f64> = round_ratios.iter().map(|r| round3(*r)).collect();
    round_ratios.sort_by(f64::total_cmp);
    let median_ratio = match round_ratios.len() {
        0 => None,
        n if n % 2 == 1 => Some(round_ratios[n / 2]),
        n => Some((round_ratios[n / 2 - 1] + round_ratios[n / 2]) / 2.0),
    };
    let broker_peak_rss_mib = match setup.broker_pid {
        Some(pid) => Some(round3(
            procstat::tree_peak_rss_bytes(pid)? as f64 / 1_048_576.0,
        )),
        None => None,
    };
    println!(
        "{}",
        json!({
            "bench": "replay",
            "system": "summary",
            "events": args.events,
            "rounds": args.rounds,
            "kafka_properties": kafka_properties,
            "tributary_events_per_second": best(System::Tributary).map(f64::round),
            "floor_events_per_second": floor.map(f64::round),
            "best_vs_best_ratio": ratio(System::Tributary).map(round3),
            "round_ratios": round_ratios_in_order,
            "median_round_ratio": median_ratio.map(round3),
            "target_ratio": 0.6,
            "met": median_ratio.map(|r| r >= 0.6),
            "broker_peak_rss_mib": broker_peak_rss_mib,
        })
    );
    if !failures.is_empty() {
        bail!(
            "copies that failed or did not produce exactly the source's records: {}",
            failures.join(", ")
        );
    }
    Ok(())
}

/// `KEY=VALUE` arguments as a map.
fn properties(args: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for property in args {
        let Some((key, value)) = property.split_once('=') else {
            bail!("property {property:?} is not KEY=VALUE");
        };
        map.insert(key.to_owned(), value.to_owned());
    }
    Ok(map)
}

/// Adds the fields of `extra` (an object) to `line` (an object).
fn merge(line: &mut Value, extra: Value) {
    if let (Value::Object(line), Value::Object(extra)) = (line, extra) {
        line.extend(extra);
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
