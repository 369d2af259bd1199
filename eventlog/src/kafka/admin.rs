//! Topics: creation, deletion, description, and the cached partition counts every other part
//! of the backend needs.
//!
//! Retention is stored as the topic configs `retention.ms` and `retention.bytes` (`-1`:
//! unlimited) with `cleanup.policy=delete`, and read back with DescribeConfigs. Internal topics
//! (names starting with `__`) are never listed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::admin::{
    AdminClient, AdminOptions, ConfigResource, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::metadata::Metadata;

use super::{KafkaOptions, OffRuntime, blocking, errors};
use crate::record::validate_topic_name;
use crate::{LogError, Retention, TopicDescription, TopicSpec};

/// How often to look at metadata while waiting for a topic to appear or disappear.
const PROPAGATION_POLL: Duration = Duration::from_millis(50);

/// The admin client and the partition-count cache.
pub(super) struct Admin {
    options: Arc<KafkaOptions>,
    client: OffRuntime<Arc<AdminClient<DefaultClientContext>>>,
    partitions: Mutex<HashMap<String, (u32, Instant)>>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("bootstrap_servers", &self.options.bootstrap_servers)
            .finish_non_exhaustive()
    }
}

/// What metadata says about one topic.
enum TopicState {
    Exists(u32),
    Missing,
}

impl Admin {
    pub(super) fn new(options: Arc<KafkaOptions>) -> Result<Self, LogError> {
        let client: AdminClient<DefaultClientContext> = options
            .base_config()
            .create()
            .map_err(|e| errors::from_kafka(&e, "create kafka admin client"))?;
        Ok(Admin {
            options,
            client: OffRuntime::new(Arc::new(client)),
            partitions: Mutex::new(HashMap::new()),
        })
    }

    fn admin_options(&self) -> AdminOptions {
        AdminOptions::new()
            .request_timeout(Some(self.options.request_timeout))
            .operation_timeout(Some(self.options.request_timeout))
    }

    /// Waits for an admin future, bounded by the request timeout.
    async fn admin_call<T>(
        &self,
        what: &str,
        call: impl Future<Output = rdkafka::error::KafkaResult<T>>,
    ) -> Result<T, LogError> {
        let limit = self.options.request_timeout + Duration::from_secs(2);
        match tokio::time::timeout(limit, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(errors::from_kafka(&err, what)),
            Err(_) => Err(LogError::Timeout(format!(
                "{what} did not finish within {limit:?}"
            ))),
        }
    }

    /// Metadata for one topic (`Some`) or all topics (`None`), on the blocking pool.
    async fn metadata(&self, topic: Option<&str>, timeout: Duration) -> Result<Metadata, LogError> {
        let client = Arc::clone(&self.client);
        let topic = topic.map(str::to_owned);
        blocking(
            "kafka metadata",
            timeout + Duration::from_secs(1),
            move || {
                client
                    .inner()
                    .fetch_metadata(topic.as_deref(), timeout)
                    .map_err(|e| errors::from_kafka(&e, "kafka metadata"))
            },
        )
        .await
    }

    /// Asks the brokers for metadata: the cheapest request every broker answers.
    pub(super) async fn ping(&self, timeout: Duration) -> Result<(), LogError> {
        self.metadata(None, timeout).await.map(|_| ())
    }

    async fn topic_state(&self, topic: &str) -> Result<TopicState, LogError> {
        let metadata = self
            .metadata(Some(topic), self.options.request_timeout)
            .await?;
        let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
            return Ok(TopicState::Missing);
        };
        if let Some(err) = found.error() {
            let code = RDKafkaErrorCode::from(err);
            return match code {
                RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => {
                    Ok(TopicState::Missing)
                }
                // Leaders moving: the topic exists; use what the partitions say.
                RDKafkaErrorCode::LeaderNotAvailable if !found.partitions().is_empty() => {
                    Ok(TopicState::Exists(found.partitions().len() as u32))
                }
                _ => Err(errors::from_code(code, &format!("metadata of {topic:?}"))),
            };
        }
        if found.partitions().is_empty() {
            return Ok(TopicState::Missing);
        }
        Ok(TopicState::Exists(found.partitions().len() as u32))
    }

    /// The topic's partition count, from the cache when fresh, else from the brokers.
    /// Unknown topics are [`LogError::UnknownTopic`].
    pub(super) async fn partition_count(&self, topic: &str) -> Result<u32, LogError> {
        if let Some(count) = self.cached(topic) {
            return Ok(count);
        }
        match self.topic_state(topic).await? {
            TopicState::Exists(count) => {
                self.remember(topic, count);
                Ok(count)
            }
            TopicState::Missing => {
                self.forget(topic);
                Err(LogError::UnknownTopic(topic.to_owned()))
            }
        }
    }

    /// Checks `partition` exists in `topic`.
    pub(super) async fn check_partition(
        &self,
        topic: &str,
        partition: u32,
    ) -> Result<(), LogError> {
        let mut count = self.partition_count(topic).await?;
        if partition >= count {
            // The cache may predate added partitions: ask once more.
            self.forget(topic);
            count = self.partition_count(topic).await?;
        }
        if partition >= count {
            return Err(LogError::UnknownPartition {
                topic: topic.to_owned(),
                partition,
            });
        }
        Ok(())
    }

    fn cached(&self, topic: &str) -> Option<u32> {
        let cache = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        let (count, at) = cache.get(topic)?;
        (at.elapsed() < self.options.metadata_max_age).then_some(*count)
    }

    fn remember(&self, topic: &str, count: u32) {
        let mut cache = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        cache.insert(topic.to_owned(), (count, Instant::now()));
    }

    pub(super) fn forget(&self, topic: &str) {
        let mut cache = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        cache.remove(topic);
    }

    pub(super) async fn create_topic(&self, spec: &TopicSpec) -> Result<(), LogError> {
        spec.validate()?;
        let retention_ms = spec
            .retention
            .time
            .map_or_else(|| "-1".to_owned(), |t| t.as_millis().to_string());
        let retention_bytes = spec
            .retention
            .bytes
            .map_or_else(|| "-1".to_owned(), |b| b.to_string());
        let replication = TopicReplication::Fixed(self.options.replication_factor.unwrap_or(-1));
        let new_topic = NewTopic::new(&spec.name, spec.partitions as i32, replication)
            .set("cleanup.policy", "delete")
            .set("retention.ms", &retention_ms)
            .set("retention.bytes", &retention_bytes);
        let what = format!("create topic {:?}", spec.name);
        let results = self
            .admin_call(
                &what,
                self.client
                    .create_topics([&new_topic], &self.admin_options()),
            )
            .await?;
        for result in results {
            if let Err((name, code)) = result {
                return Err(match code {
                    RDKafkaErrorCode::TopicAlreadyExists => LogError::TopicExists(name),
                    RDKafkaErrorCode::InvalidTopic
                    | RDKafkaErrorCode::InvalidPartitions
                    | RDKafkaErrorCode::InvalidReplicationFactor
                    | RDKafkaErrorCode::InvalidReplicaAssignment
                    | RDKafkaErrorCode::InvalidConfig
                    | RDKafkaErrorCode::PolicyViolation => LogError::InvalidTopic(format!(
                        "{name:?}: {}",
                        code.to_string().to_lowercase()
                    )),
                    _ => errors::from_code(code, &what),
                });
            }
        }
        // Creation propagates asynchronously: wait until metadata shows every partition, so
        // the next append or read does not race it.
        let deadline = Instant::now() + self.options.request_timeout;
        loop {
            if let TopicState::Exists(count) = self.topic_state(&spec.name).await?
                && count >= spec.partitions
            {
                self.remember(&spec.name, count);
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(LogError::Timeout(format!(
                    "topic {:?} was created but did not appear in metadata",
                    spec.name
                )));
            }
            tokio::time::sleep(PROPAGATION_POLL).await;
        }
    }

    pub(super) async fn delete_topic(&self, topic: &str) -> Result<(), LogError> {
        if validate_topic_name(topic).is_err() {
            return Err(LogError::UnknownTopic(topic.to_owned()));
        }
        self.forget(topic);
        if let TopicState::Missing = self.topic_state(topic).await? {
            return Err(LogError::UnknownTopic(topic.to_owned()));
        }
        let what = format!("delete topic {topic:?}");
        let results = self
            .admin_call(
                &what,
                self.client.delete_topics(&[topic], &self.admin_options()),
            )
            .await?;
        for result in results {
            if let Err((name, code)) = result {
                return Err(match code {
                    RDKafkaErrorCode::UnknownTopicOrPartition => LogError::UnknownTopic(name),
                    _ => errors::from_code(code, &what),
                });
            }
        }
        self.forget(topic);
        let deadline = Instant::now() + self.options.request_timeout;
        while let TopicState::Exists(_) = self.topic_state(topic).await? {
            if Instant::now() > deadline {
                return Err(LogError::Timeout(format!(
                    "topic {topic:?} was deleted but is still in metadata"
                )));
            }
            tokio::time::sleep(PROPAGATION_POLL).await;
        }
        Ok(())
    }

    pub(super) async fn describe_topic(&self, topic: &str) -> Result<TopicDescription, LogError> {
        self.forget(topic);
        let partitions = self.partition_count(topic).await?;
        let mut retention = self.retention_of(&[topic.to_owned()]).await?;
        Ok(TopicDescription {
            name: topic.to_owned(),
            partitions,
            retention: retention.remove(topic).unwrap_or_default(),
        })
    }

    pub(super) async fn list_topics(&self) -> Result<Vec<TopicDescription>, LogError> {
        let metadata = self.metadata(None, self.options.request_timeout).await?;
        let mut topics: Vec<(String, u32)> = Vec::new();
        for topic in metadata.topics() {
            if topic.name().starts_with("__") || topic.error().is_some() {
                continue;
            }
            topics.push((topic.name().to_owned(), topic.partitions().len() as u32));
        }
        topics.sort();
        let names: Vec<String> = topics.iter().map(|(n, _)| n.clone()).collect();
        let mut retention = if names.is_empty() {
            HashMap::new()
        } else {
            self.retention_of(&names).await?
        };
        let mut out = Vec::with_capacity(topics.len());
        for (name, partitions) in topics {
            self.remember(&name, partitions);
            let retention = retention.remove(&name).unwrap_or_default();
            out.push(TopicDescription {
                name,
                partitions,
                retention,
            });
        }
        Ok(out)
    }

    /// Retention of each topic, from DescribeConfigs (one request for all of them).
    async fn retention_of(
        &self,
        topics: &[String],
    ) -> Result<HashMap<String, Retention>, LogError> {
        let specifiers: Vec<ResourceSpecifier<'_>> = topics
            .iter()
            .map(|t| ResourceSpecifier::Topic(t.as_str()))
            .collect();
        let results = self
            .admin_call(
                "describe topic configs",
                self.client
                    .describe_configs(specifiers.iter(), &self.admin_options()),
            )
            .await?;
        let mut out = HashMap::new();
        for (topic, result) in topics.iter().zip(results) {
            match result {
                Ok(resource) => {
                    out.insert(topic.clone(), retention_from(&resource));
                }
                Err(RDKafkaErrorCode::UnknownTopicOrPartition) => {
                    return Err(LogError::UnknownTopic(topic.clone()));
                }
                Err(code) => {
                    return Err(errors::from_code(
                        code,
                        &format!("describe configs of {topic:?}"),
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// Reads `retention.ms` / `retention.bytes`; absent, negative or unparsable means no limit.
fn retention_from(resource: &ConfigResource) -> Retention {
    let value = |name: &str| -> Option<u64> {
        let raw = resource.get(name)?.value.as_deref()?;
        let parsed: i64 = raw.trim().parse().ok()?;
        u64::try_from(parsed).ok()
    };
    Retention {
        time: value("retention.ms").map(Duration::from_millis),
        bytes: value("retention.bytes"),
    }
}
