//! The SQL of event types, written once for SQLite and PostgreSQL.

use sqlx::AnyConnection;
use tributary_core::EventTypeName;

use super::error::EventTypeError;
use super::model::{Enforcement, EventType};

const COLUMNS: &str = "name, owner, description, tags_json, partition_key, enforcement, partitions, \
     retention_ms, retention_bytes, compatibility, created_at_ms, created_by, updated_at_ms, \
     updated_by, revision, deleted_at_ms, shadow_version, max_event_bytes";

#[derive(sqlx::FromRow)]
struct Row {
    name: String,
    owner: String,
    description: String,
    tags_json: String,
    partition_key: Option<String>,
    enforcement: String,
    partitions: i64,
    retention_ms: Option<i64>,
    retention_bytes: Option<i64>,
    compatibility: Option<String>,
    created_at_ms: i64,
    created_by: String,
    updated_at_ms: i64,
    updated_by: String,
    revision: i64,
    deleted_at_ms: Option<i64>,
    shadow_version: Option<i64>,
    max_event_bytes: Option<i64>,
}

fn from_row(row: Row) -> Result<EventType, EventTypeError> {
    let name = row.name;
    let corrupt =
        |what: &str| EventTypeError::Store(format!("event type {name}: stored {what} is invalid"));
    Ok(EventType {
        name: EventTypeName::parse(&name).map_err(|_| corrupt("name"))?,
        owner: row.owner,
        description: row.description,
        tags: serde_json::from_str(&row.tags_json).map_err(|_| corrupt("tags"))?,
        partition_key: row.partition_key,
        enforcement: Enforcement::parse(&row.enforcement).ok_or_else(|| corrupt("enforcement"))?,
        shadow_version: row
            .shadow_version
            .map(i32::try_from)
            .transpose()
            .map_err(|_| corrupt("shadow_version"))?,
        max_event_bytes: row.max_event_bytes,
        partitions: u32::try_from(row.partitions).map_err(|_| corrupt("partitions"))?,
        retention_ms: row.retention_ms,
        retention_bytes: row.retention_bytes,
        compatibility: row.compatibility,
        created_at_ms: row.created_at_ms,
        created_by: row.created_by,
        updated_at_ms: row.updated_at_ms,
        updated_by: row.updated_by,
        revision: row.revision,
        deleted_at_ms: row.deleted_at_ms,
    })
}

/// The event type called `name`, live or deleted.
pub(crate) async fn fetch(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<Option<EventType>, EventTypeError> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM event_types WHERE name = $1"
    ))
    .bind(name)
    .fetch_optional(conn)
    .await?;
    row.map(from_row).transpose()
}

/// Live event types (and deleted ones with `include_deleted`), optionally of one owner and
/// with one tag, sorted by name.
pub(crate) async fn list(
    conn: &mut AnyConnection,
    owner: Option<&str>,
    tag: Option<&str>,
    include_deleted: bool,
) -> Result<Vec<EventType>, EventTypeError> {
    let mut sql =
        format!("SELECT {COLUMNS} FROM event_types WHERE ($1 = 1 OR deleted_at_ms IS NULL)");
    let mut next = 2;
    if owner.is_some() {
        sql.push_str(&format!(" AND owner = ${next}"));
        next += 1;
    }
    if tag.is_some() {
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM event_type_tags t WHERE t.name = event_types.name AND t.tag = ${next})"
        ));
    }
    sql.push_str(" ORDER BY name");
    let mut query = sqlx::query_as::<_, Row>(&sql).bind(i64::from(include_deleted));
    if let Some(owner) = owner {
        query = query.bind(owner);
    }
    if let Some(tag) = tag {
        query = query.bind(tag);
    }
    let rows = query.fetch_all(conn).await?;
    rows.into_iter().map(from_row).collect()
}

/// Inserts `event_type`, or revives a deleted row of that name. False when a live event
/// type of that name exists.
pub(crate) async fn insert(
    conn: &mut AnyConnection,
    event_type: &EventType,
) -> Result<bool, EventTypeError> {
    let inserted: Option<(String,)> = sqlx::query_as(&format!(
        "INSERT INTO event_types ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, NULL, $16, $17) \
         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, \
         description = excluded.description, tags_json = excluded.tags_json, \
         partition_key = excluded.partition_key, enforcement = excluded.enforcement, \
         partitions = excluded.partitions, retention_ms = excluded.retention_ms, \
         retention_bytes = excluded.retention_bytes, compatibility = excluded.compatibility, \
         created_at_ms = excluded.created_at_ms, created_by = excluded.created_by, \
         updated_at_ms = excluded.updated_at_ms, updated_by = excluded.updated_by, \
         revision = event_types.revision + 1, deleted_at_ms = NULL, \
         shadow_version = excluded.shadow_version, max_event_bytes = excluded.max_event_bytes \
         WHERE event_types.deleted_at_ms IS NOT NULL \
         RETURNING name"
    ))
    .bind(event_type.name.as_str())
    .bind(event_type.owner.as_str())
    .bind(event_type.description.as_str())
    .bind(tags_json(event_type))
    .bind(event_type.partition_key.clone())
    .bind(event_type.enforcement.as_str())
    .bind(i64::from(event_type.partitions))
    .bind(event_type.retention_ms)
    .bind(event_type.retention_bytes)
    .bind(event_type.compatibility.clone())
    .bind(event_type.created_at_ms)
    .bind(event_type.created_by.as_str())
    .bind(event_type.updated_at_ms)
    .bind(event_type.updated_by.as_str())
    .bind(event_type.revision)
    .bind(event_type.shadow_version.map(i64::from))
    .bind(event_type.max_event_bytes)
    .fetch_optional(&mut *conn)
    .await?;
    if inserted.is_none() {
        return Ok(false);
    }
    replace_tags(conn, event_type).await?;
    Ok(true)
}

/// Writes `next` over the live row at revision `expected`; false when the row changed (or
/// was deleted) since it was read.
pub(crate) async fn update(
    conn: &mut AnyConnection,
    next: &EventType,
    expected: i64,
) -> Result<bool, EventTypeError> {
    let done = sqlx::query(
        "UPDATE event_types SET owner = $2, description = $3, tags_json = $4, \
         partition_key = $5, enforcement = $6, partitions = $7, retention_ms = $8, \
         retention_bytes = $9, compatibility = $10, updated_at_ms = $11, updated_by = $12, \
         revision = $13, deleted_at_ms = $14, shadow_version = $16, max_event_bytes = $17 \
         WHERE name = $1 AND revision = $15 AND deleted_at_ms IS NULL",
    )
    .bind(next.name.as_str())
    .bind(next.owner.as_str())
    .bind(next.description.as_str())
    .bind(tags_json(next))
    .bind(next.partition_key.clone())
    .bind(next.enforcement.as_str())
    .bind(i64::from(next.partitions))
    .bind(next.retention_ms)
    .bind(next.retention_bytes)
    .bind(next.compatibility.clone())
    .bind(next.updated_at_ms)
    .bind(next.updated_by.as_str())
    .bind(next.revision)
    .bind(next.deleted_at_ms)
    .bind(expected)
    .bind(next.shadow_version.map(i64::from))
    .bind(next.max_event_bytes)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    replace_tags(conn, next).await?;
    Ok(true)
}

fn tags_json(event_type: &EventType) -> String {
    serde_json::Value::from(event_type.tags.clone()).to_string()
}

async fn replace_tags(
    conn: &mut AnyConnection,
    event_type: &EventType,
) -> Result<(), EventTypeError> {
    sqlx::query("DELETE FROM event_type_tags WHERE name = $1")
        .bind(event_type.name.as_str())
        .execute(&mut *conn)
        .await?;
    for tag in &event_type.tags {
        sqlx::query("INSERT INTO event_type_tags (name, tag) VALUES ($1, $2)")
            .bind(event_type.name.as_str())
            .bind(tag.as_str())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
