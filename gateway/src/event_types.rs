//! The seam to event-type metadata: which types exist, where they go, how strictly they are
//! checked. The binary gives the gateway the catalog's event types (implemented here for
//! `tributary_registry::EventTypes`); the gateway caches whatever implementation it is given
//! for a short TTL, refreshed ahead of expiry (see `crate::fresh`).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use tributary_core::EventTypeName;

use crate::GatewayError;
use crate::fresh::{Age, Fills, Stamp, Turn};

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
type Cached = (Stamp, Option<Arc<EventTypeInfo>>);

/// Answers of an [`EventTypes`], each trusted for `ttl` (unknown names too, so a flood of
/// made-up names costs one lookup each per TTL at most).
#[derive(Debug)]
pub(crate) struct CachedEventTypes {
    inner: Arc<dyn EventTypes>,
    ttl: Duration,
    entries: RwLock<HashMap<EventTypeName, Cached>>,
    fills: Fills<EventTypeName>,
}

impl CachedEventTypes {
    pub(crate) fn new(inner: Arc<dyn EventTypes>, ttl: Duration) -> CachedEventTypes {
        CachedEventTypes {
            inner,
            ttl,
            entries: RwLock::new(HashMap::new()),
            fills: Fills::new(ttl),
        }
    }

    pub(crate) async fn resolve(
        &self,
        name: &EventTypeName,
    ) -> Result<Option<Arc<EventTypeInfo>>, GatewayError> {
        // While this request refreshes, `_claim` keeps the others from doing the same.
        let (kept, _claim) = match self.kept(name) {
            Some((Age::Fresh, info)) => return Ok(info),
            Some((Age::Refresh(claim), info)) => (Some(info), Some(claim)),
            Some((Age::Expired, _)) | None => (None, None),
        };
        // Nothing to serve meanwhile: one request looks it up, the others wait and use its
        // answer (see `crate::fresh`).
        let _fill = match kept {
            None => match self.fills.turn(name, || self.fresh(name)).await {
                Turn::Served(info) => return Ok(info),
                Turn::LookUp(fill) => Some(fill),
            },
            Some(_) => None,
        };
        let info = match self.inner.resolve(name).await {
            Ok(info) => info.map(Arc::new),
            Err(error) => {
                let Some(info) = kept else {
                    return Err(error);
                };
                tracing::warn!(event_type = name.as_str(), %error, "cannot look the event type up again; using what was read before");
                return Ok(info);
            }
        };
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_CACHED {
            entries.clear();
        }
        entries.insert(name.clone(), (Stamp::now(), info.clone()));
        Ok(info)
    }

    /// The kept answer for `name`, if it may be used as it is.
    fn fresh(&self, name: &EventTypeName) -> Option<Option<Arc<EventTypeInfo>>> {
        match self.kept(name)? {
            (Age::Fresh, info) => Some(info),
            _ => None,
        }
    }

    fn kept(&self, name: &EventTypeName) -> Option<(Age, Option<Arc<EventTypeInfo>>)> {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .map(|(stamp, info)| (stamp.check(self.ttl), info.clone()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;

    /// Event types that count their lookups, and fail them on demand.
    #[derive(Debug, Default)]
    struct Counting {
        lookups: AtomicUsize,
        failing: AtomicBool,
        /// How long each lookup takes.
        takes: Duration,
    }

    #[async_trait]
    impl EventTypes for Counting {
        async fn resolve(
            &self,
            name: &EventTypeName,
        ) -> Result<Option<EventTypeInfo>, GatewayError> {
            let n = self.lookups.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(self.takes).await;
            if self.failing.load(Ordering::SeqCst) {
                return Err(GatewayError::Registry("the database is away".into()));
            }
            Ok(Some(EventTypeInfo {
                name: name.clone(),
                topic: format!("topic-{n}"),
                subject: format!("{name}-value"),
                enforcement: Enforcement::Enforce,
                partition_key: None,
                max_event_bytes: None,
            }))
        }
    }

    const TTL: Duration = Duration::from_secs(60);

    /// Ages the kept answer for `name` by `age`, as if it had been read that long ago.
    fn age(cache: &CachedEventTypes, name: &EventTypeName, age: Duration) {
        let mut entries = cache.entries.write().unwrap();
        let entry = entries.get_mut(name).unwrap();
        entry.0 = Stamp::aged(age);
    }

    async fn topic(cache: &CachedEventTypes, name: &EventTypeName) -> Result<String, GatewayError> {
        Ok(cache.resolve(name).await?.unwrap().topic.clone())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_that_miss_together_share_one_lookup() {
        let inner = Arc::new(Counting {
            takes: Duration::from_millis(50),
            ..Counting::default()
        });
        let cache = Arc::new(CachedEventTypes::new(inner.clone(), TTL));
        let name = EventTypeName::parse("shop.order_placed").unwrap();
        let requests: Vec<_> = (0..64)
            .map(|_| {
                let (cache, name) = (Arc::clone(&cache), name.clone());
                tokio::spawn(async move { topic(&cache, &name).await.unwrap() })
            })
            .collect();
        for request in requests {
            assert_eq!(request.await.unwrap(), "topic-1");
        }
        assert_eq!(inner.lookups.load(Ordering::SeqCst), 1);
        assert_eq!(cache.fills.pending(), 0);
    }

    #[tokio::test]
    async fn a_type_is_looked_up_again_ahead_of_expiry_by_one_request() {
        let inner = Arc::new(Counting::default());
        let cache = CachedEventTypes::new(inner.clone(), TTL);
        let name = EventTypeName::parse("shop.order_placed").unwrap();
        let lookups = || inner.lookups.load(Ordering::SeqCst);

        assert_eq!(topic(&cache, &name).await.unwrap(), "topic-1");
        assert_eq!(topic(&cache, &name).await.unwrap(), "topic-1");
        assert_eq!(lookups(), 1);

        // In the second half of the TTL the next request looks it up again; the ones after
        // it use the new answer.
        age(&cache, &name, TTL / 2 + Duration::from_secs(1));
        assert_eq!(topic(&cache, &name).await.unwrap(), "topic-2");
        assert_eq!(topic(&cache, &name).await.unwrap(), "topic-2");
        assert_eq!(lookups(), 2);

        // A refresh that fails keeps the answer (it is within the TTL) and lets the next
        // request try again.
        inner.failing.store(true, Ordering::SeqCst);
        age(&cache, &name, TTL / 2 + Duration::from_secs(1));
        assert_eq!(topic(&cache, &name).await.unwrap(), "topic-2");
        assert_eq!(topic(&cache, &name).await.unwrap(), "topic-2");
        assert_eq!(lookups(), 4);

        // Past the TTL a failed lookup is the request's error.
        age(&cache, &name, TTL);
        assert!(matches!(
            topic(&cache, &name).await,
            Err(GatewayError::Registry(_))
        ));
        inner.failing.store(false, Ordering::SeqCst);
        assert_eq!(topic(&cache, &name).await.unwrap(), "topic-6");
    }
}
