//! The Kafka backend: rdkafka (librdkafka) behind the [`EventLog`] trait.
//!
//! * Appends go through one idempotent, `acks=all` producer: librdkafka's ([`producer`]), or
//!   Tributary's own, which writes each partition's waiting records as one batch per Produce
//!   request ([`native`], `producer = native`). Either way a record's position is reported
//!   only from the broker's successful answer, and a semaphore over in-flight bytes and
//!   records makes a slow broker back-pressure callers.
//! * Topics are managed with librdkafka's admin client ([`admin`]); partition counts are cached.
//! * Reads, watermarks and reads by time use pooled, group-less consumers ([`reader`]) and never
//!   trust a broker's ListOffsets answer without checking it against the records ([`verify`]).
//! * Consumer groups are one librdkafka consumer per member ([`group`]).
//!
//! Every librdkafka call that can block (metadata, watermarks, offsets for times, poll,
//! commit, flush, dropping a client) runs on tokio's blocking pool, with a timeout.

mod admin;
mod conn;
mod errors;
mod fetch;
mod group;
mod native;
mod producer;
mod reader;
mod sticky;
mod verify;
mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::ClientConfig;

use crate::{
    AppendResult, EventLog, GroupConsumer, LogError, Record, StoredRecord, TopicDescription,
    TopicSpec, Watermarks,
};

use admin::Admin;
use native::NativeProducer;
use producer::Producer;
use reader::Readers;

/// librdkafka properties [`KafkaOptions::extra`] may not set: the log's durability guarantee
/// rests on them.
const PROTECTED_PROPERTIES: [&str; 4] = [
    "enable.idempotence",
    "acks",
    "request.required.acks",
    "bootstrap.servers",
];

/// Options of the Kafka log. Build with [`KafkaOptions::new`] and adjust fields.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    /// `host:port[,host:port…]` of the brokers to bootstrap from.
    pub bootstrap_servers: String,
    /// How long an appended record may wait for a durable answer before it fails (retryable).
    pub message_timeout: Duration,
    /// How long one request to a broker (metadata, admin, offsets, commit) may take.
    pub request_timeout: Duration,
    /// How long [`KafkaLog::connect`] waits for the brokers to answer.
    pub connect_timeout: Duration,
    /// Bytes (by [`Record::approximate_size`]) appended but not yet durable; callers wait
    /// beyond this.
    pub max_in_flight_bytes: usize,
    /// Records appended but not yet durable; callers wait beyond this.
    pub max_in_flight_records: usize,
    /// Replication factor of created topics; `None` lets the broker choose (`-1`). (Tansu
    /// accepts any value on its single node.)
    pub replication_factor: Option<i32>,
    /// How long the producer waits to fill a batch (`linger.ms`).
    pub linger: Duration,
    /// Consumer-group session timeout (`session.timeout.ms`). A new group's first join waits
    /// about half of it on some brokers.
    pub session_timeout: Duration,
    /// How long a topic's partition count is trusted before metadata is asked again.
    pub metadata_max_age: Duration,
    /// Extra librdkafka properties for every client (TLS, SASL, compression…). May not set
    /// `enable.idempotence`, `acks` or `bootstrap.servers`.
    pub extra: BTreeMap<String, String>,
    /// Which producer appends.
    pub producer: ProducerKind,
}

/// The producer behind [`KafkaLog::append`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProducerKind {
    /// `Native`, unless [`KafkaOptions::extra`] asks for something only librdkafka does (TLS,
    /// SASL, compression): then `Librdkafka`.
    #[default]
    Auto,
    /// librdkafka's idempotent producer: every librdkafka feature (TLS, SASL, compression).
    Librdkafka,
    /// Tributary's own idempotent producer: one record batch per partition and request, far
    /// less CPU per record than librdkafka; plaintext, uncompressed.
    Native,
}

impl std::str::FromStr for ProducerKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(ProducerKind::Auto),
            "librdkafka" => Ok(ProducerKind::Librdkafka),
            "native" => Ok(ProducerKind::Native),
            other => Err(format!(
                "unknown kafka producer {other:?}: expected \"auto\", \"librdkafka\" or \"native\""
            )),
        }
    }
}

impl KafkaOptions {
    /// Options with production defaults for the given bootstrap servers.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        KafkaOptions {
            bootstrap_servers: bootstrap_servers.into(),
            message_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_in_flight_bytes: 64 << 20,
            max_in_flight_records: 100_000,
            replication_factor: None,
            linger: Duration::from_millis(1),
            session_timeout: Duration::from_secs(45),
            metadata_max_age: Duration::from_secs(30),
            extra: BTreeMap::new(),
            producer: ProducerKind::default(),
        }
    }

    /// The properties every client shares.
    fn base_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        // librdkafka times out queued messages only when a broker thread wakes, and while a
        // broker is unreachable its thread sleeps out the reconnect backoff, which grows to
        // 10 s by default: appends then failed 3-4x past `message_timeout`. 1 s (the Java
        // client's default) keeps that error within a second of the timeout. `extra` may
        // override it.
        config.set("reconnect.backoff.max.ms", "1000");
        for (key, value) in &self.extra {
            config.set(key, value);
        }
        config
            .set("bootstrap.servers", &self.bootstrap_servers)
            .set("allow.auto.create.topics", "false")
            .set(
                "socket.timeout.ms",
                millis(self.request_timeout).to_string(),
            )
            .set("client.id", "tributary");
        config
    }

    /// Whether `extra` asks for TLS, SASL or compression, which only librdkafka's producer
    /// does.
    fn needs_librdkafka(&self) -> bool {
        self.extra.iter().any(|(key, value)| {
            key.starts_with("ssl.")
                || key.starts_with("sasl.")
                || (key == "security.protocol" && !value.eq_ignore_ascii_case("plaintext"))
                || ((key == "compression.type" || key == "compression.codec")
                    && !value.eq_ignore_ascii_case("none"))
        })
    }

    /// The producer these options get: [`ProducerKind::Auto`] resolved.
    pub fn resolved_producer(&self) -> ProducerKind {
        match self.producer {
            ProducerKind::Auto if self.needs_librdkafka() => ProducerKind::Librdkafka,
            ProducerKind::Auto => ProducerKind::Native,
            chosen => chosen,
        }
    }

    fn check(&self) -> Result<(), LogError> {
        for key in self.extra.keys() {
            if PROTECTED_PROPERTIES.contains(&key.as_str()) {
                return Err(LogError::Fatal(format!(
                    "kafka option {key:?} cannot be overridden: the log's durability depends on it"
                )));
            }
        }
        if self.producer == ProducerKind::Native && self.needs_librdkafka() {
            return Err(LogError::Fatal(
                "the native kafka producer speaks plaintext only and does not compress: use \
                 producer = \"librdkafka\" (or \"auto\") with TLS, SASL or compression"
                    .into(),
            ));
        }
        if self.bootstrap_servers.trim().is_empty() {
            return Err(LogError::Fatal("no kafka bootstrap servers given".into()));
        }
        if self.max_in_flight_bytes == 0 || self.max_in_flight_records == 0 {
            return Err(LogError::Fatal(
                "kafka in-flight limits must be greater than zero".into(),
            ));
        }
        Ok(())
    }
}

/// Milliseconds for a librdkafka property, at least 1.
fn millis(d: Duration) -> u64 {
    (d.as_millis() as u64).max(1)
}

/// Runs a blocking librdkafka call on the blocking pool and gives up after `timeout`.
///
/// The call itself must also be bounded (every librdkafka call here takes a timeout), so the
/// blocking thread is freed soon after an answer is abandoned.
async fn blocking<T, F>(what: &str, timeout: Duration, call: F) -> Result<T, LogError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, LogError> + Send + 'static,
{
    let task = tokio::task::spawn_blocking(call);
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(LogError::Fatal(format!("{what} failed: {join}"))),
        Err(_) => Err(LogError::Timeout(format!(
            "{what} did not finish within {timeout:?}"
        ))),
    }
}

/// Drops a librdkafka client on the blocking pool (destroying one waits for its threads).
fn drop_off_runtime<T: Send + 'static>(value: T) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn_blocking(move || drop(value));
        }
        Err(_) => drop(value),
    }
}

/// Owns a librdkafka client (or an `Arc` of one) and, when dropped, drops it on the blocking
/// pool. Holding the value itself (not a clone) is what makes the final drop happen there.
struct OffRuntime<T: Send + 'static>(Option<T>);

impl<T: Send + 'static> OffRuntime<T> {
    fn new(value: T) -> Self {
        OffRuntime(Some(value))
    }
}

impl<T: Send + 'static> std::ops::Deref for OffRuntime<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.0.as_ref().expect("present until dropped")
    }
}

impl<T: Send + 'static> Drop for OffRuntime<T> {
    fn drop(&mut self) {
        if let Some(value) = self.0.take() {
            drop_off_runtime(value);
        }
    }
}

/// The Kafka backend. Cheap to share behind an `Arc`; see the module docs for its parts.
#[derive(Debug)]
pub struct KafkaLog {
    options: Arc<KafkaOptions>,
    admin: Arc<Admin>,
    producer: Appender,
    readers: Arc<Readers>,
}

/// The producer [`KafkaOptions::producer`] chose.
#[derive(Debug)]
enum Appender {
    Librdkafka(Producer),
    Native(NativeProducer),
}

impl KafkaLog {
    /// Connects to the brokers and checks they answer within `connect_timeout`.
    ///
    /// Fails with a retryable [`LogError::Unavailable`] when they do not, and with
    /// [`LogError::Fatal`] for options that cannot work. Never waits longer than the timeout.
    pub async fn connect(options: KafkaOptions) -> Result<KafkaLog, LogError> {
        options.check()?;
        let options = Arc::new(options);
        let admin = Arc::new(Admin::new(options.clone())?);
        let timeout = options.connect_timeout;
        let servers = options.bootstrap_servers.clone();
        if let Err(err) = admin.ping(timeout).await {
            return Err(LogError::Unavailable(format!(
                "kafka brokers at {servers} did not answer within {timeout:?}: {err}"
            )));
        }
        let producer = match options.resolved_producer() {
            ProducerKind::Librdkafka | ProducerKind::Auto => {
                Appender::Librdkafka(Producer::new(options.clone(), admin.clone())?)
            }
            ProducerKind::Native => {
                Appender::Native(NativeProducer::new(options.clone(), admin.clone()))
            }
        };
        let readers = Arc::new(Readers::new(options.clone(), admin.clone()));
        Ok(KafkaLog {
            options,
            admin,
            producer,
            readers,
        })
    }

    /// The options this log was connected with.
    pub fn options(&self) -> &KafkaOptions {
        &self.options
    }
}

#[async_trait]
impl EventLog for KafkaLog {
    fn backend(&self) -> &'static str {
        "kafka"
    }

    async fn create_topic(&self, spec: &TopicSpec) -> Result<(), LogError> {
        self.admin.create_topic(spec).await
    }

    async fn delete_topic(&self, topic: &str) -> Result<(), LogError> {
        self.readers.close_idle().await;
        self.admin.delete_topic(topic).await
    }

    async fn list_topics(&self) -> Result<Vec<TopicDescription>, LogError> {
        self.admin.list_topics().await
    }

    async fn describe_topic(&self, topic: &str) -> Result<TopicDescription, LogError> {
        self.admin.describe_topic(topic).await
    }

    async fn append(
        &self,
        topic: &str,
        records: Vec<Record>,
    ) -> Result<Vec<AppendResult>, LogError> {
        match &self.producer {
            Appender::Librdkafka(producer) => producer.append(topic, records).await,
            Appender::Native(producer) => producer.append(topic, records).await,
        }
    }

    async fn read(
        &self,
        topic: &str,
        partition: u32,
        offset: i64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>, LogError> {
        self.readers
            .read(topic, partition, offset, max_records)
            .await
    }

    async fn offset_for_time(
        &self,
        topic: &str,
        partition: u32,
        timestamp_ms: i64,
    ) -> Result<i64, LogError> {
        self.readers
            .offset_for_time(topic, partition, timestamp_ms)
            .await
    }

    async fn watermarks(&self, topic: &str, partition: u32) -> Result<Watermarks, LogError> {
        self.readers.watermarks(topic, partition).await
    }

    async fn subscribe(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<Box<dyn GroupConsumer>, LogError> {
        for topic in topics {
            self.admin.partition_count(topic).await?;
        }
        let member = group::KafkaGroupMember::join(&self.options, group, topics).await?;
        Ok(Box::new(member))
    }

    async fn committed_offsets(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<Vec<(u32, Option<i64>)>, LogError> {
        let partitions = self.admin.partition_count(topic).await?;
        group::committed_offsets(&self.options, group, topic, partitions).await
    }

    async fn check_health(&self) -> Result<(), LogError> {
        self.admin.ping(self.options.request_timeout).await?;
        match &self.producer {
            Appender::Librdkafka(producer) => producer.check_health(),
            Appender::Native(producer) => producer.check_health(),
        }
    }

    async fn close(&self) -> Result<(), LogError> {
        let flushed = match &self.producer {
            Appender::Librdkafka(producer) => producer.close().await,
            Appender::Native(producer) => producer.close().await,
        };
        self.readers.clear();
        flushed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_properties_are_refused() {
        for key in ["enable.idempotence", "acks", "request.required.acks"] {
            let mut options = KafkaOptions::new("127.0.0.1:9092");
            options.extra.insert(key.into(), "0".into());
            let err = options.check().unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Fatal, "{key}");
            assert!(err.to_string().contains(key));
        }
        let mut options = KafkaOptions::new("127.0.0.1:9092");
        options
            .extra
            .insert("compression.type".into(), "lz4".into());
        assert!(options.check().is_ok());
    }

    #[test]
    fn the_native_producer_refuses_tls_sasl_and_compression_and_auto_avoids_it() {
        for (key, value) in [
            ("security.protocol", "SASL_SSL"),
            ("ssl.ca.location", "/etc/ca.pem"),
            ("sasl.username", "u"),
            ("compression.type", "zstd"),
        ] {
            let mut options = KafkaOptions::new("127.0.0.1:9092");
            options.extra.insert(key.into(), value.into());
            assert_eq!(
                options.resolved_producer(),
                ProducerKind::Librdkafka,
                "{key}"
            );
            options.producer = ProducerKind::Native;
            let err = options.check().unwrap_err();
            assert!(err.to_string().contains("plaintext only"), "{key}: {err}");
        }
        let options = KafkaOptions::new("127.0.0.1:9092");
        assert_eq!(options.producer, ProducerKind::Auto);
        assert_eq!(options.resolved_producer(), ProducerKind::Native);
        let mut options = KafkaOptions::new("127.0.0.1:9092");
        options.producer = ProducerKind::Native;
        options
            .extra
            .insert("security.protocol".into(), "plaintext".into());
        assert!(options.check().is_ok());
        assert_eq!("native".parse(), Ok(ProducerKind::Native));
        assert_eq!("auto".parse(), Ok(ProducerKind::Auto));
        assert!("rdkafka".parse::<ProducerKind>().is_err());
    }

    #[test]
    fn reconnect_backoff_is_capped_at_a_second_unless_overridden() {
        let options = KafkaOptions::new("127.0.0.1:9092");
        let config = options.base_config();
        assert_eq!(config.get("reconnect.backoff.max.ms"), Some("1000"));
        let mut options = KafkaOptions::new("127.0.0.1:9092");
        options
            .extra
            .insert("reconnect.backoff.max.ms".into(), "5000".into());
        let config = options.base_config();
        assert_eq!(config.get("reconnect.backoff.max.ms"), Some("5000"));
    }

    #[tokio::test]
    async fn connect_to_nothing_fails_fast_and_retryably() {
        // A port nothing listens on: connect must give up within its timeout.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let mut options = KafkaOptions::new(format!("127.0.0.1:{port}"));
        options.connect_timeout = Duration::from_secs(2);
        let started = std::time::Instant::now();
        let err = KafkaLog::connect(options).await.unwrap_err();
        assert!(err.is_retryable(), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{err}");
    }
}
