//! The SQL of the history tables: adding rows, the minute → hour rollup, pruning, reading.
//! One SQL text for SQLite and PostgreSQL; see migration 0007 for the shape.

use std::collections::BTreeMap;

use sqlx::AnyConnection;
use tributary_core::Database;

use super::HOUR_MS;
use crate::QualityError;

/// Rows per INSERT statement (7 parameters each: well under both databases' limits).
const ROWS_PER_STATEMENT: usize = 200;
/// Most hour-sized slices one rollup pass moves (a bound on a pass after a long outage).
const MAX_ROLLUP_SLICES: usize = 24 * 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Minutes,
    Hours,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Minutes => "quality_minutes",
            Table::Hours => "quality_hours",
        }
    }
}

/// The primary key of a history row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, sqlx::FromRow)]
pub(crate) struct RowKey {
    pub(crate) event_type: String,
    pub(crate) producer: String,
    pub(crate) schema_version: i64,
    pub(crate) bucket_ms: i64,
    pub(crate) metric: String,
    pub(crate) label: String,
}

/// A stored row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct Row {
    #[sqlx(flatten)]
    pub(crate) key: RowKey,
    pub(crate) value: i64,
}

const COLUMNS: &str = "event_type, producer, schema_version, bucket_ms, metric, label, value";

/// Adds `rows` to `table` in one transaction.
pub(crate) async fn add_rows(
    db: &Database,
    table: Table,
    rows: &BTreeMap<RowKey, i64>,
) -> Result<(), QualityError> {
    let mut tx = db.begin_write().await?;
    add_rows_in(&mut tx, table, rows).await?;
    tx.commit().await?;
    Ok(())
}

/// Adds `rows` to `table` (upsert-add) in batches, in key order.
async fn add_rows_in(
    conn: &mut AnyConnection,
    table: Table,
    rows: &BTreeMap<RowKey, i64>,
) -> Result<(), QualityError> {
    let entries: Vec<(&RowKey, &i64)> = rows.iter().collect();
    for batch in entries.chunks(ROWS_PER_STATEMENT) {
        let mut sql = format!("INSERT INTO {} ({COLUMNS}) VALUES ", table.name());
        for i in 0..batch.len() {
            let p = i * 7;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6,
                p + 7
            ));
        }
        sql.push_str(&format!(
            " ON CONFLICT (event_type, producer, schema_version, bucket_ms, metric, label) \
             DO UPDATE SET value = {}.value + excluded.value",
            table.name()
        ));
        let mut query = sqlx::query(&sql);
        for (key, value) in batch {
            query = query
                .bind(key.event_type.as_str())
                .bind(key.producer.as_str())
                .bind(key.schema_version)
                .bind(key.bucket_ms)
                .bind(key.metric.as_str())
                .bind(key.label.as_str())
                .bind(**value);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// What one maintenance pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Minute rows moved into hours.
    pub minute_rows_rolled_up: u64,
    /// Hour rows added to or created by the move.
    pub hour_rows_written: u64,
    /// Hour rows deleted for being past retention.
    pub hour_rows_pruned: u64,
    /// Catalog samples and dead-letter reasons deleted: past retention, or of event types
    /// no longer live.
    pub catalog_rows_pruned: u64,
}

/// Moves every minute row with `bucket_ms < cutoff_ms` into its hour, one hour-sized slice
/// per transaction. Each slice is taken with `DELETE … RETURNING`, so when two instances run
/// this at once a row is moved by whichever deletes it, never by both.
pub(crate) async fn rollup(
    db: &Database,
    cutoff_ms: i64,
    report: &mut MaintenanceReport,
) -> Result<(), QualityError> {
    for _ in 0..MAX_ROLLUP_SLICES {
        let oldest: Option<i64> =
            sqlx::query_scalar("SELECT MIN(bucket_ms) FROM quality_minutes WHERE bucket_ms < $1")
                .bind(cutoff_ms)
                .fetch_one(db.pool())
                .await?;
        let Some(oldest) = oldest else {
            return Ok(());
        };
        let hour = oldest.div_euclid(HOUR_MS) * HOUR_MS;
        let end = (hour + HOUR_MS).min(cutoff_ms);
        let mut tx = db.begin_write().await?;
        let taken: Vec<Row> = sqlx::query_as(&format!(
            "DELETE FROM quality_minutes WHERE bucket_ms >= $1 AND bucket_ms < $2 \
             RETURNING {COLUMNS}"
        ))
        .bind(hour)
        .bind(end)
        .fetch_all(&mut *tx)
        .await?;
        let mut hours: BTreeMap<RowKey, i64> = BTreeMap::new();
        for row in &taken {
            let mut key = row.key.clone();
            key.bucket_ms = key.bucket_ms.div_euclid(HOUR_MS) * HOUR_MS;
            *hours.entry(key).or_insert(0) += row.value;
        }
        add_rows_in(&mut tx, Table::Hours, &hours).await?;
        tx.commit().await?;
        report.minute_rows_rolled_up += taken.len() as u64;
        report.hour_rows_written += hours.len() as u64;
    }
    Ok(())
}

/// Deletes hour rows with `bucket_ms < cutoff_ms`.
pub(crate) async fn prune(db: &Database, cutoff_ms: i64) -> Result<u64, QualityError> {
    let done = sqlx::query("DELETE FROM quality_hours WHERE bucket_ms < $1")
        .bind(cutoff_ms)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}

/// The rows of one event type in `table` with `from_ms <= bucket_ms < to_ms`.
pub(crate) async fn load(
    db: &Database,
    table: Table,
    event_type: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Row>, QualityError> {
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {} WHERE event_type = $1 AND bucket_ms >= $2 AND bucket_ms < $3",
        table.name()
    ))
    .bind(event_type)
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(db.pool())
    .await?;
    Ok(rows)
}

/// A sum over a range, per event type, metric and label.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct Sum {
    pub(crate) event_type: String,
    pub(crate) metric: String,
    pub(crate) label: String,
    pub(crate) value: i64,
}

/// Sums of `table` over `from_ms <= bucket_ms < to_ms` for the metrics a summary of a whole
/// range needs (outcomes, scores, lags), of one event type or of all.
pub(crate) async fn sums(
    db: &Database,
    table: Table,
    event_type: Option<&str>,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Sum>, QualityError> {
    let rows = sqlx::query_as(&format!(
        "SELECT event_type, metric, label, CAST(SUM(value) AS BIGINT) AS value FROM {} \
         WHERE bucket_ms >= $1 AND bucket_ms < $2 AND ($3 = '' OR event_type = $3) \
         AND metric IN ('outcome', 'score_bucket', 'score_sum', 'lag_bucket') \
         GROUP BY event_type, metric, label",
        table.name()
    ))
    .bind(from_ms)
    .bind(to_ms)
    .bind(event_type.unwrap_or(""))
    .fetch_all(db.pool())
    .await?;
    Ok(rows)
}

/// When a producer last sent events of a type with a schema version.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct Seen {
    pub(crate) event_type: String,
    pub(crate) producer: String,
    pub(crate) schema_version: i64,
    pub(crate) last_bucket_ms: i64,
}

/// The (event type, producer, schema version) triples of `table` with events since
/// `from_ms`, of one event type or of all, with the start of the last bucket holding some.
pub(crate) async fn seen(
    db: &Database,
    table: Table,
    event_type: Option<&str>,
    from_ms: i64,
) -> Result<Vec<Seen>, QualityError> {
    let rows = sqlx::query_as(&format!(
        "SELECT event_type, producer, CAST(schema_version AS BIGINT) AS schema_version, \
         CAST(MAX(bucket_ms) AS BIGINT) AS last_bucket_ms FROM {} \
         WHERE bucket_ms >= $1 AND ($2 = '' OR event_type = $2) AND metric = 'outcome' \
         GROUP BY event_type, producer, schema_version",
        table.name()
    ))
    .bind(from_ms)
    .bind(event_type.unwrap_or(""))
    .fetch_all(db.pool())
    .await?;
    Ok(rows)
}
