//! The Kafka backend (placeholder: being written).

/// Options of the Kafka log.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    pub bootstrap_servers: String,
}

/// The Kafka backend.
#[derive(Debug)]
pub struct KafkaLog {
    _options: KafkaOptions,
}
