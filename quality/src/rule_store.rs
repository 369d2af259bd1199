//! Where rule sets live: table `quality_rules`, one row per version of an event type's rule
//! set, written once. The SQL is the same on SQLite and PostgreSQL.

use serde::Serialize;
use tributary_core::{AuditEntry, Database, Principal, now_ms, record_audit_in};

use crate::QualityError;
use crate::rules::QualityRules;

/// How often a write is retried when a concurrent writer took the same version.
const ATTEMPTS: usize = 8;

/// The rule-set versions of event types. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RuleStore {
    db: Database,
}

/// One stored version of a rule set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleVersion {
    pub version: i64,
    pub created_at_ms: i64,
    pub created_by: String,
    #[serde(flatten)]
    pub rules: QualityRules,
}

fn parse(event_type: &str, version: i64, body: &str) -> Result<QualityRules, QualityError> {
    serde_json::from_str(body).map_err(|e| {
        QualityError::Store(format!(
            "stored rules of {event_type} version {version} do not read: {e}"
        ))
    })
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl RuleStore {
    pub fn new(db: Database) -> RuleStore {
        RuleStore { db }
    }

    /// The current (highest) version of `event_type`'s rules, if it has any.
    pub async fn current(
        &self,
        event_type: &str,
    ) -> Result<Option<(i64, QualityRules)>, QualityError> {
        let row: Option<(i64, String)> = sqlx::query_as(
            "SELECT version, body FROM quality_rules WHERE event_type = $1 \
             ORDER BY version DESC LIMIT 1",
        )
        .bind(event_type)
        .fetch_optional(self.db.pool())
        .await?;
        match row {
            None => Ok(None),
            Some((version, body)) => Ok(Some((version, parse(event_type, version, &body)?))),
        }
    }

    /// Every version of `event_type`'s rules, oldest first.
    pub async fn versions(&self, event_type: &str) -> Result<Vec<RuleVersion>, QualityError> {
        let rows: Vec<(i64, String, i64, String)> = sqlx::query_as(
            "SELECT version, body, created_at_ms, created_by FROM quality_rules \
             WHERE event_type = $1 ORDER BY version",
        )
        .bind(event_type)
        .fetch_all(self.db.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for (version, body, created_at_ms, created_by) in rows {
            out.push(RuleVersion {
                version,
                created_at_ms,
                created_by,
                rules: parse(event_type, version, &body)?,
            });
        }
        Ok(out)
    }

    /// Stores `rules` as the next version of `event_type`'s rules, with an audit entry in the
    /// same transaction; returns the version. Does not validate: compile the rules against
    /// the schema first ([`crate::Scorer::compile`]). Two concurrent writers never get the
    /// same version: the loser retries, and after several collisions gets a conflict.
    pub async fn put(
        &self,
        who: &Principal,
        event_type: &str,
        rules: &QualityRules,
    ) -> Result<i64, QualityError> {
        let body = serde_json::to_string(rules)
            .map_err(|e| QualityError::Store(format!("cannot encode the rules: {e}")))?;
        for _ in 0..ATTEMPTS {
            match self.try_put(who, event_type, &body).await {
                Ok(version) => return Ok(version),
                Err(error) if is_unique_violation(&error) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(QualityError::Concurrent(event_type.to_owned()))
    }

    /// One attempt: the next version, its audit entry, committed together.
    async fn try_put(
        &self,
        who: &Principal,
        event_type: &str,
        body: &str,
    ) -> Result<i64, sqlx::Error> {
        let mut tx = self.db.begin_write().await?;
        // Writing first takes SQLite's write lock at once; on PostgreSQL a concurrent writer
        // of the same version fails on the primary key and is retried.
        let (version,): (i64,) = sqlx::query_as(
            "INSERT INTO quality_rules (event_type, version, body, created_at_ms, created_by) \
             SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4 \
             FROM quality_rules WHERE event_type = $1 RETURNING version",
        )
        .bind(event_type)
        .bind(body)
        .bind(now_ms())
        .bind(who.name.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let before: Option<(String,)> =
            sqlx::query_as("SELECT body FROM quality_rules WHERE event_type = $1 AND version = $2")
                .bind(event_type)
                .bind(version - 1)
                .fetch_optional(&mut *tx)
                .await?;
        let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).ok();
        let mut after = json(body);
        if let Some(serde_json::Value::Object(map)) = &mut after {
            map.insert(String::from("version"), serde_json::Value::from(version));
        }
        let entry = AuditEntry::now(
            who.name.as_str(),
            "quality_rules.put",
            "event_type",
            event_type,
        )
        .with_change(before.and_then(|(b,)| json(&b)), after);
        record_audit_in(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(version)
    }
}
