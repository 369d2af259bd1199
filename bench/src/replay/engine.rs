//! Tributary's copy: a replay job over the whole source, planned and run by the replay engine
//! into a topic sink, over Tributary's Kafka backend.
//!
//! The engine replays up to four partitions side by side (one lane each, each with its own
//! writer), one batch at a time per lane: read up to 2,000 records (`EventLog::read`), write
//! them and wait until they are durable while reading the next, save the checkpoint. To show
//! where its time goes, the log and the sink handed to it (and the writers the sink hands out)
//! are thin wrappers that time every call: reads, watermarks and other log calls, and sink
//! writes. Calls of different lanes overlap, so their summed seconds can exceed the wall time;
//! `outside_calls_seconds` (wall time minus the summed calls, at least zero) only means the
//! engine's own work when one lane runs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use async_trait::async_trait;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::watch;
use tributary_eventlog::{
    AppendResult, EventLog, GroupConsumer, KafkaLog, LogError, Record, StoredRecord,
    TopicDescription, TopicSpec, Watermarks,
};
use tributary_replay::{
    BoxError, BoxFuture, Control, JobRun, MemoryCheckpoints, Outcome, Progress, ReplayRecord,
    Selection, Sink, SinkReport, TopicSink, plan, run,
};

use super::{Setup, procstat, round3};

/// Calls of one kind: how many, what they moved, how long they took.
struct Calls {
    count: u64,
    records: u64,
    /// Calls that returned fewer records than asked for.
    short: u64,
    total: Duration,
    micros: Histogram<u64>,
}

impl Calls {
    fn new() -> Calls {
        Calls {
            count: 0,
            records: 0,
            short: 0,
            total: Duration::ZERO,
            micros: Histogram::new(3).expect("3 significant figures is valid"),
        }
    }

    fn add(&mut self, took: Duration, records: usize, asked: usize) {
        self.count += 1;
        self.records += records as u64;
        if records < asked {
            self.short += 1;
        }
        self.total += took;
        let _ = self.micros.record((took.as_micros() as u64).max(1));
    }

    fn report(&self) -> Value {
        let ms = |q: f64| round3(self.micros.value_at_quantile(q) as f64 / 1000.0);
        json!({
            "calls": self.count,
            "records": self.records,
            "records_per_call": if self.count > 0 { round3(self.records as f64 / self.count as f64) } else { 0.0 },
            "short_calls": self.short,
            "seconds": round3(self.total.as_secs_f64()),
            "ms_mean": if self.count > 0 { round3(self.total.as_secs_f64() * 1000.0 / self.count as f64) } else { 0.0 },
            "ms_p50": ms(0.5),
            "ms_p99": ms(0.99),
            "ms_max": round3(self.micros.max() as f64 / 1000.0),
        })
    }
}

/// Every call the engine made in one phase.
struct Phase {
    reads: Calls,
    writes: Calls,
    watermarks: Calls,
    other: Calls,
}

impl Phase {
    fn new() -> Phase {
        Phase {
            reads: Calls::new(),
            writes: Calls::new(),
            watermarks: Calls::new(),
            other: Calls::new(),
        }
    }

    fn report(&self, wall: Duration) -> Value {
        let inside =
            self.reads.total + self.writes.total + self.watermarks.total + self.other.total;
        json!({
            "seconds": round3(wall.as_secs_f64()),
            "log_reads": self.reads.report(),
            "sink_writes": self.writes.report(),
            "log_watermarks": self.watermarks.report(),
            "log_other": self.other.report(),
            "outside_calls_seconds": round3(wall.saturating_sub(inside).as_secs_f64()),
        })
    }
}

/// The timings shared by the timed log and the timed sink.
struct Timings(Mutex<Phase>);

impl std::fmt::Debug for Timings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timings").finish_non_exhaustive()
    }
}

impl Timings {
    fn record(
        &self,
        pick: fn(&mut Phase) -> &mut Calls,
        took: Duration,
        records: usize,
        asked: usize,
    ) {
        let mut phase = self.0.lock().unwrap_or_else(|p| p.into_inner());
        pick(&mut phase).add(took, records, asked);
    }

    /// The phase so far; starts a new one.
    fn take(&self) -> Phase {
        let mut phase = self.0.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *phase, Phase::new())
    }
}

/// An event log that times the calls it passes on.
#[derive(Debug)]
struct TimedLog {
    inner: Arc<dyn EventLog>,
    timings: Arc<Timings>,
}

impl TimedLog {
    async fn other<T>(&self, call: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let result = call.await;
        self.timings
            .record(|p| &mut p.other, started.elapsed(), 0, 0);
        result
    }
}

#[async_trait]
impl EventLog for TimedLog {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn create_topic(&self, spec: &TopicSpec) -> Result<(), LogError> {
        self.other(self.inner.create_topic(spec)).await
    }

    async fn delete_topic(&self, topic: &str) -> Result<(), LogError> {
        self.other(self.inner.delete_topic(topic)).await
    }

    async fn list_topics(&self) -> Result<Vec<TopicDescription>, LogError> {
        self.other(self.inner.list_topics()).await
    }

    async fn describe_topic(&self, topic: &str) -> Result<TopicDescription, LogError> {
        self.other(self.inner.describe_topic(topic)).await
    }

    async fn append(
        &self,
        topic: &str,
        records: Vec<Record>,
    ) -> Result<Vec<AppendResult>, LogError> {
        // Timed as sink writes, which wrap these.
        self.inner.append(topic, records).await
    }

    async fn read(
        &self,
        topic: &str,
        partition: u32,
        offset: i64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>, LogError> {
        let started = Instant::now();
        let result = self.inner.read(topic, partition, offset, max_records).await;
        let records = result.as_ref().map_or(0, Vec::len);
        self.timings
            .record(|p| &mut p.reads, started.elapsed(), records, max_records);
        result
    }

    async fn offset_for_time(
        &self,
        topic: &str,
        partition: u32,
        timestamp_ms: i64,
    ) -> Result<i64, LogError> {
        self.other(self.inner.offset_for_time(topic, partition, timestamp_ms))
            .await
    }

    async fn watermarks(&self, topic: &str, partition: u32) -> Result<Watermarks, LogError> {
        let started = Instant::now();
        let result = self.inner.watermarks(topic, partition).await;
        self.timings
            .record(|p| &mut p.watermarks, started.elapsed(), 0, 0);
        result
    }

    async fn subscribe(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<Box<dyn GroupConsumer>, LogError> {
        self.inner.subscribe(group, topics).await
    }

    async fn committed_offsets(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<Vec<(u32, Option<i64>)>, LogError> {
        self.inner.committed_offsets(group, topic).await
    }

    async fn check_health(&self) -> Result<(), LogError> {
        self.inner.check_health().await
    }

    async fn close(&self) -> Result<(), LogError> {
        self.inner.close().await
    }
}

/// A topic sink that times its writes (each one returns when the batch is durable), and so do
/// the writers it hands out for partitions replayed side by side.
struct TimedSink {
    inner: Box<dyn Sink>,
    timings: Arc<Timings>,
}

impl TimedSink {
    async fn write_timed(&mut self, batch: Vec<ReplayRecord>) -> Result<u64, BoxError> {
        let records = batch.len();
        let started = Instant::now();
        let result = self.inner.write(batch).await;
        self.timings
            .record(|p| &mut p.writes, started.elapsed(), records, records);
        result
    }
}

impl Sink for TimedSink {
    fn write<'a>(&'a mut self, batch: Vec<ReplayRecord>) -> BoxFuture<'a, Result<u64, BoxError>> {
        Box::pin(self.write_timed(batch))
    }

    fn finish(self: Box<Self>) -> BoxFuture<'static, Result<SinkReport, BoxError>> {
        self.inner.finish()
    }

    fn concurrent_writer(&self) -> Option<Box<dyn Sink>> {
        let inner = self.inner.concurrent_writer()?;
        Some(Box::new(TimedSink {
            inner,
            timings: Arc::clone(&self.timings),
        }))
    }
}

/// Why and where a job stopped.
fn stopped(why: &str, progress: &Progress, started: Instant) -> String {
    format!(
        "the replay job stopped after {:.1} s with {} of {} offsets done ({} events emitted): {why}",
        started.elapsed().as_secs_f64(),
        progress.offsets_done,
        progress.offsets_total,
        progress.totals.emitted,
    )
}

/// Replays the whole source into `target` (which exists); the run's JSON fields.
pub(super) async fn copy(
    setup: &Setup,
    target: &str,
    job_id: &str,
    properties: &BTreeMap<String, String>,
) -> anyhow::Result<Value> {
    let kafka: Arc<dyn EventLog> =
        Arc::new(KafkaLog::connect(setup.kafka_options(properties)).await?);
    let timings = Arc::new(Timings(Mutex::new(Phase::new())));
    let log: Arc<dyn EventLog> = Arc::new(TimedLog {
        inner: kafka.clone(),
        timings: timings.clone(),
    });
    let sources = vec![setup.source.clone()];
    let sink = TopicSink::open(log.clone(), target, &sources).await?;
    let mut sink = TimedSink {
        inner: Box::new(sink),
        timings: timings.clone(),
    };
    let job = JobRun::new(
        job_id,
        Selection {
            topics: sources,
            // The source's whole time range, `[first, last]`.
            from_ms: setup.filled.first_ms,
            to_ms: setup.filled.last_ms + 1,
            keys: Vec::new(),
            producers: Vec::new(),
            schema_versions: Vec::new(),
            predicate: None,
            dead_letter_reasons: Vec::new(),
            dead_letter_types: Vec::new(),
        },
    );
    let checkpoints = MemoryCheckpoints::new();
    let (progress, watching) = watch::channel(Progress::default());
    let _ = timings.take();

    let cpu_before = procstat::own_cpu_seconds()?;
    let broker_before = setup.broker_cpu()?;
    let started = Instant::now();
    let planned = plan(log.as_ref(), &job.selection).await?;
    let plan_wall = started.elapsed();
    let plan_phase = timings.take();
    let ran = tokio::time::timeout(
        setup.timeout,
        run(
            log.clone(),
            &job,
            &planned,
            &mut sink,
            &checkpoints,
            Control::new(),
            progress,
        ),
    )
    .await;
    let outcome = match ran {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(err)) => bail!("{}", stopped(&err.to_string(), &watching.borrow(), started)),
        Err(_) => bail!("{}", stopped("timed out", &watching.borrow(), started)),
    };
    Box::new(sink)
        .finish()
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let wall = started.elapsed();
    let run_wall = wall - plan_wall;
    let run_phase = timings.take();
    let cpu = procstat::own_cpu_seconds()? - cpu_before;
    let broker = setup.broker_cpu()? - broker_before;
    kafka.close().await?;

    let Outcome::Completed(totals) = outcome else {
        bail!("the replay job ended with {outcome:?}");
    };
    let seconds = wall.as_secs_f64();
    Ok(json!({
        "linger_ms": setup.linger.as_millis() as u64,
        "kafka_properties": properties,
        "seconds": round3(seconds),
        "events_copied": totals.emitted,
        "events_filtered": totals.filtered,
        "events_unreadable": totals.unreadable,
        "events_per_second": (totals.emitted as f64 / seconds).round(),
        "planned_offsets": planned.offsets(),
        "plan_warnings": planned.warnings,
        "plan": plan_phase.report(plan_wall),
        "run": run_phase.report(run_wall),
        "run_events_per_second": (totals.emitted as f64 / run_wall.as_secs_f64()).round(),
        "bench_cpu_seconds": round3(cpu),
        "broker_cpu_seconds": round3(broker),
        "bench_cores": round3(cpu / seconds),
        "broker_cores": round3(broker / seconds),
    }))
}
