//! The event-type service: create (with its topic), read, list, change, delete, register
//! schemas — every change checked against the owner and recorded in the audit log.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tributary_core::{
    AuditEntry, AuditRecord, Database, EventTypeName, Principal, now_ms, record_audit_in,
};
use tributary_eventlog::{EventLog, LogError, Retention, TopicSpec};

use crate::cache::SchemaId;
use crate::store::{
    DeletedFilter, NewSchema, RegisterOptions, Registry, RegistryError, SubjectVersion, VersionSpec,
};

use super::changes::{Change, Touches};
use super::error::{EventTypeError, incompatibilities};
use super::model::{
    EventType, EventTypePatch, EventTypeSettings, NewEventType, checked_compatibility,
    checked_description, checked_max_event_bytes, checked_name, checked_owner,
    checked_partition_key, checked_partitions, checked_retention, checked_shadow_version,
    checked_tags, level, patched,
};
use super::rows;

/// How often a change is retried when another writer changed the row meanwhile.
const ATTEMPTS: usize = 8;

/// The event-type service. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventTypes {
    db: Database,
    registry: Registry,
    log: Arc<dyn EventLog>,
    settings: Arc<EventTypeSettings>,
}

/// An event type with where it lives: its topic, its subject, and its latest schema.
#[derive(Debug, Clone, Serialize)]
pub struct EventTypeView {
    #[serde(flatten)]
    pub event_type: EventType,
    pub topic: String,
    pub subject: String,
    /// The level registrations are checked at (the subject's own, else the global one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_compatibility: Option<&'static str>,
    /// `null` while no schema is registered; absent in listings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_schema: Option<Option<LatestSchema>>,
}

/// The latest live schema version of an event type's subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LatestSchema {
    pub version: i32,
    pub id: SchemaId,
    pub schema_type: &'static str,
}

/// The answer to a schema registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisteredVersion {
    pub subject: String,
    pub version: i32,
    pub id: SchemaId,
    /// False when the schema was already registered (nothing changed).
    pub created: bool,
}

pub(super) fn forbidden(who: &Principal, what: &str, event_type: &EventType) -> EventTypeError {
    EventTypeError::Forbidden(format!(
        "{who} may not {what} event type {}: only team {} or an admin may",
        event_type.name, event_type.owner
    ))
}

fn invalid(field: &str, reason: String) -> EventTypeError {
    EventTypeError::Invalid {
        field: field.to_owned(),
        reason,
    }
}

impl EventTypes {
    pub fn new(
        db: Database,
        registry: Registry,
        log: Arc<dyn EventLog>,
        settings: EventTypeSettings,
    ) -> EventTypes {
        EventTypes {
            db,
            registry,
            log,
            settings: Arc::new(settings),
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub(crate) fn db(&self) -> &Database {
        &self.db
    }

    /// The topic of `name`.
    pub fn topic(&self, name: &EventTypeName) -> String {
        name.topic(&self.settings.topic_prefix)
    }

    /// The registry subject of `name`'s values.
    pub fn subject(&self, name: &EventTypeName) -> String {
        name.subject(&self.settings.topic_prefix)
    }

    /// The event type whose value or key subject `subject` is (`{topic}-value`,
    /// `{topic}-key`), if it names one (by its form only).
    pub fn name_of_subject(&self, subject: &str) -> Option<EventTypeName> {
        let topic = subject
            .strip_suffix("-value")
            .or_else(|| subject.strip_suffix("-key"))?;
        let name = topic.strip_prefix(self.settings.topic_prefix.as_str())?;
        EventTypeName::parse(name).ok()
    }

    /// The event type (live or deleted) that owns `subject`.
    pub async fn owner_of_subject(
        &self,
        subject: &str,
    ) -> Result<Option<EventType>, EventTypeError> {
        let Some(name) = self.name_of_subject(subject) else {
            return Ok(None);
        };
        self.fetch(name.as_str()).await
    }

    async fn fetch(&self, name: &str) -> Result<Option<EventType>, EventTypeError> {
        let mut conn = self.db.pool().acquire().await?;
        rows::fetch(&mut conn, name).await
    }

    /// A live event type.
    pub async fn get(&self, name: &str) -> Result<EventType, EventTypeError> {
        match self.fetch(name).await? {
            Some(found) if found.deleted_at_ms.is_none() => Ok(found),
            _ => Err(EventTypeError::NotFound(name.to_owned())),
        }
    }

    /// Creates an event type and its topic. See `docs/event-types.md` for why a topic left
    /// behind by a failed create is adopted by the next one rather than deleted.
    pub async fn create(
        &self,
        who: &Principal,
        new: NewEventType,
    ) -> Result<EventType, EventTypeError> {
        let name = checked_name(&new.name)?;
        let owner = checked_owner(&new.owner)?;
        if !who.acts_for(&owner) {
            return Err(EventTypeError::Forbidden(format!(
                "{who} may not create an event type owned by team {owner}: only members of that team or an admin may"
            )));
        }
        let default_ms = self
            .settings
            .default_retention
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let now = now_ms();
        let mut event_type = EventType {
            description: checked_description(new.description)?,
            tags: checked_tags(new.tags)?,
            partition_key: checked_partition_key(new.partition_key)?,
            enforcement: new
                .enforcement
                .unwrap_or(super::model::Enforcement::Enforce),
            shadow_version: checked_shadow_version(new.shadow_version)?,
            max_event_bytes: checked_max_event_bytes(new.max_event_bytes)?,
            partitions: checked_partitions(
                new.partitions.unwrap_or(self.settings.default_partitions),
            )?,
            retention_ms: checked_retention(
                "retention_ms",
                new.retention_ms.unwrap_or(default_ms),
            )?,
            retention_bytes: checked_retention("retention_bytes", new.retention_bytes.flatten())?,
            compatibility: checked_compatibility(new.compatibility)?,
            name,
            owner,
            created_at_ms: now,
            created_by: who.name.clone(),
            updated_at_ms: now,
            updated_by: who.name.clone(),
            revision: 1,
            deleted_at_ms: None,
        };
        self.check_shadow_version(&event_type).await?;
        let before = self.fetch(event_type.name.as_str()).await?;
        if let Some(existing) = &before {
            if existing.deleted_at_ms.is_none() {
                return Err(EventTypeError::Exists(existing.name.to_string()));
            }
            event_type.revision = existing.revision + 1;
        }
        self.ensure_topic(&mut event_type).await?;
        if let Some(text) = &event_type.compatibility {
            let subject = self.subject(&event_type.name);
            self.registry
                .set_compatibility(Some(&subject), level(text)?)
                .await?;
        }
        let mut tx = self.db.begin_write().await?;
        if !rows::insert(&mut tx, &event_type).await? {
            return Err(EventTypeError::Exists(event_type.name.to_string()));
        }
        let entry = AuditEntry::now(
            who.name.as_str(),
            "event_type.create",
            "event_type",
            event_type.name.as_str(),
        )
        .with_change(before.map(json), Some(json(event_type.clone())));
        record_audit_in(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(event_type)
    }

    /// Refuses a shadow candidate that is not a live version of the type's subject.
    async fn check_shadow_version(&self, event_type: &EventType) -> Result<(), EventTypeError> {
        let Some(version) = event_type.shadow_version else {
            return Ok(());
        };
        let subject = self.subject(&event_type.name);
        match self
            .registry
            .version(&subject, VersionSpec::Number(version), false)
            .await
        {
            Ok(_) => Ok(()),
            Err(RegistryError::SubjectNotFound(_) | RegistryError::VersionNotFound(_)) => {
                Err(invalid(
                    "shadow_version",
                    format!(
                        "subject {subject} has no version {version}: register the candidate schema first"
                    ),
                ))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Creates the topic, or adopts an existing one with the same partition count (its
    /// retention is then recorded as the topic has it).
    async fn ensure_topic(&self, event_type: &mut EventType) -> Result<(), EventTypeError> {
        let topic = self.topic(&event_type.name);
        let retention = Retention {
            time: event_type
                .retention_ms
                .and_then(|ms| u64::try_from(ms).ok())
                .map(Duration::from_millis),
            bytes: event_type
                .retention_bytes
                .and_then(|b| u64::try_from(b).ok()),
        };
        let spec = TopicSpec::new(topic.as_str(), event_type.partitions).with_retention(retention);
        match self.log.create_topic(&spec).await {
            Ok(()) => Ok(()),
            Err(LogError::TopicExists(_)) => {
                let found = self.log.describe_topic(&topic).await?;
                if found.partitions != event_type.partitions {
                    return Err(EventTypeError::TopicMismatch {
                        topic,
                        actual: found.partitions,
                        wanted: event_type.partitions,
                    });
                }
                tracing::info!(%topic, "adopting the existing topic of a new event type");
                event_type.retention_ms = found
                    .retention
                    .time
                    .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                event_type.retention_bytes = found
                    .retention
                    .bytes
                    .map(|b| i64::try_from(b).unwrap_or(i64::MAX));
                Ok(())
            }
            Err(LogError::InvalidTopic(reason)) => Err(invalid("name", reason)),
            Err(other) => Err(other.into()),
        }
    }

    /// Live event types, sorted by name, optionally of one owner and with one tag.
    pub async fn list(
        &self,
        owner: Option<&str>,
        tag: Option<&str>,
    ) -> Result<Vec<EventTypeView>, EventTypeError> {
        let mut conn = self.db.pool().acquire().await?;
        let found = rows::list(&mut conn, owner, tag, false).await?;
        Ok(found
            .into_iter()
            .map(|event_type| EventTypeView {
                topic: self.topic(&event_type.name),
                subject: self.subject(&event_type.name),
                event_type,
                effective_compatibility: None,
                latest_schema: None,
            })
            .collect())
    }

    /// A live event type with its topic, subject, effective level and latest schema.
    pub async fn describe(&self, name: &str) -> Result<EventTypeView, EventTypeError> {
        let event_type = self.get(name).await?;
        let subject = self.subject(&event_type.name);
        let latest = match self.registry.latest(&subject).await {
            Ok(latest) => Some(LatestSchema {
                version: latest.version,
                id: latest.schema.id,
                schema_type: latest.schema.schema_type.as_str(),
            }),
            Err(RegistryError::SubjectNotFound(_)) => None,
            Err(other) => return Err(other.into()),
        };
        let effective = self.registry.effective_compatibility(&subject).await?;
        Ok(EventTypeView {
            topic: self.topic(&event_type.name),
            subject,
            event_type,
            effective_compatibility: Some(effective.as_str()),
            latest_schema: Some(latest),
        })
    }

    /// Changes the metadata of a live event type (owner or admin only).
    pub async fn update(
        &self,
        who: &Principal,
        name: &str,
        patch: EventTypePatch,
    ) -> Result<EventType, EventTypeError> {
        for _ in 0..ATTEMPTS {
            let current = self.get(name).await?;
            if !who.acts_for(&current.owner) {
                return Err(forbidden(who, "change", &current));
            }
            let mut next = patched(&current, patch.clone())?;
            if next == current {
                return Ok(current);
            }
            if next.shadow_version != current.shadow_version {
                self.check_shadow_version(&next).await?;
            }
            next.updated_at_ms = now_ms();
            next.updated_by = who.name.clone();
            next.revision = current.revision + 1;
            if next.compatibility != current.compatibility {
                self.apply_compatibility(&next).await?;
            }
            if let Some(done) = self.write(who, "event_type.update", &current, next).await? {
                return Ok(done);
            }
        }
        Err(EventTypeError::Concurrent(name.to_owned()))
    }

    /// Marks a live event type deleted (owner or admin only); its topic and schemas stay.
    pub async fn delete(&self, who: &Principal, name: &str) -> Result<(), EventTypeError> {
        for _ in 0..ATTEMPTS {
            let current = self.get(name).await?;
            if !who.acts_for(&current.owner) {
                return Err(forbidden(who, "delete", &current));
            }
            let mut next = current.clone();
            next.updated_at_ms = now_ms();
            next.updated_by = who.name.clone();
            next.revision = current.revision + 1;
            next.deleted_at_ms = Some(next.updated_at_ms);
            if self
                .write(who, "event_type.delete", &current, next)
                .await?
                .is_some()
            {
                return Ok(());
            }
        }
        Err(EventTypeError::Concurrent(name.to_owned()))
    }

    /// Writes `next` over `current` and its audit entry in one transaction; `None` when the
    /// row changed meanwhile.
    async fn write(
        &self,
        who: &Principal,
        action: &str,
        current: &EventType,
        next: EventType,
    ) -> Result<Option<EventType>, EventTypeError> {
        let mut tx = self.db.begin_write().await?;
        if !rows::update(&mut tx, &next, current.revision).await? {
            return Ok(None);
        }
        let entry = AuditEntry::now(who.name.as_str(), action, "event_type", next.name.as_str())
            .with_change(Some(json(current.clone())), Some(json(next.clone())));
        record_audit_in(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(Some(next))
    }

    /// Makes the subject's own compatibility level what `event_type` says.
    async fn apply_compatibility(&self, event_type: &EventType) -> Result<(), EventTypeError> {
        let subject = self.subject(&event_type.name);
        match &event_type.compatibility {
            Some(text) => {
                self.registry
                    .set_compatibility(Some(&subject), level(text)?)
                    .await?
            }
            None => match self.registry.delete_compatibility(Some(&subject)).await {
                Ok(_) | Err(RegistryError::SubjectNotFound(_)) => {}
                Err(other) => return Err(other.into()),
            },
        }
        Ok(())
    }

    /// After the subject's level was changed through the Confluent API: records the new
    /// level on the event type, so both APIs show the same.
    pub(crate) async fn note_compatibility(
        &self,
        name: &EventTypeName,
    ) -> Result<(), EventTypeError> {
        let subject = self.subject(name);
        let level = match self.registry.subject_compatibility(&subject, false).await {
            Ok(level) => Some(level.as_str().to_owned()),
            Err(RegistryError::SubjectCompatibilityNotConfigured(_)) => None,
            Err(other) => return Err(other.into()),
        };
        for _ in 0..ATTEMPTS {
            let Some(current) = self.fetch(name.as_str()).await? else {
                return Ok(());
            };
            if current.compatibility == level || current.deleted_at_ms.is_some() {
                return Ok(());
            }
            let mut next = current.clone();
            next.compatibility = level.clone();
            next.revision = current.revision + 1;
            let mut tx = self.db.begin_write().await?;
            if rows::update(&mut tx, &next, current.revision).await? {
                tx.commit().await?;
                return Ok(());
            }
        }
        Err(EventTypeError::Concurrent(name.to_string()))
    }

    /// Registers a schema version under the event type's subject (owner or admin only),
    /// compatibility-checked.
    pub async fn register_schema(
        &self,
        who: &Principal,
        name: &str,
        new: &NewSchema,
        normalize: bool,
    ) -> Result<RegisteredVersion, EventTypeError> {
        let event_type = self.get(name).await?;
        if !who.acts_for(&event_type.owner) {
            return Err(forbidden(who, "register schemas for", &event_type));
        }
        let subject = self.subject(&event_type.name);
        let change = Change {
            actor: who,
            action: "schema.register",
            subject: Some(&subject),
            touches: Touches::Schemas,
        };
        let before = change.snapshot(&self.registry).await?;
        let options = RegisterOptions {
            normalize,
            ..RegisterOptions::default()
        };
        let id = match self.registry.register(&subject, new, options).await {
            Ok(id) => id,
            Err(RegistryError::Incompatible { subject, messages }) => {
                let level = self.registry.effective_compatibility(&subject).await?;
                return Err(EventTypeError::Incompatible {
                    subject,
                    level: level.as_str().to_owned(),
                    incompatibilities: incompatibilities(&messages),
                });
            }
            Err(other) => return Err(other.into()),
        };
        let after = change.snapshot(&self.registry).await?;
        let created = before != after;
        change.record(&self.db, before, after).await;
        let version = self
            .registry
            .lookup(&subject, new, normalize, false)
            .await?;
        Ok(RegisteredVersion {
            subject,
            version: version.version,
            id,
            created,
        })
    }

    /// The live schema versions of a live event type, oldest first.
    pub async fn schema_versions(
        &self,
        name: &str,
    ) -> Result<(String, Vec<SubjectVersion>), EventTypeError> {
        let event_type = self.get(name).await?;
        let subject = self.subject(&event_type.name);
        let numbers = match self
            .registry
            .versions(&subject, DeletedFilter::Exclude)
            .await
        {
            Ok(numbers) => numbers,
            Err(RegistryError::SubjectNotFound(_)) => Vec::new(),
            Err(other) => return Err(other.into()),
        };
        let mut versions = Vec::with_capacity(numbers.len());
        for number in numbers {
            versions.push(
                self.registry
                    .version(&subject, VersionSpec::Number(number), false)
                    .await?,
            );
        }
        Ok((subject, versions))
    }

    /// The audit entries of an event type (live or deleted) and of its subject, newest first.
    pub async fn audit(&self, name: &str, limit: u32) -> Result<Vec<AuditRecord>, EventTypeError> {
        let Some(event_type) = self.fetch(name).await? else {
            return Err(EventTypeError::NotFound(name.to_owned()));
        };
        let subject = self.subject(&event_type.name);
        let key_subject = format!("{}-key", self.topic(&event_type.name));
        Ok(self
            .db
            .audit_for(
                &[
                    ("event_type", event_type.name.as_str()),
                    ("subject", subject.as_str()),
                    ("subject", key_subject.as_str()),
                ],
                limit,
            )
            .await?)
    }
}

fn json(event_type: EventType) -> serde_json::Value {
    serde_json::to_value(event_type).unwrap_or(serde_json::Value::Null)
}
