//! SQL rows and their conversion; every query is written once for SQLite and PostgreSQL.

use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;

use crate::cache::SchemaId;
use crate::schema::{SchemaReference, SchemaType};

use super::error::RegistryError;
use super::types::{StoredSchema, SubjectVersion};

/// Columns of a subject version joined with its schema.
pub(super) const VERSION_SELECT: &str = "SELECT v.subject, v.version, v.deleted, s.id, \
     s.schema_type, s.schema_text, s.references_json \
     FROM registry_subject_versions v JOIN registry_schemas s ON s.id = v.schema_id";

/// Columns of a schema.
pub(super) const SCHEMA_SELECT: &str =
    "SELECT s.id, s.schema_type, s.schema_text, s.references_json FROM registry_schemas s";

pub(super) type VersionRow = (String, i64, i64, i64, String, String, String);
pub(super) type SchemaRow = (i64, String, String, String);

#[derive(Serialize, Deserialize)]
struct ReferenceJson {
    name: String,
    subject: String,
    version: i32,
}

pub(super) fn references_to_json(references: &[SchemaReference]) -> String {
    let rows: Vec<ReferenceJson> = references
        .iter()
        .map(|r| ReferenceJson {
            name: r.name.clone(),
            subject: r.subject.clone(),
            version: r.version,
        })
        .collect();
    serde_json::to_string(&rows).unwrap_or_else(|_| String::from("[]"))
}

fn references_from_json(text: &str) -> Result<Vec<SchemaReference>, RegistryError> {
    let rows: Vec<ReferenceJson> = serde_json::from_str(text)
        .map_err(|e| RegistryError::Store(format!("stored references are not valid: {e}")))?;
    Ok(rows
        .into_iter()
        .map(|r| SchemaReference {
            name: r.name,
            subject: r.subject,
            version: r.version,
        })
        .collect())
}

pub(super) fn schema_id(id: i64) -> Result<SchemaId, RegistryError> {
    SchemaId::try_from(id)
        .map_err(|_| RegistryError::Store(format!("stored schema id {id} is out of range")))
}

fn schema_type(text: &str) -> Result<SchemaType, RegistryError> {
    text.parse()
        .map_err(|_| RegistryError::Store(format!("stored schema type {text:?} is unknown")))
}

pub(super) fn stored_schema(row: SchemaRow) -> Result<StoredSchema, RegistryError> {
    let (id, kind, text, references) = row;
    Ok(StoredSchema {
        id: schema_id(id)?,
        schema_type: schema_type(&kind)?,
        schema: text,
        references: references_from_json(&references)?,
    })
}

pub(super) fn subject_version(row: VersionRow) -> Result<SubjectVersion, RegistryError> {
    let (subject, version, deleted, id, kind, text, references) = row;
    Ok(SubjectVersion {
        subject,
        version: version_number(version)?,
        deleted: deleted != 0,
        schema: stored_schema((id, kind, text, references))?,
    })
}

pub(super) fn version_number(version: i64) -> Result<i32, RegistryError> {
    i32::try_from(version)
        .map_err(|_| RegistryError::Store(format!("stored version {version} is out of range")))
}

/// Takes the registry's write lock: the counter row. On PostgreSQL this row lock serialises
/// every registry write across all instances sharing the database; on SQLite a write as the
/// transaction's first statement takes the database's write lock (waiting up to the busy
/// timeout) before anything is read, so no read in the transaction can be stale.
pub(super) async fn lock(conn: &mut AnyConnection) -> Result<(), RegistryError> {
    sqlx::query("UPDATE registry_counters SET value = value WHERE name = 'schema_id'")
        .execute(conn)
        .await?;
    Ok(())
}

/// Live `(version, schema_id)` of a subject, oldest first.
pub(super) async fn live_versions(
    conn: &mut AnyConnection,
    subject: &str,
) -> Result<Vec<(i64, i64)>, RegistryError> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT version, schema_id FROM registry_subject_versions \
         WHERE subject = $1 AND deleted = 0 ORDER BY version",
    )
    .bind(subject)
    .fetch_all(conn)
    .await?;
    Ok(rows)
}

pub(super) fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}
