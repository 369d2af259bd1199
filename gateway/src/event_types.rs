//! The seam to event-type metadata: which types exist, where they go, how strictly they are
//! checked. The binary gives the gateway the catalog's event types (implemented here for
//! `tributary_registry::EventTypes`); the gateway caches whatever implementation it is given
//! for a short TTL.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tributary_core::EventTypeName;

use crate::GatewayError;

/// How strictly events of a type are held to their schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforcement {
    /// A failing event is rejected and dead-lettered.
    Enforce,
    /// A failing event is accepted, with its violations in the verdict and a header.
    Warn,
    /// As `Enforce`, and each event is also checked against `candidate_version` of the
    /// subject; what that version would reject is reported, nothing else changes. While the
    /// candidate is the subject's latest version, events pinning no version are held to the
    /// newest version before it (the candidate is not in force yet). Without a candidate it
    /// acts as `Enforce`.
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
                candidate_version: found.shadow_version,
            },
        };
        Ok(Some(EventTypeInfo {
            name: name.clone(),
            topic: self.topic(name),
            subject: self.subject(name),
            enforcement,
            partition_key: found.partition_key,
            max_event_bytes: found.max_event_bytes.and_then(|n| usize::try_from(n).ok()),
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
