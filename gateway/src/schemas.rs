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
use crate::fresh::{Age, Fills, Stamp};

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
}

impl Schemas {
    pub(crate) fn new(registry: Registry, ttl: Duration) -> Schemas {
        Schemas {
            registry,
            ttl,
            versions: RwLock::new(HashMap::new()),
            fills: Fills::default(),
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
        let cold = matches!(kept, None | Some((Age::Expired, _)));
        let _fill = if cold && !self.ttl.is_zero() {
            let fill = self.fills.wait(&key).await;
            kept = self.kept(&key);
            Some(fill)
        } else {
            None
        };
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
