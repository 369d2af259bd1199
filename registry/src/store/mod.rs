//! Storage of the schema registry in SQL (SQLite or PostgreSQL through one `AnyPool`) and
//! the registry service the REST API and the gateway call.
//!
//! Every write takes one lock row first (see [`rows::lock`]), so ids and versions are handed
//! out by one writer at a time across every instance sharing the database — the way
//! Confluent's registry funnels writes through its single leader. Reads take no lock.
//! Parsing and compatibility checks run on the blocking pool.

mod error;
mod reads;
mod rows;
mod settings;
mod types;
mod write;

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use tributary_core::Database;

use crate::cache::{SchemaId, ValidatorCache};
use crate::compat::{CompatibilityLevel, Direction, Incompatibility};
use crate::compiled::CompiledSchema;
use crate::limits::SchemaLimits;
use crate::schema::{InMemoryReferences, ParsedSchema, RegisteredSchema, SchemaReference};

pub use error::RegistryError;
pub use types::{
    CompatibilityReport, DeletedFilter, Mode, NewSchema, RegisterOptions, StoredSchema,
    SubjectVersion, VersionSpec,
};

/// The schema registry service: storage, id allocation, compatibility, and the validator
/// cache the ingest path reads compiled schemas from. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Registry {
    db: Database,
    cache: Arc<ValidatorCache>,
    limits: SchemaLimits,
}

impl Registry {
    /// A registry over a migrated database, with a default-sized validator cache.
    pub fn new(db: Database) -> Registry {
        Registry::with_cache(db, Arc::new(ValidatorCache::default()))
    }

    /// A registry sharing `cache` (e.g. with the gateway).
    pub fn with_cache(db: Database, cache: Arc<ValidatorCache>) -> Registry {
        Registry {
            db,
            cache,
            limits: SchemaLimits::default(),
        }
    }

    /// The validator cache.
    pub fn cache(&self) -> &Arc<ValidatorCache> {
        &self.cache
    }

    /// The compiled schema for `id`: from the cache when present (no parsing, no database),
    /// otherwise loaded, parsed on the blocking pool, and cached.
    pub async fn compiled_by_id(&self, id: SchemaId) -> Result<Arc<CompiledSchema>, RegistryError> {
        if let Some(hit) = self.cache.get(id) {
            return Ok(hit);
        }
        let stored = self.schema_row(id).await?;
        let (_, resolver) = self.resolve_references(&stored.references).await?;
        let cache = Arc::clone(&self.cache);
        let limits = self.limits;
        blocking(move || {
            cache.get_or_compile(id, || {
                let parsed = ParsedSchema::parse_with_limits(
                    stored.schema_type,
                    &stored.schema,
                    &stored.references,
                    &resolver,
                    &limits,
                )?;
                Ok(parsed.compiled())
            })
        })
        .await
    }

    /// Parses a submitted schema (references resolved from storage; `-1` versions made
    /// concrete), normalized when asked.
    async fn parse_new(
        &self,
        new: &NewSchema,
        normalize: bool,
    ) -> Result<ParsedSchema, RegistryError> {
        if new.schema.trim().is_empty() {
            return Err(RegistryError::EmptySchema);
        }
        let (references, resolver) = self.resolve_references(&new.references).await?;
        let limits = self.limits;
        let schema_type = new.schema_type;
        let text = new.schema.clone();
        blocking(move || {
            let parsed = ParsedSchema::parse_with_limits(
                schema_type,
                &text,
                &references,
                &resolver,
                &limits,
            )?;
            if !normalize || parsed.normalized() == parsed.canonical() {
                return Ok(parsed);
            }
            let normalized = parsed.normalized().to_string();
            Ok(ParsedSchema::parse_with_limits(
                schema_type,
                &normalized,
                &references,
                &resolver,
                &limits,
            )?)
        })
        .await
    }

    /// Parses registered schemas (for compatibility checks), in one trip to the blocking pool.
    async fn parse_stored(
        &self,
        stored: Vec<StoredSchema>,
    ) -> Result<Vec<ParsedSchema>, RegistryError> {
        let mut jobs = Vec::with_capacity(stored.len());
        for schema in stored {
            let (_, resolver) = self.resolve_references(&schema.references).await?;
            jobs.push((schema, resolver));
        }
        let limits = self.limits;
        blocking(move || {
            let mut out = Vec::with_capacity(jobs.len());
            for (schema, resolver) in &jobs {
                out.push(ParsedSchema::parse_with_limits(
                    schema.schema_type,
                    &schema.schema,
                    &schema.references,
                    resolver,
                    &limits,
                )?);
            }
            Ok(out)
        })
        .await
    }

    /// Loads every schema `references` point to, transitively (breadth-first, each
    /// subject/version once, at most a bounded number of loads), into a resolver. Returns the
    /// references with `-1` replaced by the subject's latest live version. A reference to
    /// nowhere is simply not loaded: parsing then names it.
    async fn resolve_references(
        &self,
        references: &[SchemaReference],
    ) -> Result<(Vec<SchemaReference>, InMemoryReferences), RegistryError> {
        let mut resolver = InMemoryReferences::new();
        let mut concrete = Vec::with_capacity(references.len());
        let mut queue = VecDeque::new();
        for reference in references {
            let mut reference = reference.clone();
            if reference.version == -1
                && let Ok(latest) = self
                    .version(&reference.subject, VersionSpec::Latest, false)
                    .await
            {
                reference.version = latest.version;
            }
            concrete.push(reference.clone());
            queue.push_back(reference);
        }
        let mut seen = HashSet::new();
        let budget = self.limits.max_references.saturating_mul(4);
        while let Some(reference) = queue.pop_front() {
            if !seen.insert((reference.subject.clone(), reference.version)) {
                continue;
            }
            if seen.len() > budget {
                break;
            }
            let Some(found) = self
                .version_row(&reference.subject, reference.version)
                .await?
            else {
                continue;
            };
            queue.extend(found.schema.references.iter().cloned());
            resolver.insert(
                &reference.subject,
                reference.version,
                RegisteredSchema {
                    schema_type: found.schema.schema_type,
                    schema: found.schema.schema,
                    references: found.schema.references,
                },
            );
        }
        Ok((concrete, resolver))
    }

    /// Checks `new` against `previous` (oldest first) at `level`, on the blocking pool, and
    /// describes each incompatibility the way Confluent's verbose answers do.
    async fn incompatibilities(
        &self,
        level: CompatibilityLevel,
        new: ParsedSchema,
        previous: Vec<SubjectVersion>,
    ) -> Result<Vec<String>, RegistryError> {
        if level == CompatibilityLevel::None || previous.is_empty() {
            return Ok(Vec::new());
        }
        let parsed = self
            .parse_stored(previous.iter().map(|v| v.schema.clone()).collect())
            .await?;
        let found = blocking(move || Ok(crate::compat::check(level, &new, &parsed))).await?;
        Ok(describe(level, &found, &previous))
    }
}

/// Confluent-style verbose messages: one per incompatibility, then the old version and the
/// level.
fn describe(
    level: CompatibilityLevel,
    found: &[Incompatibility],
    previous: &[SubjectVersion],
) -> Vec<String> {
    let mut messages = Vec::new();
    let mut versions = Vec::new();
    for incompatibility in found {
        let who = match incompatibility.direction {
            Direction::NewReadsOld => "the new schema cannot read data written with the old one",
            Direction::OldReadsNew => "the old schema cannot read data written with the new one",
        };
        messages.push(format!(
            "{{errorType:'{}', description:'{}: {}', additionalInfo:'{}'}}",
            incompatibility.kind, who, incompatibility.message, incompatibility.path
        ));
        if !versions.contains(&incompatibility.version_index) {
            versions.push(incompatibility.version_index);
        }
    }
    for index in versions {
        if let Some(old) = previous.get(index) {
            messages.push(format!("{{oldSchemaVersion: {}}}", old.version));
            messages.push(format!("{{oldSchema: '{}'}}", old.schema.schema));
        }
    }
    if !messages.is_empty() {
        messages.push(format!("{{compatibility: '{level}'}}"));
    }
    messages
}

/// Runs CPU-bound work on the blocking pool; a panic there becomes a store error, not a crash.
async fn blocking<T, F>(work: F) -> Result<T, RegistryError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, RegistryError> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(error) => Err(RegistryError::Store(format!(
            "schema worker failed: {error}"
        ))),
    }
}
