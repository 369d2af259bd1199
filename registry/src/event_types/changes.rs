//! Audited registry changes: the state a change touches, read before and after, recorded
//! when it differs. Used by the native schema routes and by the guard on the Confluent
//! write routes, so a change is audited the same way whichever API made it.
//!
//! The registry writes in its own transactions, so these entries are written right after
//! the change, not inside it (see `docs/event-types.md`).

use serde_json::{Value, json};
use tributary_core::{AuditEntry, Database, Principal};

use crate::store::{DeletedFilter, Registry, RegistryError};

/// What a registry change touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Touches {
    /// The versions of a subject (registration, version and subject deletes).
    Schemas,
    /// The compatibility level of a subject, or the global one.
    Compatibility,
    /// The mode of a subject, or the global one.
    Mode,
}

/// One audited registry change: who, what, on which subject (`None`: global settings).
#[derive(Debug, Clone)]
pub(crate) struct Change<'a> {
    pub(crate) actor: &'a Principal,
    pub(crate) action: &'static str,
    pub(crate) subject: Option<&'a str>,
    pub(crate) touches: Touches,
}

impl Change<'_> {
    /// The state this change touches, now.
    pub(crate) async fn snapshot(&self, registry: &Registry) -> Result<Value, RegistryError> {
        match (self.touches, self.subject) {
            (Touches::Schemas, Some(subject)) => schemas(registry, subject).await,
            (Touches::Schemas, None) => Ok(Value::Null),
            (Touches::Compatibility, Some(subject)) => {
                let level = match registry.subject_compatibility(subject, false).await {
                    Ok(level) => Some(level.as_str()),
                    Err(RegistryError::SubjectCompatibilityNotConfigured(_)) => None,
                    Err(other) => return Err(other),
                };
                Ok(json!({ "compatibility": level }))
            }
            (Touches::Compatibility, None) => {
                let level = registry.global_compatibility().await?;
                Ok(json!({ "compatibility": level.as_str() }))
            }
            (Touches::Mode, Some(subject)) => {
                let mode = match registry.subject_mode(subject, false).await {
                    Ok(mode) => Some(mode.as_str()),
                    Err(RegistryError::SubjectModeNotConfigured(_)) => None,
                    Err(other) => return Err(other),
                };
                Ok(json!({ "mode": mode }))
            }
            (Touches::Mode, None) => Ok(json!({ "mode": registry.global_mode().await?.as_str() })),
        }
    }

    /// Records the change when `before` and `after` differ. A failure to record is logged,
    /// not returned: the change itself has already been made.
    pub(crate) async fn record(&self, db: &Database, before: Value, after: Value) {
        if before == after {
            return;
        }
        let (kind, target) = match self.subject {
            Some(subject) => ("subject", subject),
            None => ("registry", "global"),
        };
        let entry = AuditEntry::now(self.actor.name.as_str(), self.action, kind, target)
            .with_change(Some(before), Some(after));
        if let Err(error) = db.record_audit(&entry).await {
            tracing::error!(%error, action = self.action, target, "cannot record an audit entry");
        }
    }
}

/// A subject's versions: the latest live one in full, and the numbers of the others.
async fn schemas(registry: &Registry, subject: &str) -> Result<Value, RegistryError> {
    let live = versions(registry, subject, DeletedFilter::Exclude).await?;
    let deleted = versions(registry, subject, DeletedFilter::Only).await?;
    let latest = match registry.latest(subject).await {
        Ok(latest) => json!({
            "version": latest.version,
            "id": latest.schema.id,
            "schemaType": latest.schema.schema_type.as_str(),
            "schema": latest.schema.schema,
        }),
        Err(RegistryError::SubjectNotFound(_)) => Value::Null,
        Err(other) => return Err(other),
    };
    Ok(json!({ "latest": latest, "versions": live, "deleted_versions": deleted }))
}

async fn versions(
    registry: &Registry,
    subject: &str,
    filter: DeletedFilter,
) -> Result<Vec<i32>, RegistryError> {
    match registry.versions(subject, filter).await {
        Ok(versions) => Ok(versions),
        Err(RegistryError::SubjectNotFound(_)) => Ok(Vec::new()),
        Err(other) => Err(other),
    }
}
