//! The seam to event-type metadata: which types exist, where they go, how strictly they are
//! checked. [`RegistrySubjects`] is the stand-in until the event-type service exists; the
//! gateway caches whatever implementation it is given for a short TTL.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tributary_core::EventTypeName;
use tributary_eventlog::{EventLog, LogError, Retention, TopicSpec};
use tributary_registry::{Registry, RegistryError};

use crate::GatewayError;

/// How strictly events of a type are held to their schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforcement {
    /// A failing event is rejected and dead-lettered.
    Enforce,
    /// A failing event is accepted, with its violations in the verdict and a header.
    Warn,
    /// As `Enforce`, and each event is also checked against `candidate_version` of the
    /// subject; what that version would reject is reported, nothing else changes. Without a
    /// candidate (the catalog cannot name one yet) it acts as `Enforce`.
    Shadow { candidate_version: Option<i32> },
}

/// What the gateway needs to know about one event type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypeInfo {
    pub name: EventTypeName,
    /// The topic its events go to.
    pub topic: String,
    /// The schema-registry subject its events are validated against.
    pub subject: String,
    pub enforcement: Enforcement,
    /// JSON pointer (RFC 6901) of the field whose value is the record key.
    pub partition_key: Option<String>,
    /// Overrides [`crate::GatewayLimits::max_event_bytes`] for this type.
    pub max_event_bytes: Option<usize>,
}

/// Where event-type metadata comes from.
#[async_trait]
pub trait EventTypes: Send + Sync + std::fmt::Debug {
    /// The type called `name`, or `None` if no such type exists.
    async fn resolve(&self, name: &EventTypeName) -> Result<Option<EventTypeInfo>, GatewayError>;
}

/// Event types as the schema registry implies them: a type exists when its subject
/// `{topic_prefix}{type}-value` has a live schema; it is `Enforce`d, keyless, and its topic
/// `{topic_prefix}{type}` is created in the log on first use.
#[derive(Debug)]
pub struct RegistrySubjects {
    registry: Registry,
    log: Arc<dyn EventLog>,
    topic_prefix: String,
    partitions: u32,
    retention: Retention,
    created: Mutex<HashSet<String>>,
}

impl RegistrySubjects {
    /// New topics get `partitions` partitions.
    pub fn new(
        registry: Registry,
        log: Arc<dyn EventLog>,
        topic_prefix: impl Into<String>,
        partitions: u32,
    ) -> RegistrySubjects {
        RegistrySubjects {
            registry,
            log,
            topic_prefix: topic_prefix.into(),
            partitions,
            retention: Retention::default(),
            created: Mutex::new(HashSet::new()),
        }
    }

    /// New topics keep records for `retention` (default: no limit).
    pub fn with_retention(mut self, retention: Retention) -> RegistrySubjects {
        self.retention = retention;
        self
    }

    async fn ensure_topic(&self, topic: &str) -> Result<(), GatewayError> {
        if self
            .created
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(topic)
        {
            return Ok(());
        }
        match self
            .log
            .create_topic(&TopicSpec::new(topic, self.partitions).with_retention(self.retention))
            .await
        {
            Ok(()) | Err(LogError::TopicExists(_)) => {}
            Err(error) => return Err(GatewayError::from_log(error, Vec::new())),
        }
        self.created
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(topic.to_owned());
        Ok(())
    }
}

#[async_trait]
impl EventTypes for RegistrySubjects {
    async fn resolve(&self, name: &EventTypeName) -> Result<Option<EventTypeInfo>, GatewayError> {
        let subject = name.subject(&self.topic_prefix);
        match self.registry.latest(&subject).await {
            Ok(_) => {}
            Err(RegistryError::SubjectNotFound(_)) => return Ok(None),
            Err(error) => return Err(GatewayError::Registry(error.to_string())),
        }
        let topic = name.topic(&self.topic_prefix);
        self.ensure_topic(&topic).await?;
        Ok(Some(EventTypeInfo {
            name: name.clone(),
            topic,
            subject,
            enforcement: Enforcement::Enforce,
            partition_key: None,
            max_event_bytes: None,
        }))
    }
}

/// The catalog's event types (`/v1/event-types`): a type exists once it was created there,
/// with its topic, enforcement mode and partition key.
#[async_trait]
impl EventTypes for tributary_registry::EventTypes {
    async fn resolve(&self, name: &EventTypeName) -> Result<Option<EventTypeInfo>, GatewayError> {
        let found = match self.get(name.as_str()).await {
            Ok(found) => found,
            Err(tributary_registry::EventTypeError::NotFound(_)) => return Ok(None),
            Err(error) => return Err(GatewayError::Registry(error.to_string())),
        };
        let enforcement = match found.enforcement {
            tributary_registry::Enforcement::Enforce => Enforcement::Enforce,
            tributary_registry::Enforcement::Warn => Enforcement::Warn,
            tributary_registry::Enforcement::Shadow => Enforcement::Shadow {
                candidate_version: None,
            },
        };
        Ok(Some(EventTypeInfo {
            name: name.clone(),
            topic: self.topic(name),
            subject: self.subject(name),
            enforcement,
            partition_key: found.partition_key,
            max_event_bytes: None,
        }))
    }
}

/// Most names remembered; past it the cache starts over (so made-up names cannot grow it).
const MAX_CACHED: usize = 10_000;

/// One remembered answer and when it was fetched.
type Cached = (Instant, Option<Arc<EventTypeInfo>>);

/// Answers of an [`EventTypes`], each trusted for `ttl` (unknown names too, so a flood of
/// made-up names costs one lookup each per TTL at most).
#[derive(Debug)]
pub(crate) struct CachedEventTypes {
    inner: Arc<dyn EventTypes>,
    ttl: Duration,
    entries: RwLock<HashMap<EventTypeName, Cached>>,
}

impl CachedEventTypes {
    pub(crate) fn new(inner: Arc<dyn EventTypes>, ttl: Duration) -> CachedEventTypes {
        CachedEventTypes {
            inner,
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    pub(crate) async fn resolve(
        &self,
        name: &EventTypeName,
    ) -> Result<Option<Arc<EventTypeInfo>>, GatewayError> {
        if let Some((at, info)) = self
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            && at.elapsed() < self.ttl
        {
            return Ok(info.clone());
        }
        let info = self.inner.resolve(name).await?.map(Arc::new);
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_CACHED {
            entries.clear();
        }
        entries.insert(name.clone(), (Instant::now(), info.clone()));
        Ok(info)
    }
}
