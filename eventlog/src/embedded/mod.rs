//! The embedded backend: Kafka's model in segment files on local disk, for one machine.
//!
//! Layout under the log directory (see `docs/embedded-log.md` for the reasoning):
//!
//! ```text
//! .lock                              held (flock) while a process has the log open
//! topics/{topic}/topic.json          partitions, retention, incarnation id
//! topics/{topic}/{p}/{base:020}.log  segment: frames of consecutive offsets from `base`
//! topics/{topic}/{p}/{base:020}.index  sparse offset/time index of a sealed segment
//! groups/{group}.json                committed offsets of a consumer group
//! staging/                           topics being created or deleted; emptied at open
//! ```

mod frame;
mod fsutil;
mod group;
mod partition;
mod segment;
mod topic;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use self::fsutil::{IoContext, blocking, create_dir_durable, io_error};
use self::group::Groups;
use self::partition::StorageConfig;
use self::topic::Topic;
use crate::{
    AppendResult, EventLog, GroupConsumer, LogError, Position, Record, StoredRecord,
    TopicDescription, TopicSpec, Watermarks, partition_for_key,
};

const BACKEND: &str = "embedded";

/// When the embedded log forces appended data to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// fsync before acknowledging every append (group commit): survives power loss.
    #[default]
    Always,
    /// Leave flushing to the OS: survives a process crash, not a power loss.
    Never,
}

/// Options of the embedded log. Start from [`EmbeddedOptions::new`].
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// The directory that holds the log; created if missing.
    pub dir: PathBuf,
    /// When appended records are forced to disk.
    pub fsync: FsyncPolicy,
    /// A segment file is sealed and a new one started past this size (4 KiB to 1 GiB).
    pub segment_bytes: u64,
    /// Bytes between two entries of a segment's sparse index.
    pub index_interval_bytes: u32,
    /// How often the background task applies retention.
    pub retention_check_interval: Duration,
}

impl EmbeddedOptions {
    /// Defaults: fsync always, 64 MiB segments, an index entry every 4 KiB, retention checked
    /// every five minutes.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        EmbeddedOptions {
            dir: dir.into(),
            fsync: FsyncPolicy::Always,
            segment_bytes: 64 << 20,
            index_interval_bytes: 4096,
            retention_check_interval: Duration::from_secs(300),
        }
    }

    /// Sets when appended records are forced to disk.
    pub fn with_fsync(mut self, fsync: FsyncPolicy) -> Self {
        self.fsync = fsync;
        self
    }

    /// Sets the size at which the active segment is sealed.
    pub fn with_segment_bytes(mut self, segment_bytes: u64) -> Self {
        self.segment_bytes = segment_bytes;
        self
    }

    /// Sets how often the background task applies retention.
    pub fn with_retention_check_interval(mut self, interval: Duration) -> Self {
        self.retention_check_interval = interval;
        self
    }

    fn validate(&self) -> Result<(), LogError> {
        if !(4096..=1 << 30).contains(&self.segment_bytes) {
            return Err(LogError::Fatal(format!(
                "segment_bytes must be between 4096 and 1073741824, not {}",
                self.segment_bytes
            )));
        }
        if self.retention_check_interval.is_zero() {
            return Err(LogError::Fatal(
                "retention_check_interval must be longer than zero".to_owned(),
            ));
        }
        Ok(())
    }
}

/// The embedded backend: durable segment files on local disk with Kafka's model.
///
/// Open it with [`EmbeddedLog::open`]; one process at a time may hold a directory.
#[derive(Debug)]
pub struct EmbeddedLog {
    inner: Arc<Inner>,
    retention_task: tokio::task::JoinHandle<()>,
}

struct Inner {
    root: PathBuf,
    config: StorageConfig,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    /// Serialises topic creation and deletion.
    admin: tokio::sync::Mutex<()>,
    /// Appends hold it shared; `close` takes it exclusively to wait for them.
    gate: tokio::sync::RwLock<()>,
    closed: AtomicBool,
    groups: Groups,
    /// Holds the directory lock until close or drop.
    lock_file: Mutex<Option<File>>,
}

impl EmbeddedLog {
    /// Opens (or creates) the log in `options.dir`, recovering every partition: a torn or
    /// damaged tail left by a crash is cut off, keeping every intact record before it.
    ///
    /// Fails if another process has the directory open.
    pub async fn open(options: EmbeddedOptions) -> Result<EmbeddedLog, LogError> {
        options.validate()?;
        let interval = options.retention_check_interval;
        let inner = Arc::new(blocking(move || Inner::open(&options)).await?);
        let weak = Arc::downgrade(&inner);
        let retention_task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                if inner.closed.load(Ordering::Acquire) {
                    return;
                }
                if let Err(e) = inner.enforce_retention().await {
                    tracing::warn!("embedded log retention failed: {e}");
                }
            }
        });
        Ok(EmbeddedLog {
            inner,
            retention_task,
        })
    }

    /// Applies every topic's retention now: deletes whole sealed segments older than the
    /// retention time, then the oldest while a partition is over its size limit. The
    /// background task does the same every `retention_check_interval`.
    pub async fn enforce_retention(&self) -> Result<(), LogError> {
        self.inner.check_open()?;
        self.inner.enforce_retention().await
    }
}

impl Drop for EmbeddedLog {
    fn drop(&mut self) {
        self.retention_task.abort();
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedLog")
            .field("dir", &self.root)
            .field("config", &self.config)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn open(options: &EmbeddedOptions) -> Result<Inner, LogError> {
        let root = options.dir.clone();
        create_dir_durable(&root)?;
        let lock_path = root.join(".lock");
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .context(|| format!("could not open {}", lock_path.display()))?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LogError::Fatal(format!(
                    "event log directory {} is already open in another process (or instance)",
                    root.display()
                )));
            }
            Err(TryLockError::Error(e)) => {
                return Err(io_error(
                    format!("could not lock {}", lock_path.display()),
                    &e,
                ));
            }
        }
        let staging = root.join("staging");
        if staging.exists() {
            std::fs::remove_dir_all(&staging)
                .context(|| format!("could not clear {}", staging.display()))?;
        }
        for dir in ["topics", "groups", "staging"] {
            create_dir_durable(&root.join(dir))?;
        }
        let config = StorageConfig {
            fsync: options.fsync,
            segment_bytes: options.segment_bytes,
            index_interval: options.index_interval_bytes,
        };
        let mut topics = BTreeMap::new();
        let topics_dir = root.join("topics");
        let entries = std::fs::read_dir(&topics_dir)
            .context(|| format!("could not list {}", topics_dir.display()))?;
        for entry in entries {
            let entry = entry.context(|| format!("could not list {}", topics_dir.display()))?;
            if !entry.path().is_dir() {
                continue;
            }
            let topic = Topic::open(entry.path(), config)?;
            topics.insert(topic.name.clone(), Arc::new(topic));
        }
        Ok(Inner {
            groups: Groups::new(root.join("groups")),
            root,
            config,
            topics: RwLock::new(topics),
            admin: tokio::sync::Mutex::new(()),
            gate: tokio::sync::RwLock::new(()),
            closed: AtomicBool::new(false),
            lock_file: Mutex::new(Some(lock_file)),
        })
    }

    fn check_open(&self) -> Result<(), LogError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(LogError::Closed);
        }
        Ok(())
    }

    fn topics(
        &self,
    ) -> Result<std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Topic>>>, LogError> {
        self.topics
            .read()
            .map_err(|_| LogError::Fatal("the topic registry is unusable after a panic".to_owned()))
    }

    fn topic(&self, name: &str) -> Result<Arc<Topic>, LogError> {
        self.topics()?
            .get(name)
            .cloned()
            .ok_or_else(|| LogError::UnknownTopic(name.to_owned()))
    }

    fn partition(
        &self,
        topic: &str,
        partition: u32,
    ) -> Result<Arc<partition::Partition>, LogError> {
        self.check_open()?;
        let topic = self.topic(topic)?;
        Ok(Arc::clone(topic.partition(partition)?))
    }

    async fn enforce_retention(&self) -> Result<(), LogError> {
        let topics: Vec<Arc<Topic>> = self.topics()?.values().cloned().collect();
        let now = now_ms();
        for topic in topics {
            let retention = topic.retention;
            if retention.time.is_none() && retention.bytes.is_none() {
                continue;
            }
            blocking(move || {
                for partition in &topic.partitions {
                    partition.enforce_retention(retention, now)?;
                }
                Ok(())
            })
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl EventLog for EmbeddedLog {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn create_topic(&self, spec: &TopicSpec) -> Result<(), LogError> {
        self.inner.check_open()?;
        spec.validate()?;
        let _admin = self.inner.admin.lock().await;
        if self.inner.topics()?.contains_key(&spec.name) {
            return Err(LogError::TopicExists(spec.name.clone()));
        }
        let (root, config, owned_spec) = (self.inner.root.clone(), self.inner.config, spec.clone());
        let topic = blocking(move || Topic::create(&root, &owned_spec, config)).await?;
        let mut topics = self.inner.topics.write().map_err(|_| {
            LogError::Fatal("the topic registry is unusable after a panic".to_owned())
        })?;
        topics.insert(spec.name.clone(), Arc::new(topic));
        Ok(())
    }

    async fn delete_topic(&self, topic: &str) -> Result<(), LogError> {
        self.inner.check_open()?;
        let _admin = self.inner.admin.lock().await;
        let found = self.inner.topic(topic)?;
        let root = self.inner.root.clone();
        blocking(move || found.remove_files(&root)).await?;
        let mut topics = self.inner.topics.write().map_err(|_| {
            LogError::Fatal("the topic registry is unusable after a panic".to_owned())
        })?;
        topics.remove(topic);
        Ok(())
    }

    async fn list_topics(&self) -> Result<Vec<TopicDescription>, LogError> {
        self.inner.check_open()?;
        Ok(self
            .inner
            .topics()?
            .values()
            .map(|t| t.description())
            .collect())
    }

    async fn describe_topic(&self, topic: &str) -> Result<TopicDescription, LogError> {
        self.inner.check_open()?;
        Ok(self.inner.topic(topic)?.description())
    }

    async fn append(
        &self,
        topic: &str,
        records: Vec<Record>,
    ) -> Result<Vec<AppendResult>, LogError> {
        let started = Instant::now();
        let _gate = self.inner.gate.read().await;
        self.inner.check_open()?;
        let topic = self.inner.topic(topic)?;
        let count = topic.partitions.len() as u32;
        let mut results: Vec<Option<AppendResult>> = vec![None; records.len()];
        let mut batches: BTreeMap<u32, (Vec<usize>, Vec<Record>)> = BTreeMap::new();
        let mut keyless = None;
        for (i, record) in records.into_iter().enumerate() {
            let partition = match (record.partition, &record.key) {
                (Some(p), _) => p,
                (None, Some(key)) => partition_for_key(key, count),
                (None, None) => *keyless.get_or_insert_with(|| topic.next_round_robin()),
            };
            if partition >= count {
                results[i] = Some(Err(LogError::UnknownPartition {
                    topic: topic.name.clone(),
                    partition,
                }));
                continue;
            }
            let batch = batches.entry(partition).or_default();
            batch.0.push(i);
            batch.1.push(record);
        }

        let fsync = self.inner.config.fsync;
        let retention_time = topic.retention.time;
        let appends = batches.into_iter().map(|(p, (indexes, records))| {
            let partition = Arc::clone(&topic.partitions[p as usize]);
            async move {
                let n = records.len();
                let writer = Arc::clone(&partition);
                let mut written = blocking(move || Ok(writer.write(&records, retention_time)))
                    .await
                    .unwrap_or_else(|e| vec![Err(e); n]);
                let end = written.iter().filter_map(|r| r.as_ref().ok()).max();
                if let (FsyncPolicy::Always, Some(&last)) = (fsync, end)
                    && let Err(e) = partition.make_durable(last + 1).await
                {
                    for result in written.iter_mut().filter(|r| r.is_ok()) {
                        *result = Err(e.clone());
                    }
                }
                (p, indexes, written)
            }
        });
        for (partition, indexes, written) in futures::future::join_all(appends).await {
            for (i, result) in indexes.into_iter().zip(written) {
                results[i] = Some(result.map(|offset| Position { partition, offset }));
            }
        }
        let results: Vec<AppendResult> = results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(LogError::Fatal("a record got no verdict".to_owned())))
            })
            .collect();
        crate::metrics::record_append(BACKEND, &results, started);
        Ok(results)
    }

    async fn read(
        &self,
        topic: &str,
        partition: u32,
        offset: i64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>, LogError> {
        let partition = self.inner.partition(topic, partition)?;
        blocking(move || partition.read(offset, max_records)).await
    }

    async fn offset_for_time(
        &self,
        topic: &str,
        partition: u32,
        timestamp_ms: i64,
    ) -> Result<i64, LogError> {
        let partition = self.inner.partition(topic, partition)?;
        blocking(move || partition.offset_for_time(timestamp_ms)).await
    }

    async fn watermarks(&self, topic: &str, partition: u32) -> Result<Watermarks, LogError> {
        Ok(self.inner.partition(topic, partition)?.watermarks())
    }

    async fn subscribe(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<Box<dyn GroupConsumer>, LogError> {
        self.inner.check_open()?;
        let consumer = group::subscribe(Arc::clone(&self.inner), group, topics).await?;
        Ok(Box::new(consumer))
    }

    async fn committed_offsets(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<Vec<(u32, Option<i64>)>, LogError> {
        self.inner.check_open()?;
        let topic = self.inner.topic(topic)?;
        let group = self.inner.groups.get(group).await?;
        Ok(group
            .committed(&topic.name, &topic.id, topic.partitions.len() as u32)
            .await)
    }

    async fn check_health(&self) -> Result<(), LogError> {
        self.inner.check_open()?;
        let root = self.inner.root.clone();
        blocking(move || {
            std::fs::metadata(root.join("topics"))
                .map(|_| ())
                .context(|| format!("event log directory {} is not reachable", root.display()))
        })
        .await
    }

    async fn close(&self) -> Result<(), LogError> {
        let _gate = self.inner.gate.write().await;
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.retention_task.abort();
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            let topics: Vec<Arc<Topic>> = inner.topics()?.values().cloned().collect();
            let mut result = Ok(());
            for topic in topics {
                for partition in &topic.partitions {
                    if let Err(e) = partition.sync_all() {
                        result = Err(e);
                    }
                }
            }
            if let Ok(mut lock) = inner.lock_file.lock() {
                lock.take();
            }
            result
        })
        .await
    }
}
