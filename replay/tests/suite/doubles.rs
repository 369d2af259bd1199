//! Test doubles: a log whose `offset_for_time` lies, checkpoints that hang, sinks that fail,
//! cancel or collect.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;
use tributary_eventlog::{
    AppendResult, EventLog, GroupConsumer, LogError, Record, StoredRecord, TopicDescription,
    TopicSpec, Watermarks,
};
use tributary_replay::{
    BoxError, BoxFuture, Checkpoint, CheckpointMap, Checkpoints, Control, MemoryCheckpoints,
    ReplayRecord, Sink, SinkReport, TopicSink,
};

/// How [`LyingLog`] answers "the first offset at or after T".
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lie {
    /// The high watermark, as if no record were that late.
    TooLate,
    /// The low watermark.
    TooEarly,
    /// Beyond the high watermark.
    PastTheEnd,
    /// The true answer moved by this many offsets.
    Off(i64),
}

/// An event log that answers everything truthfully except `offset_for_time` — and, when
/// made with [`LyingLog::empty_reads`], its first reads, which find nothing (as a slow broker's
/// can).
#[derive(Debug)]
pub(crate) struct LyingLog {
    inner: Arc<dyn EventLog>,
    lie: Lie,
    empty_reads: AtomicUsize,
}

impl LyingLog {
    pub(crate) fn new(inner: Arc<dyn EventLog>, lie: Lie) -> Self {
        LyingLog {
            inner,
            lie,
            empty_reads: AtomicUsize::new(0),
        }
    }

    /// Truthful, except that the first `reads` reads answer no records.
    pub(crate) fn empty_reads(inner: Arc<dyn EventLog>, reads: usize) -> Self {
        LyingLog {
            inner,
            lie: Lie::Off(0),
            empty_reads: AtomicUsize::new(reads),
        }
    }
}

#[async_trait]
impl EventLog for LyingLog {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn create_topic(&self, spec: &TopicSpec) -> Result<(), LogError> {
        self.inner.create_topic(spec).await
    }
    async fn delete_topic(&self, topic: &str) -> Result<(), LogError> {
        self.inner.delete_topic(topic).await
    }
    async fn list_topics(&self) -> Result<Vec<TopicDescription>, LogError> {
        self.inner.list_topics().await
    }
    async fn describe_topic(&self, topic: &str) -> Result<TopicDescription, LogError> {
        self.inner.describe_topic(topic).await
    }
    async fn append(
        &self,
        topic: &str,
        records: Vec<Record>,
    ) -> Result<Vec<AppendResult>, LogError> {
        self.inner.append(topic, records).await
    }
    async fn read(
        &self,
        topic: &str,
        partition: u32,
        offset: i64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>, LogError> {
        let empty = self
            .empty_reads
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if empty {
            return Ok(Vec::new());
        }
        self.inner.read(topic, partition, offset, max_records).await
    }
    async fn offset_for_time(
        &self,
        topic: &str,
        partition: u32,
        timestamp_ms: i64,
    ) -> Result<i64, LogError> {
        let w = self.inner.watermarks(topic, partition).await?;
        Ok(match self.lie {
            Lie::TooLate => w.high,
            Lie::TooEarly => w.low,
            Lie::PastTheEnd => w.high + 10,
            Lie::Off(by) => {
                self.inner
                    .offset_for_time(topic, partition, timestamp_ms)
                    .await?
                    + by
            }
        })
    }
    async fn watermarks(&self, topic: &str, partition: u32) -> Result<Watermarks, LogError> {
        self.inner.watermarks(topic, partition).await
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

/// Saves into a [`MemoryCheckpoints`] until the `at`-th save, which it stores and then never
/// returns from: the run is stuck right after a checkpoint, to be dropped like a killed process.
pub(crate) struct HangingCheckpoints<'a> {
    inner: &'a MemoryCheckpoints,
    saves: AtomicUsize,
    at: usize,
    hung: Notify,
}

impl<'a> HangingCheckpoints<'a> {
    pub(crate) fn new(inner: &'a MemoryCheckpoints, at: usize) -> Self {
        HangingCheckpoints {
            inner,
            saves: AtomicUsize::new(0),
            at,
            hung: Notify::new(),
        }
    }

    /// Returns once a save hangs.
    pub(crate) async fn hung(&self) {
        self.hung.notified().await;
    }
}

impl Checkpoints for HangingCheckpoints<'_> {
    fn load<'a>(&'a self, job_id: &'a str) -> BoxFuture<'a, Result<CheckpointMap, BoxError>> {
        self.inner.load(job_id)
    }

    fn save<'a>(
        &'a self,
        job_id: &'a str,
        checkpoint: &'a Checkpoint,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            self.inner.save(job_id, checkpoint).await?;
            if self.saves.fetch_add(1, Ordering::SeqCst) + 1 == self.at {
                self.hung.notify_one();
                std::future::pending::<()>().await;
            }
            Ok(())
        })
    }
}

/// What [`ScriptedSink`] does on its chosen write.
#[derive(Debug)]
pub(crate) enum Script {
    /// Fails without writing anything.
    Fail,
    /// Writes, and cancels the job meanwhile.
    Cancel(Control),
}

/// A topic sink that does something else on its `at`-th write. It has no concurrent
/// writers, so the engine replays partitions one after another through it, as through a file.
#[derive(Debug)]
pub(crate) struct ScriptedSink {
    inner: TopicSink,
    writes: usize,
    at: usize,
    script: Script,
}

impl ScriptedSink {
    pub(crate) fn new(inner: TopicSink, at: usize, script: Script) -> Self {
        ScriptedSink {
            inner,
            writes: 0,
            at,
            script,
        }
    }

    /// Only the one-partition-at-a-time part: every write goes through.
    pub(crate) fn sequential(inner: TopicSink) -> Self {
        ScriptedSink::new(inner, 0, Script::Fail)
    }
}

/// A topic sink whose writers — itself and each [concurrent writer](Sink::concurrent_writer)
/// it hands out — hold their first write until `lanes` writers are writing at once: an
/// engine that replays partitions one after another never gets past it. The sink itself
/// (not the writers it hands out) fails its `fail_at`-th write without writing anything,
/// pausing the job first if told to.
#[derive(Debug)]
pub(crate) struct SideBySideSink {
    inner: TopicSink,
    together: Arc<tokio::sync::Barrier>,
    writes: usize,
    fail_at: Option<usize>,
    pause_first: Option<Control>,
}

impl SideBySideSink {
    pub(crate) fn new(inner: TopicSink, lanes: usize, fail_at: usize) -> Self {
        SideBySideSink {
            inner,
            together: Arc::new(tokio::sync::Barrier::new(lanes)),
            writes: 0,
            fail_at: Some(fail_at),
            pause_first: None,
        }
    }

    /// Pauses `control` just before the failing write fails.
    pub(crate) fn pausing(mut self, control: Control) -> Self {
        self.pause_first = Some(control);
        self
    }
}

impl Sink for SideBySideSink {
    fn write<'a>(&'a mut self, batch: Vec<ReplayRecord>) -> BoxFuture<'a, Result<u64, BoxError>> {
        self.writes += 1;
        let first = self.writes == 1;
        let fail = self.fail_at == Some(self.writes);
        Box::pin(async move {
            if first {
                self.together.wait().await;
            }
            if fail {
                if let Some(control) = &self.pause_first {
                    control.pause();
                }
                return Err("the disk is on fire".into());
            }
            self.inner.write(batch).await
        })
    }

    fn finish(self: Box<Self>) -> BoxFuture<'static, Result<SinkReport, BoxError>> {
        Box::new(self.inner).finish()
    }

    fn concurrent_writer(&self) -> Option<Box<dyn Sink>> {
        Some(Box::new(SideBySideSink {
            inner: self.inner.clone(),
            together: self.together.clone(),
            writes: 0,
            fail_at: None,
            pause_first: None,
        }))
    }
}

impl Sink for ScriptedSink {
    fn write<'a>(&'a mut self, batch: Vec<ReplayRecord>) -> BoxFuture<'a, Result<u64, BoxError>> {
        self.writes += 1;
        if self.writes == self.at {
            match &self.script {
                Script::Fail => return Box::pin(async { Err("the disk is on fire".into()) }),
                Script::Cancel(control) => control.cancel(),
            }
        }
        self.inner.write(batch)
    }

    fn finish(self: Box<Self>) -> BoxFuture<'static, Result<SinkReport, BoxError>> {
        Box::new(self.inner).finish()
    }
}

/// Keeps every record written, and when each write happened.
#[derive(Debug, Default)]
pub(crate) struct CollectSink {
    records: Arc<Mutex<Vec<ReplayRecord>>>,
    writes: Vec<(Instant, usize)>,
}

impl CollectSink {
    pub(crate) fn records(&self) -> Vec<ReplayRecord> {
        self.records.lock().unwrap().clone()
    }

    pub(crate) fn shared(&self) -> Arc<Mutex<Vec<ReplayRecord>>> {
        self.records.clone()
    }

    pub(crate) fn writes(&self) -> &[(Instant, usize)] {
        &self.writes
    }
}

impl Sink for CollectSink {
    fn write<'a>(&'a mut self, batch: Vec<ReplayRecord>) -> BoxFuture<'a, Result<u64, BoxError>> {
        self.writes.push((Instant::now(), batch.len()));
        let mut records = self.records.lock().unwrap();
        records.extend(batch);
        let position = records.len() as u64;
        Box::pin(async move { Ok(position) })
    }

    fn finish(self: Box<Self>) -> BoxFuture<'static, Result<SinkReport, BoxError>> {
        Box::pin(async { Ok(SinkReport::default()) })
    }
}
