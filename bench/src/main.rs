//! Tributary's load harness. Each subcommand runs one workload and prints JSON lines.
//!
//! `eventlog-append` measures durable append throughput of the event log: N records of a
//! fixed size, appended in batches by C concurrent writers, each batch waited on until every
//! record in it is durable. `--backend rdkafka` runs the same workload through a bare rdkafka
//! producer with the same durability settings, as the floor to compare the Kafka backend with.
//!
//! `http-load`, `floor` and `gateway-summary` make up the gateway benchmark (`bench/gateway.sh`):
//! an HTTP load generator (closed loop, and open loop at a constant rate), a bare rdkafka producer
//! loop measured per CPU-second, and the table of one run.
//!
//! `catalog-search` (`bench/catalog-search.sh`) times the catalog search index: queries over
//! 10,000 generated event types with 200,000 fields, and upsert to searchable.
//!
//! `replay` (`bench/replay.sh`) copies a filled topic to a fresh topic of the same broker twice:
//! with Tributary's replay engine, and with a bare rdkafka consume→produce loop (the floor).

mod catalog_search;
mod gateway;
mod registry;
mod replay;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Parser, Subcommand, ValueEnum};
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tributary_eventlog::{
    EmbeddedLog, EmbeddedOptions, EventLog, KafkaLog, KafkaOptions, Record, TopicSpec,
};

#[derive(Debug, Parser)]
#[command(name = "tributary-bench", about = "Tributary load harness")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Durable append throughput of an event-log backend.
    EventlogAppend(AppendArgs),
    /// Registry hot-path costs (cached lookup, validation, Avro decode) and registration latency.
    Registry(registry::RegistryArgs),
    /// HTTP load on a publishing endpoint: closed loop, or open loop at `--rate`.
    HttpLoad(gateway::http_load::HttpLoadArgs),
    /// The floor: a bare one-thread rdkafka producer loop, events per CPU-second.
    Floor(gateway::floor::FloorArgs),
    /// The result table of one `bench/gateway.sh` run, from its JSON lines.
    GatewaySummary(gateway::summary::SummaryArgs),
    /// Catalog search: query latency over a generated catalog and upsert-to-searchable time.
    CatalogSearch(catalog_search::CatalogSearchArgs),
    /// Replay: a whole topic copied by the replay engine, next to a bare rdkafka copy loop.
    Replay(replay::ReplayArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    /// The embedded log in a temporary directory (fsync before acknowledging).
    Embedded,
    /// Tributary's Kafka backend.
    Kafka,
    /// A bare rdkafka FutureProducer, idempotent with acks=all: the floor.
    Rdkafka,
}

#[derive(Debug, clap::Args)]
struct AppendArgs {
    #[arg(long, value_enum)]
    backend: Backend,
    /// Kafka bootstrap servers (kafka and rdkafka backends).
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    /// Records to append in the measured run.
    #[arg(long, default_value_t = 200_000)]
    records: usize,
    /// Records per append call.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Bytes per record value.
    #[arg(long, default_value_t = 512)]
    size: usize,
    /// Concurrent writers.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Partitions of the benchmark topic.
    #[arg(long, default_value_t = 3)]
    partitions: u32,
    /// Directory for the embedded log [default: a temporary directory].
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // These build their own runtime (or none): the load generator's size is part of the setup.
    match cli.command {
        Command::HttpLoad(args) => return gateway::http_load::run(&args),
        Command::Floor(args) => return gateway::floor::run(&args),
        Command::GatewaySummary(args) => return gateway::summary::run(&args),
        Command::CatalogSearch(args) => return catalog_search::run(&args),
        Command::Replay(args) => return replay::run(&args),
        Command::EventlogAppend(_) | Command::Registry(_) => {}
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::EventlogAppend(args) => runtime.block_on(eventlog_append(args)),
        Command::Registry(args) => runtime.block_on(registry::run(args)),
        Command::HttpLoad(_)
        | Command::Floor(_)
        | Command::GatewaySummary(_)
        | Command::CatalogSearch(_)
        | Command::Replay(_) => {
            unreachable!("handled above")
        }
    }
}

async fn eventlog_append(args: AppendArgs) -> anyhow::Result<()> {
    if args.batch == 0 || args.records < args.batch || args.concurrency == 0 {
        bail!("need --batch >= 1, --records >= --batch and --concurrency >= 1");
    }
    let topic = format!("bench.append.{}", std::process::id());
    let payload = Bytes::from(vec![b'x'; args.size]);
    let batches = args.records / args.batch;

    let _dir_guard;
    let elapsed = match args.backend {
        Backend::Embedded | Backend::Kafka => {
            let log: Arc<dyn EventLog> = if args.backend == Backend::Embedded {
                let dir = match &args.dir {
                    Some(dir) => dir.clone(),
                    None => {
                        let tmp = tempfile::tempdir()?;
                        let path = tmp.path().to_owned();
                        _dir_guard = tmp;
                        path
                    }
                };
                Arc::new(EmbeddedLog::open(EmbeddedOptions::new(dir)).await?)
            } else {
                Arc::new(KafkaLog::connect(KafkaOptions::new(args.bootstrap.clone())).await?)
            };
            log.create_topic(&TopicSpec::new(&topic, args.partitions))
                .await?;
            let elapsed = run_writers(args.concurrency, batches, {
                let log = log.clone();
                let topic = topic.clone();
                let payload = payload.clone();
                let batch = args.batch;
                move || {
                    let log = log.clone();
                    let topic = topic.clone();
                    let payload = payload.clone();
                    async move {
                        let records = (0..batch)
                            .map(|_| Record::new(payload.clone(), now_ms()))
                            .collect();
                        let results = log.append(&topic, records).await?;
                        if let Some(err) = results.into_iter().find_map(Result::err) {
                            bail!("append failed: {err}");
                        }
                        Ok(())
                    }
                }
            })
            .await?;
            log.close().await?;
            elapsed
        }
        Backend::Rdkafka => {
            let producer: FutureProducer = ClientConfig::new()
                .set("bootstrap.servers", &args.bootstrap)
                .set("enable.idempotence", "true")
                .set("acks", "all")
                .set("linger.ms", "5")
                .create()
                .context("create producer")?;
            let admin = KafkaLog::connect(KafkaOptions::new(args.bootstrap.clone())).await?;
            admin
                .create_topic(&TopicSpec::new(&topic, args.partitions))
                .await?;
            let producer = Arc::new(producer);
            run_writers(args.concurrency, batches, {
                let topic = topic.clone();
                let payload = payload.clone();
                let batch = args.batch;
                move || {
                    let producer = producer.clone();
                    let topic = topic.clone();
                    let payload = payload.clone();
                    async move {
                        let mut deliveries = Vec::with_capacity(batch);
                        for _ in 0..batch {
                            let record = FutureRecord::<(), [u8]>::to(&topic)
                                .payload(&payload[..])
                                .timestamp(now_ms());
                            match producer.send_result(record) {
                                Ok(delivery) => deliveries.push(delivery),
                                Err((err, _)) => bail!("enqueue failed: {err}"),
                            }
                        }
                        for delivery in deliveries {
                            if let Err((err, _)) = delivery.await? {
                                bail!("delivery failed: {err}");
                            }
                        }
                        Ok(())
                    }
                }
            })
            .await?
        }
    };

    let appended = batches * args.batch;
    let per_second = appended as f64 / elapsed.as_secs_f64();
    let report = serde_json::json!({
        "bench": "eventlog-append",
        "backend": format!("{:?}", args.backend).to_lowercase(),
        "records": appended,
        "batch": args.batch,
        "record_bytes": args.size,
        "concurrency": args.concurrency,
        "partitions": args.partitions,
        "seconds": (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        "records_per_second": per_second.round(),
        "mib_per_second": ((per_second * args.size as f64 / 1_048_576.0) * 10.0).round() / 10.0,
    });
    println!("{report}");
    Ok(())
}

/// Runs `batches` calls of `one_batch`, `concurrency` at a time; returns the wall time.
async fn run_writers<F, Fut>(
    concurrency: usize,
    batches: usize,
    one_batch: F,
) -> anyhow::Result<Duration>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let one_batch = Arc::new(one_batch);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut writers = Vec::new();
    for _ in 0..concurrency {
        let one_batch = one_batch.clone();
        let next = next.clone();
        writers.push(tokio::spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < batches {
                one_batch().await?;
            }
            anyhow::Ok(())
        }));
    }
    for writer in writers {
        writer.await??;
    }
    Ok(started.elapsed())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
