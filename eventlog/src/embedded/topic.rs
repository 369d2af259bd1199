//! Topics on disk: `topics/{name}/topic.json` and one directory per partition.
//!
//! A topic is created in a staging directory and renamed into `topics/` when complete, and
//! deleted by renaming it back out before removing its files, so a crash never leaves half a
//! topic behind.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::fsutil::{IoContext, create_dir_durable, read_if_exists, sync_dir, write_atomic};
use super::partition::{Partition, StorageConfig};
use crate::{LogError, Retention, TopicDescription, TopicSpec};

const TOPIC_FILE: &str = "topic.json";

/// What `topic.json` holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicFile {
    version: u32,
    name: String,
    /// Tells apart topics that reuse a deleted topic's name (committed offsets name it).
    id: String,
    partitions: u32,
    retention_ms: Option<u64>,
    retention_bytes: Option<u64>,
}

/// An open topic.
#[derive(Debug)]
pub(super) struct Topic {
    pub(super) name: String,
    pub(super) id: String,
    pub(super) retention: Retention,
    pub(super) partitions: Vec<Arc<Partition>>,
    dir: PathBuf,
    round_robin: AtomicU32,
}

impl Topic {
    /// Creates the topic's files under `root` (blocking) and opens it.
    pub(super) fn create(
        root: &Path,
        spec: &TopicSpec,
        config: StorageConfig,
    ) -> Result<Topic, LogError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let id = format!("{nanos:x}");
        let staging = root.join("staging").join(format!("create-{id}"));
        create_dir_durable(&staging)?;
        for p in 0..spec.partitions {
            let dir = staging.join(p.to_string());
            std::fs::create_dir(&dir)
                .context(|| format!("could not create directory {}", dir.display()))?;
        }
        let file = TopicFile {
            version: 1,
            name: spec.name.clone(),
            id,
            partitions: spec.partitions,
            retention_ms: spec
                .retention
                .time
                .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            retention_bytes: spec.retention.bytes,
        };
        let json = serde_json::to_vec_pretty(&file)
            .map_err(|e| LogError::Fatal(format!("could not encode topic file: {e}")))?;
        write_atomic(&staging.join(TOPIC_FILE), &json)?;
        let topics = root.join("topics");
        let dir = topics.join(&spec.name);
        std::fs::rename(&staging, &dir)
            .context(|| format!("could not move topic into {}", dir.display()))?;
        sync_dir(&topics)?;
        Topic::open(dir, config)
    }

    /// Opens a topic directory (blocking), recovering every partition.
    pub(super) fn open(dir: PathBuf, config: StorageConfig) -> Result<Topic, LogError> {
        let path = dir.join(TOPIC_FILE);
        let Some(bytes) = read_if_exists(&path)? else {
            return Err(LogError::Fatal(format!(
                "topic directory {} has no {TOPIC_FILE}",
                dir.display()
            )));
        };
        let file: TopicFile = serde_json::from_slice(&bytes)
            .map_err(|e| LogError::Fatal(format!("{} is invalid: {e}", path.display())))?;
        let dir_name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        if file.version != 1
            || dir_name.as_deref() != Some(file.name.as_str())
            || file.partitions == 0
            || file.partitions > crate::MAX_PARTITIONS
        {
            return Err(LogError::Fatal(format!(
                "{} does not describe a valid topic of this directory",
                path.display()
            )));
        }
        let mut partitions = Vec::with_capacity(file.partitions as usize);
        for p in 0..file.partitions {
            let partition = Partition::open(dir.join(p.to_string()), &file.name, p, config)?;
            partitions.push(Arc::new(partition));
        }
        Ok(Topic {
            retention: Retention {
                time: file.retention_ms.map(Duration::from_millis),
                bytes: file.retention_bytes,
            },
            name: file.name,
            id: file.id,
            partitions,
            dir,
            round_robin: AtomicU32::new(0),
        })
    }

    pub(super) fn description(&self) -> TopicDescription {
        TopicDescription {
            name: self.name.clone(),
            partitions: self.partitions.len() as u32,
            retention: self.retention,
        }
    }

    pub(super) fn partition(&self, partition: u32) -> Result<&Arc<Partition>, LogError> {
        self.partitions
            .get(partition as usize)
            .ok_or_else(|| LogError::UnknownPartition {
                topic: self.name.clone(),
                partition,
            })
    }

    /// The partition for the keyless records of the next append call.
    pub(super) fn next_round_robin(&self) -> u32 {
        self.round_robin.fetch_add(1, Ordering::Relaxed) % self.partitions.len() as u32
    }

    /// Removes the topic's files (blocking): renamed out of `topics/` first, so a crash
    /// half-way never resurrects a partial topic.
    pub(super) fn remove_files(&self, root: &Path) -> Result<(), LogError> {
        let trash = root.join("staging").join(format!("delete-{}", self.id));
        std::fs::rename(&self.dir, &trash)
            .context(|| format!("could not delete topic directory {}", self.dir.display()))?;
        for partition in &self.partitions {
            partition.mark_deleted();
        }
        sync_dir(&root.join("topics"))?;
        if let Err(e) = std::fs::remove_dir_all(&trash) {
            tracing::warn!(
                "could not remove deleted topic files {}: {e}",
                trash.display()
            );
        }
        Ok(())
    }
}
