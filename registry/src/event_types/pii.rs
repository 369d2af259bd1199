//! PII marks: the fields of an event type that hold personal data. The catalog redacts them
//! in sample events and dead-letter examples (see `docs/catalog-data.md`). Only the owning
//! team or an admin changes the set, which is replaced whole and audited.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::json;
use sqlx::AnyConnection;
use tributary_core::{AuditEntry, Database, Principal, now_ms, record_audit_in};

use crate::fields::check_field_pointer;

use super::error::EventTypeError;
use super::model::MAX_POINTER_LEN;
use super::service::{EventTypes, forbidden};

/// Most fields one event type may mark as PII.
pub const MAX_PII_MARKS: usize = 1000;

/// A field marked as personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PiiMark {
    /// Field pointer (RFC 6901, `*` for every element of an array), e.g. `/items/*/card`.
    #[schema(example = "/email")]
    pub pointer: String,
    /// Who marked it, e.g. `team:orders`.
    pub marked_by: String,
    /// When, in ms since the epoch.
    pub marked_at_ms: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    pointer: String,
    marked_by: String,
    marked_at_ms: i64,
}

impl EventTypes {
    /// The PII marks of a live event type, sorted by pointer.
    pub async fn pii_marks(&self, name: &str) -> Result<Vec<PiiMark>, EventTypeError> {
        self.get(name).await?;
        let mut conn = self.db().pool().acquire().await?;
        load(&mut conn, name).await
    }

    /// Replaces the PII marks of a live event type with `pointers` (its owners or an admin).
    /// Marks that stay keep who marked them and when; a change is written with its audit
    /// entry (`event_type.pii`, on the event type) in one transaction.
    pub async fn set_pii_marks(
        &self,
        who: &Principal,
        name: &str,
        pointers: Vec<String>,
    ) -> Result<Vec<PiiMark>, EventTypeError> {
        let event_type = self.get(name).await?;
        if !who.acts_for(&event_type.owner) {
            return Err(forbidden(who, "mark the PII fields of", &event_type));
        }
        let wanted = checked_pointers(pointers)?;
        let mut tx = self.db().begin_write().await?;
        // Locks the event type's row, so concurrent replacements of its set take turns.
        sqlx::query("UPDATE event_types SET revision = revision WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let current = load(&mut tx, name).await?;
        let before: BTreeSet<&str> = current.iter().map(|m| m.pointer.as_str()).collect();
        let after: BTreeSet<&str> = wanted.iter().map(String::as_str).collect();
        if before == after {
            return Ok(current);
        }
        for gone in before.difference(&after) {
            sqlx::query("DELETE FROM event_type_pii WHERE event_type = $1 AND pointer = $2")
                .bind(name)
                .bind(*gone)
                .execute(&mut *tx)
                .await?;
        }
        let now = now_ms();
        for new in after.difference(&before) {
            sqlx::query(
                "INSERT INTO event_type_pii (event_type, pointer, marked_by, marked_at_ms) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (event_type, pointer) DO NOTHING",
            )
            .bind(name)
            .bind(*new)
            .bind(who.name.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let marks = load(&mut tx, name).await?;
        let entry = AuditEntry::now(
            who.name.as_str(),
            "event_type.pii",
            "event_type",
            event_type.name.as_str(),
        )
        .with_change(
            Some(json!({ "pii": before })),
            Some(json!({ "pii": pointers_of(&marks) })),
        );
        record_audit_in(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(marks)
    }
}

/// The PII pointers of the event type `name` (live or deleted), straight from the metadata
/// database: for readers of catalog data that redact on every read without an
/// [`EventTypes`] at hand.
pub async fn pii_pointers(db: &Database, name: &str) -> Result<Vec<String>, EventTypeError> {
    let mut conn = db.pool().acquire().await?;
    Ok(load(&mut conn, name)
        .await?
        .into_iter()
        .map(|m| m.pointer)
        .collect())
}

/// The marks of `name`, sorted by pointer (in Rust: the databases collate differently).
async fn load(conn: &mut AnyConnection, name: &str) -> Result<Vec<PiiMark>, EventTypeError> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT pointer, marked_by, marked_at_ms FROM event_type_pii WHERE event_type = $1",
    )
    .bind(name)
    .fetch_all(conn)
    .await?;
    let sorted: BTreeMap<String, Row> = rows.into_iter().map(|r| (r.pointer.clone(), r)).collect();
    Ok(sorted
        .into_values()
        .map(|r| PiiMark {
            pointer: r.pointer,
            marked_by: r.marked_by,
            marked_at_ms: r.marked_at_ms,
        })
        .collect())
}

fn pointers_of(marks: &[PiiMark]) -> Vec<&str> {
    marks.iter().map(|m| m.pointer.as_str()).collect()
}

/// The pointers, checked, without duplicates.
fn checked_pointers(pointers: Vec<String>) -> Result<BTreeSet<String>, EventTypeError> {
    if pointers.len() > MAX_PII_MARKS {
        return Err(EventTypeError::Invalid {
            field: String::from("pointers"),
            reason: format!(
                "{} pointers: at most {MAX_PII_MARKS} fields may be marked",
                pointers.len()
            ),
        });
    }
    for (i, pointer) in pointers.iter().enumerate() {
        let reason = if pointer.len() > MAX_POINTER_LEN {
            Some(format!("is longer than {MAX_POINTER_LEN} bytes"))
        } else {
            check_field_pointer(pointer).err()
        };
        if let Some(reason) = reason {
            return Err(EventTypeError::Invalid {
                field: format!("pointers[{i}]"),
                reason,
            });
        }
    }
    Ok(pointers.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_are_checked_and_deduplicated() {
        let ok = checked_pointers(vec!["/b".into(), "/a".into(), "/b".into()]).unwrap();
        assert_eq!(ok.into_iter().collect::<Vec<_>>(), ["/a", "/b"]);
        let error = checked_pointers(vec!["/a".into(), "a".into()]).unwrap_err();
        assert!(matches!(&error, EventTypeError::Invalid { field, .. } if field == "pointers[1]"));
        let long = format!("/{}", "x".repeat(MAX_POINTER_LEN));
        let error = checked_pointers(vec![long]).unwrap_err();
        assert!(
            error.to_string().contains("longer than 1024 bytes"),
            "{error}"
        );
        let many = (0..=MAX_PII_MARKS).map(|i| format!("/f{i}")).collect();
        let error = checked_pointers(many).unwrap_err();
        assert!(matches!(&error, EventTypeError::Invalid { field, .. } if field == "pointers"));
        assert!(checked_pointers(vec![String::new()]).is_err());
    }
}
