//! The SQL of catalog samples and dead-letter reasons, one text for SQLite and PostgreSQL;
//! see migration 0008 for the shape.

use sqlx::AnyConnection;
use tributary_core::Database;

use super::redact::{ReasonRow, SampleRow, TypeRows};
use super::{DeadLetterReason, SAMPLES_PER_VERSION, Sample, ViolationExample};
use crate::QualityError;

/// Writes one flush in one transaction; the number of rows written.
pub(crate) async fn write(db: &Database, rows: &[TypeRows]) -> Result<usize, QualityError> {
    let mut tx = db.begin_write().await?;
    let mut written = 0;
    for rows in rows {
        for sample in &rows.samples {
            if add_sample(&mut tx, &rows.event_type, sample).await? {
                written += 1;
            }
        }
        for reason in &rows.reasons {
            add_reason(&mut tx, &rows.event_type, reason).await?;
            written += 1;
        }
    }
    tx.commit().await?;
    Ok(written)
}

#[derive(sqlx::FromRow)]
struct Slot {
    slot: i64,
    received_at_ms: i64,
}

/// Puts `sample` in a free slot of its ring, else over the oldest one; false when every
/// slot holds a newer sample.
async fn add_sample(
    conn: &mut AnyConnection,
    event_type: &str,
    sample: &SampleRow,
) -> Result<bool, QualityError> {
    let taken: Vec<Slot> = sqlx::query_as(
        "SELECT slot, received_at_ms FROM catalog_samples \
         WHERE event_type = $1 AND schema_version = $2",
    )
    .bind(event_type)
    .bind(i64::from(sample.schema_version))
    .fetch_all(&mut *conn)
    .await?;
    let slots = i64::try_from(SAMPLES_PER_VERSION).unwrap_or(i64::MAX);
    let free = (0..slots).find(|n| !taken.iter().any(|t| t.slot == *n));
    let slot = match free {
        Some(slot) => slot,
        None => match taken.iter().min_by_key(|t| (t.received_at_ms, t.slot)) {
            Some(oldest) if oldest.received_at_ms <= sample.received_at_ms => oldest.slot,
            _ => return Ok(false),
        },
    };
    sqlx::query(
        "INSERT INTO catalog_samples \
         (event_type, schema_version, slot, producer, received_at_ms, event_json) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (event_type, schema_version, slot) DO UPDATE SET \
         producer = excluded.producer, received_at_ms = excluded.received_at_ms, \
         event_json = excluded.event_json",
    )
    .bind(event_type)
    .bind(i64::from(sample.schema_version))
    .bind(slot)
    .bind(sample.producer.as_str())
    .bind(sample.received_at_ms)
    .bind(sample.event_json.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// Adds a reason's count; replaces its example when the row brings one at least as new.
async fn add_reason(
    conn: &mut AnyConnection,
    event_type: &str,
    reason: &ReasonRow,
) -> Result<(), QualityError> {
    let (has_example, example_json, violations_json) = match &reason.example {
        Some((event, violations)) => (1_i64, event.as_deref(), violations.as_str()),
        None => (0, None, "[]"),
    };
    sqlx::query(
        "INSERT INTO catalog_dead_letters \
         (event_type, reason, count, last_seen_ms, example_json, violations_json) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (event_type, reason) DO UPDATE SET \
         count = catalog_dead_letters.count + excluded.count, \
         example_json = CASE WHEN $7 = 1 \
             AND excluded.last_seen_ms >= catalog_dead_letters.last_seen_ms \
             THEN excluded.example_json ELSE catalog_dead_letters.example_json END, \
         violations_json = CASE WHEN $7 = 1 \
             AND excluded.last_seen_ms >= catalog_dead_letters.last_seen_ms \
             THEN excluded.violations_json ELSE catalog_dead_letters.violations_json END, \
         last_seen_ms = CASE WHEN excluded.last_seen_ms > catalog_dead_letters.last_seen_ms \
             THEN excluded.last_seen_ms ELSE catalog_dead_letters.last_seen_ms END",
    )
    .bind(event_type)
    .bind(reason.reason.as_str())
    .bind(reason.count)
    .bind(reason.last_seen_ms)
    .bind(example_json)
    .bind(violations_json)
    .bind(has_example)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct SampleRead {
    schema_version: i64,
    producer: String,
    received_at_ms: i64,
    event_json: String,
}

/// Reads a stored event; text that is not JSON (never written so) comes back as a string.
fn decode(text: String) -> serde_json::Value {
    serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
}

/// The samples of `event_type`, newest first (as stored: redacted when written).
pub(crate) async fn samples(db: &Database, event_type: &str) -> Result<Vec<Sample>, QualityError> {
    let rows: Vec<SampleRead> = sqlx::query_as(
        "SELECT schema_version, producer, received_at_ms, event_json FROM catalog_samples \
         WHERE event_type = $1",
    )
    .bind(event_type)
    .fetch_all(db.pool())
    .await?;
    let mut samples: Vec<Sample> = rows
        .into_iter()
        .map(|row| Sample {
            schema_version: i32::try_from(row.schema_version).unwrap_or(i32::MAX),
            producer: row.producer,
            received_at_ms: row.received_at_ms,
            event: decode(row.event_json),
        })
        .collect();
    samples.sort_by(|a, b| {
        (b.received_at_ms, b.schema_version).cmp(&(a.received_at_ms, a.schema_version))
    });
    Ok(samples)
}

#[derive(sqlx::FromRow)]
struct ReasonRead {
    reason: String,
    count: i64,
    last_seen_ms: i64,
    example_json: Option<String>,
    violations_json: String,
}

/// The dead-letter reasons of `event_type`, most frequent first (then most recent, then by
/// name), as stored.
pub(crate) async fn reasons(
    db: &Database,
    event_type: &str,
) -> Result<Vec<DeadLetterReason>, QualityError> {
    let rows: Vec<ReasonRead> = sqlx::query_as(
        "SELECT reason, count, last_seen_ms, example_json, violations_json \
         FROM catalog_dead_letters WHERE event_type = $1",
    )
    .bind(event_type)
    .fetch_all(db.pool())
    .await?;
    let mut reasons: Vec<DeadLetterReason> = rows
        .into_iter()
        .map(|row| DeadLetterReason {
            violations: serde_json::from_str::<Vec<ViolationExample>>(&row.violations_json)
                .unwrap_or_default(),
            reason: row.reason,
            count: row.count,
            last_seen_ms: row.last_seen_ms,
            example: row.example_json.map(decode),
        })
        .collect();
    reasons.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(b.last_seen_ms.cmp(&a.last_seen_ms))
            .then(a.reason.cmp(&b.reason))
    });
    Ok(reasons)
}

/// Deletes samples and dead-letter reasons of event types that are not live, and those
/// not seen since `cutoff_ms`; the number of rows deleted.
pub(crate) async fn prune(db: &Database, cutoff_ms: i64) -> Result<u64, QualityError> {
    let mut deleted = 0;
    for (table, time) in [
        ("catalog_samples", "received_at_ms"),
        ("catalog_dead_letters", "last_seen_ms"),
    ] {
        let done = sqlx::query(&format!(
            "DELETE FROM {table} WHERE {time} < $1 OR event_type NOT IN \
             (SELECT name FROM event_types WHERE deleted_at_ms IS NULL)"
        ))
        .bind(cutoff_ms)
        .execute(db.pool())
        .await?;
        deleted += done.rows_affected();
    }
    Ok(deleted)
}
