//! Which schema an event is checked against: the subject's latest version or a pinned one,
//! resolved through the registry and remembered for a short TTL so the hot path does no SQL.
//! Compiled validators come from the registry's own cache, by schema id.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tributary_registry::{CompiledSchema, Registry, RegistryError, SchemaId, VersionSpec};

use crate::GatewayError;

/// A schema ready to check events with.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedSchema {
    pub(crate) id: SchemaId,
    pub(crate) version: i32,
    pub(crate) compiled: Arc<CompiledSchema>,
}

/// Most (subject, version) answers remembered; past it the cache starts over.
const MAX_CACHED: usize = 10_000;

/// A subject and a pinned version (`None`: the latest).
type VersionKey = (String, Option<i32>);

#[derive(Debug)]
pub(crate) struct Schemas {
    registry: Registry,
    ttl: Duration,
    versions: RwLock<HashMap<VersionKey, (Instant, SchemaId, i32)>>,
}

impl Schemas {
    pub(crate) fn new(registry: Registry, ttl: Duration) -> Schemas {
        Schemas {
            registry,
            ttl,
            versions: RwLock::new(HashMap::new()),
        }
    }

    /// `subject`'s latest live version, or version `pinned`.
    pub(crate) async fn resolve(
        &self,
        subject: &str,
        pinned: Option<i32>,
    ) -> Result<ResolvedSchema, GatewayError> {
        let key = (subject.to_owned(), pinned);
        let cached = self
            .versions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .filter(|(at, _, _)| at.elapsed() < self.ttl)
            .map(|&(_, id, version)| (id, version));
        let (id, version) = match cached {
            Some(hit) => hit,
            None => {
                let spec = pinned.map_or(VersionSpec::Latest, VersionSpec::Number);
                let found =
                    self.registry
                        .version(subject, spec, false)
                        .await
                        .map_err(|e| match e {
                            RegistryError::SubjectNotFound(_) => {
                                GatewayError::NoSchema(subject.into())
                            }
                            RegistryError::VersionNotFound(version) => {
                                GatewayError::UnknownSchemaVersion {
                                    subject: subject.into(),
                                    version,
                                }
                            }
                            other => GatewayError::Registry(other.to_string()),
                        })?;
                let mut versions = self
                    .versions
                    .write()
                    .unwrap_or_else(PoisonError::into_inner);
                if versions.len() >= MAX_CACHED {
                    versions.clear();
                }
                versions.insert(key, (Instant::now(), found.schema.id, found.version));
                (found.schema.id, found.version)
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
}
