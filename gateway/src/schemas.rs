//! Which schema an event is checked against: the subject's latest version or a pinned one,
//! resolved through the registry and remembered for a short TTL so the hot path does no SQL
//! (refreshed ahead of expiry, see `crate::fresh`).
//! Compiled validators come from the registry's own cache, by schema id.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tributary_registry::{
    CompiledSchema, DeletedFilter, Registry, RegistryError, SchemaId, VersionSpec,
};

use crate::GatewayError;
use crate::fresh::{Age, Fills, Stamp, Turn};

/// A schema ready to check events with.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedSchema {
    pub(crate) id: SchemaId,
    pub(crate) version: i32,
    pub(crate) compiled: Arc<CompiledSchema>,
}

/// Most (subject, version) answers remembered; past it the cache starts over.
const MAX_CACHED: usize = 10_000;

/// Which version of a subject a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Pin {
    /// The latest live version.
    Latest,
    /// The newest live version other than this candidate (see `Enforcement::Shadow`): the
    /// latest, unless the candidate is the latest, then the newest one before it.
    InForceBefore(i32),
    /// This version number.
    Version(i32),
    /// The version of the subject that holds this schema id (Confluent-framed bodies).
    SchemaId(SchemaId),
}

type VersionKey = (String, Pin);

#[derive(Debug)]
pub(crate) struct Schemas {
    registry: Registry,
    ttl: Duration,
    versions: RwLock<HashMap<VersionKey, (Stamp, SchemaId, i32)>>,
    fills: Fills<VersionKey>,
    /// Lookups made, for the tests of the cache.
    #[cfg(test)]
    lookups: std::sync::atomic::AtomicUsize,
}

impl Schemas {
    pub(crate) fn new(registry: Registry, ttl: Duration) -> Schemas {
        Schemas {
            registry,
            ttl,
            versions: RwLock::new(HashMap::new()),
            fills: Fills::new(ttl),
            #[cfg(test)]
            lookups: Default::default(),
        }
    }

    /// `subject`'s latest live version, or version `pinned`.
    pub(crate) async fn resolve(
        &self,
        subject: &str,
        pinned: Option<i32>,
    ) -> Result<ResolvedSchema, GatewayError> {
        self.resolve_pin(subject, pinned.map_or(Pin::Latest, Pin::Version))
            .await
    }

    pub(crate) async fn resolve_pin(
        &self,
        subject: &str,
        pin: Pin,
    ) -> Result<ResolvedSchema, GatewayError> {
        let key = (subject.to_owned(), pin);
        let mut kept = self.kept(&key);
        // Nothing to serve meanwhile: one request looks it up, the others wait and use its
        // answer (see `crate::fresh`).
        let mut _fill = None;
        if let None | Some((Age::Expired, _)) = kept {
            let fresh = || match self.kept(&key) {
                Some((Age::Fresh, hit)) => Some(hit),
                _ => None,
            };
            match self.fills.turn(&key, fresh).await {
                Turn::Served(hit) => kept = Some((Age::Fresh, hit)),
                Turn::LookUp(fill) => _fill = Some(fill),
            }
        }
        let (id, version) = match kept {
            Some((Age::Fresh, hit)) => hit,
            // The claim is held until the new answer is kept, or dropped when the lookup fails.
            Some((Age::Refresh(_claim), hit)) => match self.lookup(subject, pin).await {
                Ok(found) => self.keep(key, found),
                Err(error) => {
                    tracing::warn!(subject, %error, "cannot look the schema version up again; using what was read before");
                    hit
                }
            },
            Some((Age::Expired, _)) | None => {
                let found = self.lookup(subject, pin).await.map_err(|e| match e {
                    RegistryError::SubjectNotFound(_) => GatewayError::NoSchema(subject.into()),
                    RegistryError::VersionNotFound(version) => GatewayError::UnknownSchemaVersion {
                        subject: subject.into(),
                        version,
                    },
                    RegistryError::SchemaNotFound(id) => GatewayError::UnknownSchemaId {
                        subject: subject.into(),
                        id,
                    },
                    other => GatewayError::Registry(other.to_string()),
                })?;
                self.keep(key, found)
            }
        };
        let compiled = self
            .registry
            .compiled_by_id(id)
            .await
            .map_err(|e| GatewayError::Registry(e.to_string()))?;
        Ok(ResolvedSchema {
            id,
            version,
            compiled,
        })
    }

    fn kept(&self, key: &VersionKey) -> Option<(Age, (SchemaId, i32))> {
        self.versions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .map(|(stamp, id, version)| (stamp.check(self.ttl), (*id, *version)))
    }

    /// Remembers what `key` resolved to, from now.
    fn keep(&self, key: VersionKey, found: (SchemaId, i32)) -> (SchemaId, i32) {
        let mut versions = self
            .versions
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if versions.len() >= MAX_CACHED {
            versions.clear();
        }
        versions.insert(key, (Stamp::now(), found.0, found.1));
        found
    }

    /// The schema id and version `pin` names, from the registry.
    async fn lookup(&self, subject: &str, pin: Pin) -> Result<(SchemaId, i32), RegistryError> {
        #[cfg(test)]
        self.lookups
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let spec = match pin {
            Pin::Latest => VersionSpec::Latest,
            Pin::Version(n) => VersionSpec::Number(n),
            Pin::InForceBefore(candidate) => {
                let latest = self.registry.latest(subject).await?;
                if latest.version != candidate {
                    return Ok((latest.schema.id, latest.version));
                }
                let before = self
                    .registry
                    .versions(subject, DeletedFilter::Exclude)
                    .await?
                    .into_iter()
                    .filter(|v| *v < candidate)
                    .max();
                match before {
                    Some(n) => VersionSpec::Number(n),
                    // The candidate is the only version: it is the one in force.
                    None => return Ok((latest.schema.id, latest.version)),
                }
            }
            Pin::SchemaId(id) => {
                let version = self
                    .registry
                    .versions_of_schema(i64::from(id), false)
                    .await?
                    .into_iter()
                    .filter(|(s, _)| s == subject)
                    .map(|(_, v)| v)
                    .max()
                    .ok_or(RegistryError::SchemaNotFound(i64::from(id)))?;
                VersionSpec::Number(version)
            }
        };
        let found = self.registry.version(subject, spec, false).await?;
        Ok((found.schema.id, found.version))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use tributary_core::testkit::scratch_sqlite;
    use tributary_registry::{NewSchema, RegisterOptions, SchemaType};

    use super::*;

    const SUBJECT: &str = "shop.order_placed-value";

    async fn registry_with_one_schema()
    -> (Registry, SchemaId, tributary_core::testkit::ScratchDatabase) {
        let scratch = scratch_sqlite().await;
        scratch.db.migrate().await.unwrap();
        let registry = Registry::new(scratch.db.clone());
        let schema = NewSchema {
            schema_type: SchemaType::Json,
            schema: r#"{"type": "object"}"#.to_owned(),
            references: Vec::new(),
        };
        let id = registry
            .register(SUBJECT, &schema, RegisterOptions::default())
            .await
            .unwrap();
        (registry, id, scratch)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_that_miss_together_share_one_lookup() {
        let (registry, id, _scratch) = registry_with_one_schema().await;
        let schemas = Arc::new(Schemas::new(registry, Duration::from_secs(60)));
        let requests: Vec<_> = (0..64)
            .map(|_| {
                let schemas = Arc::clone(&schemas);
                tokio::spawn(async move { schemas.resolve(SUBJECT, None).await.unwrap() })
            })
            .collect();
        for request in requests {
            let resolved = request.await.unwrap();
            assert_eq!((resolved.id, resolved.version), (id, 1));
        }
        assert_eq!(schemas.lookups.load(Ordering::SeqCst), 1);
        assert_eq!(schemas.fills.pending(), 0);
    }

    #[tokio::test]
    async fn with_a_zero_ttl_every_request_looks_up() {
        let (registry, id, _scratch) = registry_with_one_schema().await;
        let schemas = Schemas::new(registry, Duration::ZERO);
        for _ in 0..3 {
            assert_eq!(schemas.resolve(SUBJECT, None).await.unwrap().id, id);
        }
        assert_eq!(schemas.lookups.load(Ordering::SeqCst), 3);
    }
}
