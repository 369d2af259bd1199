//! Running a planned job: read, filter, write to the sink, then checkpoint — in that order.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;
use tributary_core::headers;
use tributary_eventlog::{EventLog, StoredRecord};

use crate::error::ReplayError;
use crate::model::{Checkpoint, CheckpointMap, Checkpoints, ReplayRecord, Selection, Sink};
use crate::plan::{PartitionPlan, Plan};
use crate::scan::{DEFAULT_BATCH, PartitionScan};
use crate::select::{Filter, Verdict};

/// A job as the engine runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRun {
    /// The job's id: the checkpoints' key and the `tributary.replay_job` header's value.
    pub id: String,
    pub selection: Selection,
    /// Emitted records per second at most; `None`: as fast as the sink takes them.
    pub rate_per_sec: Option<u32>,
    /// The job stops once it has emitted this many records (over all its runs).
    pub max_events: Option<u64>,
    /// Records read per batch; each batch's selected records are written, then checkpointed,
    /// as one. [`DEFAULT_BATCH`] unless a test wants small ones.
    pub batch: usize,
}

impl JobRun {
    /// A job without rate or count limits, in batches of [`DEFAULT_BATCH`].
    pub fn new(id: impl Into<String>, selection: Selection) -> JobRun {
        JobRun {
            id: id.into(),
            selection,
            rate_per_sec: None,
            max_events: None,
            batch: DEFAULT_BATCH,
        }
    }
}

/// What a job has been told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Running,
    Paused,
    Cancelled,
}

/// Pauses, resumes and cancels a running job; clones share the state. The engine looks at it
/// between batches.
#[derive(Debug, Clone)]
pub struct Control {
    state: Arc<watch::Sender<RunState>>,
}

impl Default for Control {
    fn default() -> Self {
        Control::new()
    }
}

impl Control {
    pub fn new() -> Self {
        Control {
            state: Arc::new(watch::Sender::new(RunState::Running)),
        }
    }

    /// Pauses a running job; `false` if it was not running.
    pub fn pause(&self) -> bool {
        self.state
            .send_if_modified(|s| switch(s, RunState::Running, RunState::Paused))
    }

    /// Resumes a paused job; `false` if it was not paused.
    pub fn resume(&self) -> bool {
        self.state
            .send_if_modified(|s| switch(s, RunState::Paused, RunState::Running))
    }

    /// Cancels the job for good (a cancelled job cannot be resumed by this handle).
    pub fn cancel(&self) {
        self.state.send_replace(RunState::Cancelled);
    }

    pub fn state(&self) -> RunState {
        *self.state.borrow()
    }

    /// Waits while paused; `Running` or `Cancelled`.
    async fn proceed(&self) -> RunState {
        let mut changes = self.state.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        match changes.wait_for(|s| *s != RunState::Paused).await {
            Ok(state) => *state,
            Err(_) => RunState::Cancelled,
        }
    }
}

fn switch(state: &mut RunState, from: RunState, to: RunState) -> bool {
    if *state != from {
        return false;
    }
    *state = to;
    true
}

/// Counts of a job or of one partition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub emitted: u64,
    /// Read but not selected.
    pub filtered: u64,
    /// Skipped because they could not be read (not JSON when the predicate needs it).
    pub unreadable: u64,
}

/// How far one partition got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionProgress {
    pub topic: String,
    pub partition: u32,
    pub start: i64,
    pub end: i64,
    pub next_offset: i64,
    pub emitted: u64,
    pub filtered: u64,
    pub unreadable: u64,
}

/// A running job's progress, published after every batch.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Progress {
    pub partitions: Vec<PartitionProgress>,
    pub totals: Totals,
    /// Offsets done (emitted, filtered or skipped) and planned, over all partitions.
    pub offsets_done: u64,
    pub offsets_total: u64,
    /// Emitted records per second over the last few seconds.
    pub events_per_sec: f64,
    /// Seconds until every planned offset is done, at the recent pace; `None` until known.
    pub eta_secs: Option<u64>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "totals")]
pub enum Outcome {
    /// Every planned offset is done. The caller finishes the sink.
    Completed(Totals),
    /// Stopped by [`Control::cancel`] between batches.
    Cancelled(Totals),
    /// `max_events` records emitted.
    LimitReached(Totals),
}

impl Outcome {
    pub fn totals(&self) -> Totals {
        match self {
            Outcome::Completed(t) | Outcome::Cancelled(t) | Outcome::LimitReached(t) => *t,
        }
    }
}

/// The sink position a resumed job reopens its sink at: the one after the last confirmed
/// write of any partition.
pub fn resume_position(checkpoints: &CheckpointMap) -> u64 {
    checkpoints
        .values()
        .map(|c| c.sink_position)
        .max()
        .unwrap_or(0)
}

/// Partitions read and written side by side at most, when the sink allows it.
pub const PARALLEL_PARTITIONS: usize = 4;

/// Runs `job` over `plan` into `sink`, resuming from the job's checkpoints.
///
/// Each partition is read in offset order, in batches of at most 500 records; a batch's
/// selected records are written to the sink, and only once the sink has confirmed them is
/// the partition's checkpoint saved. The next batch is read while one is being written. A run
/// stopped at any point (error, kill, cancel) and started again with the same plan emits every
/// selected record past the checkpoints exactly once; only the batches in flight when it
/// stopped may be written twice.
///
/// When the sink has [concurrent writers](Sink::concurrent_writer) (a topic) and the job has
/// no `max_events`, up to [`PARALLEL_PARTITIONS`] partitions are replayed side by side, each
/// through its own writer; otherwise one after another, in plan order. Either way each
/// partition's order is kept, and a rate limit holds for the job as a whole.
///
/// The sink is not finished here: call [`Sink::finish`] after [`Outcome::Completed`].
pub async fn run(
    log: Arc<dyn EventLog>,
    job: &JobRun,
    plan: &Plan,
    sink: &mut dyn Sink,
    checkpoints: &dyn Checkpoints,
    control: Control,
    progress: watch::Sender<Progress>,
) -> Result<Outcome, ReplayError> {
    let filter = Filter::new(&job.selection)?;
    let saved = checkpoints
        .load(&job.id)
        .await
        .map_err(|e| ReplayError::Checkpoint(format!("cannot load job {:?}: {e}", job.id)))?;
    let state = JobState::resume(plan, &saved)?;
    let meter = Meter::new(&state);
    progress.send_replace(state.progress(&meter));
    let partitions = state.partitions.len();
    let shared = Lanes {
        log: log.as_ref(),
        job,
        filter: &filter,
        checkpoints,
        control: &control,
        progress: &progress,
        job_header: Bytes::copy_from_slice(job.id.as_bytes()),
        state: Mutex::new((state, meter)),
        pace: tokio::sync::Mutex::new(Pace::new(job.rate_per_sec, job.batch)),
        next_partition: AtomicUsize::new(0),
        failed: watch::Sender::new(false),
    };
    let lanes = if job.max_events.is_some() {
        1
    } else {
        PARALLEL_PARTITIONS.min(partitions).max(1)
    };
    let mut more: Vec<Box<dyn Sink>> = (1..lanes).map_while(|_| sink.concurrent_writer()).collect();
    let mut writers: Vec<&mut dyn Sink> = vec![sink];
    writers.extend(more.iter_mut().map(|w| w.as_mut() as &mut dyn Sink));
    // Every lane stops at a batch boundary (after checkpointing what it wrote) once any lane
    // failed, so that a failure leaves nothing written but unconfirmed behind it.
    let mut stops = Vec::with_capacity(lanes);
    for stopped in join_all(writers.into_iter().map(|w| shared.lane(w))).await {
        stops.push(stopped?);
    }
    let totals = shared.totals();
    Ok(if stops.contains(&Some(Stop::Cancelled)) {
        Outcome::Cancelled(totals)
    } else if stops.contains(&Some(Stop::LimitReached)) {
        Outcome::LimitReached(totals)
    } else {
        Outcome::Completed(totals)
    })
}

/// Why a lane stopped before its partitions were done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Cancelled,
    LimitReached,
    /// Another lane failed; its error is the run's.
    Failed,
}

/// What the lanes of one run share: the job, its state, and the partitions not started yet.
struct Lanes<'a> {
    log: &'a dyn EventLog,
    job: &'a JobRun,
    filter: &'a Filter,
    checkpoints: &'a dyn Checkpoints,
    control: &'a Control,
    progress: &'a watch::Sender<Progress>,
    job_header: Bytes,
    /// Never held across an await.
    state: Mutex<(JobState, Meter)>,
    pace: tokio::sync::Mutex<Pace>,
    next_partition: AtomicUsize,
    /// Set when a lane failed: the others stop before their next batch, paused or not.
    failed: watch::Sender<bool>,
}

impl Lanes<'_> {
    fn totals(&self) -> Totals {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .totals()
    }

    /// Replays partitions through `sink`, taking the next one not started until none is left.
    async fn lane(&self, sink: &mut dyn Sink) -> Result<Option<Stop>, ReplayError> {
        loop {
            let index = self.next_partition.fetch_add(1, Ordering::Relaxed);
            let Some(start) = self.partition_start(index) else {
                return Ok(None);
            };
            match self.partition(index, start, sink).await {
                Ok(None) => {}
                Ok(Some(stop)) => return Ok(Some(stop)),
                Err(err) => {
                    self.failed.send_replace(true);
                    return Err(err);
                }
            }
        }
    }

    /// Partition `index`'s topic, number, checkpoint and planned end; `None` past the last.
    fn partition_start(&self, index: usize) -> Option<(String, u32, i64, i64)> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0.partitions.get(index).map(|p| {
            (
                p.plan.topic.clone(),
                p.plan.partition,
                p.checkpoint.next_offset,
                p.plan.end,
            )
        })
    }

    /// Replays partition `index` from its checkpoint to its planned end.
    async fn partition(
        &self,
        index: usize,
        (topic, partition, next, end): (String, u32, i64, i64),
        sink: &mut dyn Sink,
    ) -> Result<Option<Stop>, ReplayError> {
        let mut scan =
            PartitionScan::new(self.log, &topic, partition, next, end).with_batch(self.job.batch);
        let source = Source {
            filter: self.filter,
            topic: &topic,
            partition,
            job: &self.job_header,
        };
        let batch_cap = self.pace.lock().await.batch_cap();
        // The next batch, read while the one before it was being written.
        let mut ahead: Option<Batch> = None;
        loop {
            let mut failed = self.failed.subscribe();
            tokio::select! {
                biased;
                // (The sender lives in `self`: the channel cannot close while we wait.)
                _ = failed.wait_for(|failed| *failed) => return Ok(Some(Stop::Failed)),
                state = self.control.proceed() => {
                    if state == RunState::Cancelled {
                        return Ok(Some(Stop::Cancelled));
                    }
                }
            }
            let batch = match ahead.take() {
                Some(batch) => batch,
                None => {
                    if scan.is_done() {
                        return Ok(None);
                    }
                    let remaining = remaining(self.job, self.totals().emitted);
                    if remaining == Some(0) {
                        return Ok(Some(Stop::LimitReached));
                    }
                    let cap = batch_cap.min(remaining.unwrap_or(u64::MAX));
                    source.read(&mut scan, cap).await?
                }
            };
            // Write this batch and, meanwhile, read the next: the sink's wait for durability
            // and the log's fetch overlap. Only this batch is checkpointed after the write.
            // (`max_events` runs one lane, so no other lane emits in between.)
            let remaining_after = remaining(self.job, self.totals().emitted + batch.counts.emitted);
            let read_ahead = !scan.is_done()
                && remaining_after != Some(0)
                && self.control.state() == RunState::Running;
            let cap_after = batch_cap.min(remaining_after.unwrap_or(u64::MAX));
            let Batch {
                records,
                counts,
                next_offset,
            } = batch;
            let write = async {
                if records.is_empty() {
                    return Ok(None);
                }
                self.pace.lock().await.acquire(records.len()).await;
                sink.write(records).await.map(Some)
            };
            let read = async {
                if read_ahead {
                    source.read(&mut scan, cap_after).await.map(Some)
                } else {
                    Ok(None)
                }
            };
            let (written, read) = tokio::join!(write, read);
            let position = written.map_err(|e| ReplayError::Sink(e.to_string()))?;
            let checkpoint = {
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                let (state, meter) = &mut *state;
                if let Some(position) = position {
                    state.sink_position = position;
                }
                let checkpoint = state.advance(index, next_offset, counts);
                meter.sample(state);
                self.progress.send_replace(state.progress(meter));
                checkpoint
            };
            self.checkpoints
                .save(&self.job.id, &checkpoint)
                .await
                .map_err(|e| {
                    ReplayError::Checkpoint(format!(
                        "cannot save {topic}/{partition} of job {:?}: {e}",
                        self.job.id
                    ))
                })?;
            ahead = read?;
        }
    }
}

/// Events the job may still emit after `emitted`; `None`: no limit.
fn remaining(job: &JobRun, emitted: u64) -> Option<u64> {
    job.max_events.map(|max| max.saturating_sub(emitted))
}

/// Records read from one partition for one write, with what was skipped on the way.
struct Batch {
    records: Vec<ReplayRecord>,
    counts: Totals,
    /// The first offset after the batch: the partition's checkpoint once it is written.
    next_offset: i64,
}

/// What a partition's batches are read with.
struct Source<'a> {
    filter: &'a Filter,
    topic: &'a str,
    partition: u32,
    job: &'a Bytes,
}

impl Source<'_> {
    /// Reads up to a batch of records, keeping at most `cap` of them.
    async fn read(&self, scan: &mut PartitionScan<'_>, cap: u64) -> Result<Batch, ReplayError> {
        let mut counts = Totals::default();
        let mut records = Vec::new();
        let mut read = 0;
        while read < scan.batch() && (records.len() as u64) < cap {
            let Some(record) = scan.next_record().await? else {
                break;
            };
            read += 1;
            match self.filter.check(&record) {
                Verdict::Emit => {
                    records.push(replay_record(self.topic, self.partition, record, self.job))
                }
                Verdict::Filtered => counts.filtered += 1,
                Verdict::Unreadable => counts.unreadable += 1,
            }
        }
        counts.emitted = records.len() as u64;
        Ok(Batch {
            records,
            counts,
            next_offset: scan.next_offset(),
        })
    }
}

/// The record as it is written: the source's key, value, time and headers, plus the job.
fn replay_record(topic: &str, partition: u32, record: StoredRecord, job: &Bytes) -> ReplayRecord {
    let mut headers = record.headers;
    // A replay of a replay names only the job that emitted it.
    headers.retain(|(name, _)| name != headers::REPLAY_JOB);
    headers.push((headers::REPLAY_JOB.to_owned(), job.clone()));
    ReplayRecord {
        topic: topic.to_owned(),
        partition,
        offset: record.offset,
        timestamp_ms: record.timestamp_ms,
        key: record.key,
        value: record.value,
        headers,
    }
}

/// Every partition's plan and checkpoint.
struct JobState {
    partitions: Vec<PartitionState>,
    sink_position: u64,
}

struct PartitionState {
    plan: PartitionPlan,
    checkpoint: Checkpoint,
}

impl JobState {
    /// The plan's partitions at their saved checkpoints (or their start).
    fn resume(plan: &Plan, saved: &CheckpointMap) -> Result<JobState, ReplayError> {
        let mut partitions = Vec::with_capacity(plan.partitions.len());
        for part in &plan.partitions {
            let key = (part.topic.clone(), part.partition);
            let checkpoint = match saved.get(&key) {
                Some(c) if c.next_offset < part.start || c.next_offset > part.end => {
                    return Err(ReplayError::Checkpoint(format!(
                        "the checkpoint of {}/{} is at offset {}, outside the plan's [{}, {}): \
                         the job must be resumed with the plan it started with",
                        part.topic, part.partition, c.next_offset, part.start, part.end
                    )));
                }
                Some(c) => c.clone(),
                None => Checkpoint {
                    topic: part.topic.clone(),
                    partition: part.partition,
                    next_offset: part.start,
                    emitted: 0,
                    filtered: 0,
                    unreadable: 0,
                    sink_position: 0,
                },
            };
            partitions.push(PartitionState {
                plan: part.clone(),
                checkpoint,
            });
        }
        if let Some((topic, partition)) = saved.keys().find(|key| {
            !plan
                .partitions
                .iter()
                .any(|p| p.topic == key.0 && p.partition == key.1)
        }) {
            return Err(ReplayError::Checkpoint(format!(
                "a checkpoint exists for {topic}/{partition}, which the plan does not read: \
                 the job must be resumed with the plan it started with"
            )));
        }
        Ok(JobState {
            partitions,
            sink_position: resume_position(saved),
        })
    }

    /// Records a confirmed batch of partition `index`; the checkpoint to save.
    fn advance(&mut self, index: usize, next_offset: i64, counts: Totals) -> Checkpoint {
        let c = &mut self.partitions[index].checkpoint;
        c.next_offset = next_offset;
        c.emitted += counts.emitted;
        c.filtered += counts.filtered;
        c.unreadable += counts.unreadable;
        c.sink_position = self.sink_position;
        c.clone()
    }

    fn totals(&self) -> Totals {
        let mut totals = Totals::default();
        for p in &self.partitions {
            totals.emitted += p.checkpoint.emitted;
            totals.filtered += p.checkpoint.filtered;
            totals.unreadable += p.checkpoint.unreadable;
        }
        totals
    }

    /// Offsets done and planned.
    fn offsets(&self) -> (u64, u64) {
        let mut done = 0;
        let mut total = 0;
        for p in &self.partitions {
            done += u64::try_from(p.checkpoint.next_offset - p.plan.start).unwrap_or(0);
            total += p.plan.offsets();
        }
        (done, total)
    }

    fn progress(&self, meter: &Meter) -> Progress {
        let (offsets_done, offsets_total) = self.offsets();
        let partitions = self
            .partitions
            .iter()
            .map(|p| PartitionProgress {
                topic: p.plan.topic.clone(),
                partition: p.plan.partition,
                start: p.plan.start,
                end: p.plan.end,
                next_offset: p.checkpoint.next_offset,
                emitted: p.checkpoint.emitted,
                filtered: p.checkpoint.filtered,
                unreadable: p.checkpoint.unreadable,
            })
            .collect();
        let (events_per_sec, offsets_per_sec) = meter.rates();
        let left = offsets_total.saturating_sub(offsets_done);
        let eta_secs = if left == 0 {
            Some(0)
        } else if offsets_per_sec > 0.0 {
            Some((left as f64 / offsets_per_sec).ceil() as u64)
        } else {
            None
        };
        Progress {
            partitions,
            totals: self.totals(),
            offsets_done,
            offsets_total,
            events_per_sec,
            eta_secs,
        }
    }
}

/// How far back the rates look.
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// Recent (time, emitted, offsets done) samples, for the rates in [`Progress`].
struct Meter {
    samples: VecDeque<(Instant, u64, u64)>,
}

impl Meter {
    fn new(state: &JobState) -> Meter {
        let mut meter = Meter {
            samples: VecDeque::new(),
        };
        meter.sample(state);
        meter
    }

    fn sample(&mut self, state: &JobState) {
        let now = Instant::now();
        self.samples
            .push_back((now, state.totals().emitted, state.offsets().0));
        // Keep one sample older than the window as the baseline.
        while self.samples.len() > 2 && now - self.samples[1].0 >= RATE_WINDOW {
            self.samples.pop_front();
        }
    }

    /// Emitted records and offsets per second over the window.
    fn rates(&self) -> (f64, f64) {
        let (Some(first), Some(last)) = (self.samples.front(), self.samples.back()) else {
            return (0.0, 0.0);
        };
        let seconds = (last.0 - first.0).as_secs_f64();
        if seconds <= 0.0 {
            return (0.0, 0.0);
        }
        (
            (last.1 - first.1) as f64 / seconds,
            (last.2 - first.2) as f64 / seconds,
        )
    }
}

/// The rate limit: each batch of `n` records may start `n / rate` seconds after the previous
/// one did (a token bucket that holds no more than one batch, so a pause or a slow sink
/// earns no burst). Batches are a tenth of a second's worth of records, so the rate is even
/// over any second.
struct Pace {
    per_sec: Option<f64>,
    batch: u64,
    next: Instant,
}

impl Pace {
    fn new(rate_per_sec: Option<u32>, batch: usize) -> Pace {
        Pace {
            per_sec: rate_per_sec.map(|r| f64::from(r.max(1))),
            batch: batch.max(1) as u64,
            next: Instant::now(),
        }
    }

    /// The most records one batch may emit.
    fn batch_cap(&self) -> u64 {
        match self.per_sec {
            None => self.batch,
            Some(rate) => ((rate / 10.0) as u64).clamp(1, self.batch),
        }
    }

    async fn acquire(&mut self, records: usize) {
        let Some(rate) = self.per_sec else {
            return;
        };
        tokio::time::sleep_until(self.next).await;
        let start = self.next.max(Instant::now());
        self.next = start + Duration::from_secs_f64(records as f64 / rate);
    }
}
