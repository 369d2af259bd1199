//! The Kafka backend (placeholder: being written).

/// Options of the Kafka log.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    pub bootstrap_servers: String,
    pub message_timeout: std::time::Duration,
    pub max_in_flight_bytes: u64,
    pub replication_factor: Option<i32>,
    pub connect_timeout: std::time::Duration,
    pub extra: std::collections::BTreeMap<String, String>,
}

/// The Kafka backend.
#[derive(Debug)]
pub struct KafkaLog {
    _options: KafkaOptions,
}

impl KafkaOptions {
    pub fn new(bootstrap_servers: String) -> Self {
        KafkaOptions {
            bootstrap_servers,
            message_timeout: std::time::Duration::from_secs(30),
            max_in_flight_bytes: 64 << 20,
            replication_factor: None,
            connect_timeout: std::time::Duration::from_secs(10),
            extra: Default::default(),
        }
    }
}

impl KafkaLog {
    pub async fn connect(options: KafkaOptions) -> Result<Self, crate::LogError> {
        Err(crate::LogError::Fatal(format!(
            "not built yet: {options:?}"
        )))
    }
}

#[async_trait::async_trait]
impl crate::EventLog for KafkaLog {
    fn backend(&self) -> &'static str {
        todo!()
    }
    async fn create_topic(&self, _: &crate::TopicSpec) -> Result<(), crate::LogError> {
        todo!()
    }
    async fn delete_topic(&self, _: &str) -> Result<(), crate::LogError> {
        todo!()
    }
    async fn list_topics(&self) -> Result<Vec<crate::TopicDescription>, crate::LogError> {
        todo!()
    }
    async fn describe_topic(&self, _: &str) -> Result<crate::TopicDescription, crate::LogError> {
        todo!()
    }
    async fn append(
        &self,
        _: &str,
        _: Vec<crate::Record>,
    ) -> Result<Vec<crate::AppendResult>, crate::LogError> {
        todo!()
    }
    async fn read(
        &self,
        _: &str,
        _: u32,
        _: i64,
        _: usize,
    ) -> Result<Vec<crate::StoredRecord>, crate::LogError> {
        todo!()
    }
    async fn offset_for_time(&self, _: &str, _: u32, _: i64) -> Result<i64, crate::LogError> {
        todo!()
    }
    async fn watermarks(&self, _: &str, _: u32) -> Result<crate::Watermarks, crate::LogError> {
        todo!()
    }
    async fn subscribe(
        &self,
        _: &str,
        _: &[String],
    ) -> Result<Box<dyn crate::GroupConsumer>, crate::LogError> {
        todo!()
    }
    async fn committed_offsets(
        &self,
        _: &str,
        _: &str,
    ) -> Result<Vec<(u32, Option<i64>)>, crate::LogError> {
        todo!()
    }
    async fn check_health(&self) -> Result<(), crate::LogError> {
        todo!()
    }
    async fn close(&self) -> Result<(), crate::LogError> {
        todo!()
    }
}
