//! Replay jobs and their checkpoints in SQL (migration 0009), one text for SQLite and
//! PostgreSQL. The runner and the HTTP API share this store: the API writes what the owner
//! wants (`desired`), the runner writes where the job is (`state`, counts, checkpoints).

use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use tributary_core::{AuditEntry, Database, now_ms, record_audit_in};

use crate::model::{
    BoxError, BoxFuture, Checkpoint, CheckpointMap, Checkpoints, Selection, SinkReport, Target,
};

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Pending,
    Running,
    Paused,
    Completed,
    Cancelled,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Paused => "paused",
            JobState::Completed => "completed",
            JobState::Cancelled => "cancelled",
            JobState::Failed => "failed",
        }
    }

    fn parse(text: &str) -> JobState {
        match text {
            "running" => JobState::Running,
            "paused" => JobState::Paused,
            "completed" => JobState::Completed,
            "cancelled" => JobState::Cancelled,
            "failed" => JobState::Failed,
            _ => JobState::Pending,
        }
    }

    /// Whether the job will not run again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Cancelled | JobState::Failed
        )
    }
}

/// What the owner last asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Desired {
    Run,
    Pause,
    Cancel,
}

impl Desired {
    pub fn as_str(self) -> &'static str {
        match self {
            Desired::Run => "run",
            Desired::Pause => "pause",
            Desired::Cancel => "cancel",
        }
    }

    fn parse(text: &str) -> Desired {
        match text {
            "pause" => Desired::Pause,
            "cancel" => Desired::Cancel,
            _ => Desired::Run,
        }
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredJob {
    pub id: String,
    /// The request as accepted.
    pub request: serde_json::Value,
    pub selection: Selection,
    pub target: Target,
    pub event_types: Vec<String>,
    pub rate_per_sec: Option<u32>,
    pub max_events: Option<u64>,
    pub state: JobState,
    pub desired: Desired,
    /// The offsets fixed when the job first started.
    pub plan: Option<serde_json::Value>,
    pub emitted: u64,
    pub filtered: u64,
    pub unreadable: u64,
    pub error: Option<String>,
    pub created_at_ms: i64,
    pub created_by: String,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    pub updated_at_ms: i64,
    /// What the sink reported at the end of the job's runs (see [`SinkReport`]).
    pub report: Option<SinkReport>,
}

/// A job about to be stored.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: String,
    pub request: serde_json::Value,
    pub selection: Selection,
    pub target: Target,
    pub event_types: Vec<String>,
    pub rate_per_sec: Option<u32>,
    pub max_events: Option<u64>,
    pub created_by: String,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("metadata store: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("stored replay job {id} cannot be read: {reason}")]
    Corrupt { id: String, reason: String },
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: String,
    request_json: String,
    selection_json: String,
    target_json: String,
    rate_per_sec: Option<i64>,
    max_events: Option<i64>,
    state: String,
    desired: String,
    plan_json: Option<String>,
    emitted: i64,
    filtered: i64,
    unreadable: i64,
    error: Option<String>,
    created_at_ms: i64,
    created_by: String,
    started_at_ms: Option<i64>,
    finished_at_ms: Option<i64>,
    updated_at_ms: i64,
    report_json: Option<String>,
}

const COLUMNS: &str = "id, request_json, selection_json, target_json, rate_per_sec, max_events, \
     state, desired, plan_json, emitted, filtered, unreadable, error, created_at_ms, created_by, \
     started_at_ms, finished_at_ms, updated_at_ms, report_json";

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl JobRow {
    fn into_job(self, event_types: Vec<String>) -> Result<StoredJob, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            id: self.id.clone(),
            reason,
        };
        let request =
            serde_json::from_str(&self.request_json).map_err(|e| corrupt(e.to_string()))?;
        let selection =
            serde_json::from_str(&self.selection_json).map_err(|e| corrupt(e.to_string()))?;
        let target = serde_json::from_str(&self.target_json).map_err(|e| corrupt(e.to_string()))?;
        let report = match &self.report_json {
            Some(text) => Some(serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?),
            None => None,
        };
        let plan = match &self.plan_json {
            Some(text) => Some(serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?),
            None => None,
        };
        Ok(StoredJob {
            request,
            selection,
            target,
            event_types,
            rate_per_sec: self.rate_per_sec.and_then(|r| u32::try_from(r).ok()),
            max_events: self.max_events.and_then(|m| u64::try_from(m).ok()),
            state: JobState::parse(&self.state),
            desired: Desired::parse(&self.desired),
            plan,
            emitted: count(self.emitted),
            filtered: count(self.filtered),
            unreadable: count(self.unreadable),
            error: self.error,
            created_at_ms: self.created_at_ms,
            created_by: self.created_by,
            started_at_ms: self.started_at_ms,
            finished_at_ms: self.finished_at_ms,
            updated_at_ms: self.updated_at_ms,
            report,
            id: self.id,
        })
    }
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Replay jobs in the metadata database.
#[derive(Debug, Clone)]
pub struct JobStore {
    db: Database,
}

impl JobStore {
    pub fn new(db: Database) -> JobStore {
        JobStore { db }
    }

    /// Stores a new pending job and its audit entry in one transaction.
    pub async fn insert(&self, job: &NewJob) -> Result<StoredJob, StoreError> {
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO replay_jobs (id, request_json, selection_json, target_json, rate_per_sec, \
             max_events, state, desired, plan_json, emitted, filtered, unreadable, error, \
             created_at_ms, created_by, started_at_ms, finished_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 'run', NULL, 0, 0, 0, NULL, $7, $8, NULL, NULL, $7)",
        )
        .bind(job.id.as_str())
        .bind(job.request.to_string())
        .bind(to_json(&job.selection))
        .bind(to_json(&job.target))
        .bind(job.rate_per_sec.map(i64::from))
        .bind(job.max_events.map(signed))
        .bind(now)
        .bind(job.created_by.as_str())
        .execute(&mut *tx)
        .await?;
        for event_type in &job.event_types {
            sqlx::query("INSERT INTO replay_job_types (job_id, event_type) VALUES ($1, $2)")
                .bind(job.id.as_str())
                .bind(event_type.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let entry = AuditEntry {
            at_ms: now,
            actor: job.created_by.clone(),
            action: String::from("replay.create"),
            target_kind: String::from("replay"),
            target: job.id.clone(),
            before: None,
            after: Some(job.request.clone()),
        };
        record_audit_in(&mut tx, &entry).await?;
        tx.commit().await?;
        self.get(&job.id).await?.ok_or_else(|| StoreError::Corrupt {
            id: job.id.clone(),
            reason: String::from("not found right after it was stored"),
        })
    }

    pub async fn get(&self, id: &str) -> Result<Option<StoredJob>, StoreError> {
        let mut conn = self.db.pool().acquire().await?;
        let row: Option<JobRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM replay_jobs WHERE id = $1"))
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
        match row {
            Some(row) => {
                let types = types_of(&mut conn, id).await?;
                Ok(Some(row.into_job(types)?))
            }
            None => Ok(None),
        }
    }

    /// Jobs newest first, optionally only those reading `event_type`.
    pub async fn list(
        &self,
        event_type: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredJob>, StoreError> {
        let mut conn = self.db.pool().acquire().await?;
        let rows: Vec<JobRow> = match event_type {
            Some(name) => {
                sqlx::query_as(&format!(
                    "SELECT {COLUMNS} FROM replay_jobs WHERE id IN \
                     (SELECT job_id FROM replay_job_types WHERE event_type = $1) \
                     ORDER BY created_at_ms DESC, id DESC LIMIT $2"
                ))
                .bind(name)
                .bind(i64::from(limit))
                .fetch_all(&mut *conn)
                .await?
            }
            None => sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM replay_jobs ORDER BY created_at_ms DESC, id DESC LIMIT $1"
            ))
            .bind(i64::from(limit))
            .fetch_all(&mut *conn)
            .await?,
        };
        jobs_of(&mut conn, rows).await
    }

    /// Jobs the runner should pick up: not final, and not cancelled by their owner.
    pub async fn unfinished(&self) -> Result<Vec<StoredJob>, StoreError> {
        let mut conn = self.db.pool().acquire().await?;
        let rows: Vec<JobRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM replay_jobs WHERE state IN ('pending', 'running', 'paused') \
             ORDER BY created_at_ms, id"
        ))
        .fetch_all(&mut *conn)
        .await?;
        jobs_of(&mut conn, rows).await
    }

    /// Records what `actor` asked for (pause, resume, cancel), with an audit entry; the job
    /// as it is now, or `None` when there is no such job.
    pub async fn set_desired(
        &self,
        id: &str,
        desired: Desired,
        actor: &str,
    ) -> Result<Option<StoredJob>, StoreError> {
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let changed =
            sqlx::query("UPDATE replay_jobs SET desired = $1, updated_at_ms = $2 WHERE id = $3")
                .bind(desired.as_str())
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if changed == 0 {
            return Ok(None);
        }
        let entry = AuditEntry {
            at_ms: now,
            actor: actor.to_owned(),
            action: format!("replay.{}", desired.as_str()),
            target_kind: String::from("replay"),
            target: id.to_owned(),
            before: None,
            after: Some(serde_json::json!({ "desired": desired.as_str() })),
        };
        record_audit_in(&mut tx, &entry).await?;
        tx.commit().await?;
        self.get(id).await
    }

    /// The job started (or resumed) running; its plan is kept from the first start.
    pub async fn started(&self, id: &str, plan: &serde_json::Value) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query(
            "UPDATE replay_jobs SET state = 'running', plan_json = COALESCE(plan_json, $1), \
             started_at_ms = COALESCE(started_at_ms, $2), updated_at_ms = $2 WHERE id = $3",
        )
        .bind(plan.to_string())
        .bind(now)
        .bind(id)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Where the job is now, with its counts.
    pub async fn progress(
        &self,
        id: &str,
        state: JobState,
        (emitted, filtered, unreadable): (u64, u64, u64),
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE replay_jobs SET state = $1, emitted = $2, filtered = $3, unreadable = $4, \
             updated_at_ms = $5 WHERE id = $6",
        )
        .bind(state.as_str())
        .bind(signed(emitted))
        .bind(signed(filtered))
        .bind(signed(unreadable))
        .bind(now_ms())
        .bind(id)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// The job ended: completed, cancelled or failed (with why).
    pub async fn finished(
        &self,
        id: &str,
        state: JobState,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query(
            "UPDATE replay_jobs SET state = $1, error = $2, finished_at_ms = $3, updated_at_ms = $3 \
             WHERE id = $4",
        )
        .bind(state.as_str())
        .bind(error)
        .bind(now)
        .bind(id)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Adds what a run's sink reported to the job's report (counts summed over its runs).
    pub async fn add_report(&self, id: &str, report: &SinkReport) -> Result<(), StoreError> {
        let Some(job) = self.get(id).await? else {
            return Ok(());
        };
        let merged = match job.report {
            Some(earlier) => earlier.merged(report),
            None => report.clone(),
        };
        sqlx::query("UPDATE replay_jobs SET report_json = $1, updated_at_ms = $2 WHERE id = $3")
            .bind(to_json(&merged))
            .bind(now_ms())
            .bind(id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// The checkpoints of jobs, kept in this database.
    pub fn checkpoints(&self) -> SqlCheckpoints {
        SqlCheckpoints {
            db: self.db.clone(),
        }
    }
}

/// Rows read with their event types.
async fn jobs_of(
    conn: &mut AnyConnection,
    rows: Vec<JobRow>,
) -> Result<Vec<StoredJob>, StoreError> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let types = types_of(conn, &row.id).await?;
        out.push(row.into_job(types)?);
    }
    Ok(out)
}

async fn types_of(conn: &mut AnyConnection, id: &str) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT event_type FROM replay_job_types WHERE job_id = $1 ORDER BY event_type",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|(t,)| t).collect())
}

/// [`Checkpoints`] in the `replay_checkpoints` table.
#[derive(Debug, Clone)]
pub struct SqlCheckpoints {
    db: Database,
}

#[derive(sqlx::FromRow)]
struct CheckpointRow {
    topic: String,
    partition_id: i64,
    next_offset: i64,
    emitted: i64,
    filtered: i64,
    unreadable: i64,
    sink_position: i64,
}

impl Checkpoints for SqlCheckpoints {
    fn load<'a>(&'a self, job_id: &'a str) -> BoxFuture<'a, Result<CheckpointMap, BoxError>> {
        Box::pin(async move {
            let rows: Vec<CheckpointRow> = sqlx::query_as(
                "SELECT topic, partition_id, next_offset, emitted, filtered, unreadable, \
                 sink_position FROM replay_checkpoints WHERE job_id = $1",
            )
            .bind(job_id)
            .fetch_all(self.db.pool())
            .await?;
            let mut out = CheckpointMap::new();
            for row in rows {
                let partition = u32::try_from(row.partition_id)?;
                out.insert(
                    (row.topic.clone(), partition),
                    Checkpoint {
                        topic: row.topic,
                        partition,
                        next_offset: row.next_offset,
                        emitted: count(row.emitted),
                        filtered: count(row.filtered),
                        unreadable: count(row.unreadable),
                        sink_position: count(row.sink_position),
                    },
                );
            }
            Ok(out)
        })
    }

    fn save<'a>(
        &'a self,
        job_id: &'a str,
        checkpoint: &'a Checkpoint,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO replay_checkpoints (job_id, topic, partition_id, next_offset, emitted, \
                 filtered, unreadable, sink_position, updated_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (job_id, topic, partition_id) DO UPDATE SET \
                 next_offset = excluded.next_offset, emitted = excluded.emitted, \
                 filtered = excluded.filtered, unreadable = excluded.unreadable, \
                 sink_position = excluded.sink_position, updated_at_ms = excluded.updated_at_ms",
            )
            .bind(job_id)
            .bind(checkpoint.topic.as_str())
            .bind(i64::from(checkpoint.partition))
            .bind(checkpoint.next_offset)
            .bind(signed(checkpoint.emitted))
            .bind(signed(checkpoint.filtered))
            .bind(signed(checkpoint.unreadable))
            .bind(signed(checkpoint.sink_position))
            .bind(now_ms())
            .execute(self.db.pool())
            .await?;
            Ok(())
        })
    }
}

/// A model value as the text of its JSON column.
fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
