//! The audit log: who changed what, when, with the state before and after.
//!
//! Every schema change, event-type change, registry setting change and replay writes one
//! [`AuditEntry`]. Entries are only ever inserted. Callers that change metadata in a
//! transaction record the entry in that same transaction with [`record_audit_in`]; the rest
//! use [`Database::record_audit`] right after the change.

use serde::Serialize;
use serde_json::Value;
use sqlx::AnyConnection;

use crate::{Database, DbError};

/// One change, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The principal that made the change, e.g. `team:payments`.
    pub actor: String,
    /// What was done, e.g. `event_type.update` or `schema.register`.
    pub action: String,
    /// What kind of thing changed: `event_type`, `subject`, `registry`, …
    pub target_kind: String,
    /// Which one: an event-type name, a subject, …
    pub target: String,
    /// The state before (`None`: it did not exist).
    pub before: Option<Value>,
    /// The state after (`None`: it no longer exists).
    pub after: Option<Value>,
}

impl AuditEntry {
    /// An entry stamped now.
    pub fn now(
        actor: impl Into<String>,
        action: impl Into<String>,
        target_kind: impl Into<String>,
        target: impl Into<String>,
    ) -> AuditEntry {
        AuditEntry {
            at_ms: now_ms(),
            actor: actor.into(),
            action: action.into(),
            target_kind: target_kind.into(),
            target: target.into(),
            before: None,
            after: None,
        }
    }

    pub fn with_change(mut self, before: Option<Value>, after: Option<Value>) -> AuditEntry {
        self.before = before;
        self.after = after;
        self
    }
}

/// An entry read back, with its id (ids grow with insertion order).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub id: i64,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
}

const INSERT: &str = "INSERT INTO audit_log (at_ms, actor, action, target_kind, target, before_json, after_json) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";

/// Records `entry` on `conn`, typically inside the transaction that made the change.
pub async fn record_audit_in(
    conn: &mut AnyConnection,
    entry: &AuditEntry,
) -> Result<i64, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as(INSERT)
        .bind(entry.at_ms)
        .bind(entry.actor.as_str())
        .bind(entry.action.as_str())
        .bind(entry.target_kind.as_str())
        .bind(entry.target.as_str())
        .bind(entry.before.as_ref().map(Value::to_string))
        .bind(entry.after.as_ref().map(Value::to_string))
        .fetch_one(conn)
        .await?;
    Ok(id)
}

type Row = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

impl Database {
    /// Records `entry` on its own.
    pub async fn record_audit(&self, entry: &AuditEntry) -> Result<i64, DbError> {
        let mut conn = self.pool().acquire().await?;
        Ok(record_audit_in(&mut conn, entry).await?)
    }

    /// What changed at or after `since_ms`: the distinct `(target_kind, target)` pairs of the
    /// entries since then, each with its newest entry's time, oldest first (at most `limit`). A follower
    /// that asks again from a little before the newest time it saw also catches entries whose
    /// transactions committed late.
    pub async fn audit_targets_since(
        &self,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<(String, String, i64)>, DbError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT target_kind, target, CAST(MAX(at_ms) AS BIGINT) FROM audit_log \
             WHERE at_ms >= $1 GROUP BY target_kind, target ORDER BY MAX(at_ms) LIMIT $2",
        )
        .bind(since_ms)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }

    /// The entries about any of `targets` (`(target_kind, target)` pairs), newest first, at
    /// most `limit`.
    pub async fn audit_for(
        &self,
        targets: &[(&str, &str)],
        limit: u32,
    ) -> Result<Vec<AuditRecord>, DbError> {
        if targets.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let mut clauses = Vec::with_capacity(targets.len());
        for i in 0..targets.len() {
            clauses.push(format!(
                "(target_kind = ${} AND target = ${})",
                2 * i + 1,
                2 * i + 2
            ));
        }
        let sql = format!(
            "SELECT id, at_ms, actor, action, target_kind, target, before_json, after_json \
             FROM audit_log WHERE {} ORDER BY at_ms DESC, id DESC LIMIT ${}",
            clauses.join(" OR "),
            2 * targets.len() + 1
        );
        let mut query = sqlx::query_as::<_, Row>(&sql);
        for (kind, target) in targets {
            query = query.bind(*kind).bind(*target);
        }
        let rows = query.bind(i64::from(limit)).fetch_all(self.pool()).await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, at_ms, actor, action, target_kind, target, before, after)| AuditRecord {
                    id,
                    entry: AuditEntry {
                        at_ms,
                        actor,
                        action,
                        target_kind,
                        target,
                        before: before.and_then(|text| serde_json::from_str(&text).ok()),
                        after: after.and_then(|text| serde_json::from_str(&text).ok()),
                    },
                },
            )
            .collect())
    }
}
