//! The embedded backend (placeholder: being written).

use std::path::PathBuf;

/// When the embedded log forces appended data to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// fsync before acknowledging every append (group commit): survives power loss.
    #[default]
    Always,
    /// Leave flushing to the OS: survives a process crash, not a power loss.
    Never,
}

/// Options of the embedded log.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    pub dir: PathBuf,
    pub fsync: FsyncPolicy,
    pub segment_bytes: u64,
    pub retention_check_interval: std::time::Duration,
}

/// The embedded backend.
#[derive(Debug)]
pub struct EmbeddedLog {
    _options: EmbeddedOptions,
}

impl EmbeddedOptions {
    pub fn new(dir: PathBuf) -> Self {
        EmbeddedOptions { dir, fsync: FsyncPolicy::Always, segment_bytes: 64 << 20, retention_check_interval: std::time::Duration::from_secs(60) }
    }
}

impl EmbeddedLog {
    pub async fn open(options: EmbeddedOptions) -> Result<Self, crate::LogError> {
        Err(crate::LogError::Fatal(format!("not built yet: {options:?}")))
    }
}

#[async_trait::async_trait]
impl crate::EventLog for EmbeddedLog {
    fn backend(&self) -> &'static str { todo!() }
    async fn create_topic(&self, _: &crate::TopicSpec) -> Result<(), crate::LogError> { todo!() }
    async fn delete_topic(&self, _: &str) -> Result<(), crate::LogError> { todo!() }
    async fn list_topics(&self) -> Result<Vec<crate::TopicDescription>, crate::LogError> { todo!() }
    async fn describe_topic(&self, _: &str) -> Result<crate::TopicDescription, crate::LogError> { todo!() }
    async fn append(&self, _: &str, _: Vec<crate::Record>) -> Result<Vec<crate::AppendResult>, crate::LogError> { todo!() }
    async fn read(&self, _: &str, _: u32, _: i64, _: usize) -> Result<Vec<crate::StoredRecord>, crate::LogError> { todo!() }
    async fn offset_for_time(&self, _: &str, _: u32, _: i64) -> Result<i64, crate::LogError> { todo!() }
    async fn watermarks(&self, _: &str, _: u32) -> Result<crate::Watermarks, crate::LogError> { todo!() }
    async fn subscribe(&self, _: &str, _: &[String]) -> Result<Box<dyn crate::GroupConsumer>, crate::LogError> { todo!() }
    async fn committed_offsets(&self, _: &str, _: &str) -> Result<Vec<(u32, Option<i64>)>, crate::LogError> { todo!() }
    async fn check_health(&self) -> Result<(), crate::LogError> { todo!() }
    async fn close(&self) -> Result<(), crate::LogError> { todo!() }
}
