//! Replay jobs run by the server: a request is checked (range, types, target, who may) and
//! resolved (topics, absolute times) into a stored job; a runner picks up stored jobs one at a
//! time — resuming a job that was running when the server stopped, from its checkpoints — and
//! follows what owners ask (pause, resume, cancel) between batches.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use tributary_core::{Principal, now_ms};
use tributary_eventlog::EventLog;
use tributary_registry::{EventTypeError, EventTypes};

use crate::engine::{Control, Progress};
use crate::error::ReplayError;
use crate::model::{FileFormat, Predicate, Selection, Target};
use crate::plan::{self, PartitionEstimate};
mod runner;

use crate::reingest::{Fix, FixPreview, Reingest, preview};
use crate::store::{Desired, JobStore, NewJob, StoredJob};
use crate::time::parse_time;
pub use runner::{RunnerTask, job_run, spawn_runner, start};

/// Most event types one job reads.
pub const MAX_JOB_TYPES: usize = 100;
/// Most keys, producers or versions one filter lists.
pub const MAX_FILTER_VALUES: usize = 1_000;
/// How often a running job's counts are written to its row.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// Times in a row a job is started again after a passing event-log error before it fails,
/// waiting `RETRY_BASE`, then twice that, and so on.
const MAX_RETRIES: u32 = 5;
const RETRY_BASE: Duration = Duration::from_secs(1);
/// Dead letters a recovery's dry run shows before and after its fix.
const PREVIEWED: usize = 20;
/// Jobs one server runs at once; more wait, oldest first.
const MAX_RUNNING: usize = 2;

/// What `POST /v1/replays` takes.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// The event types to replay (their topics), or whose dead letters to replay.
    pub event_types: Vec<String>,
    /// Read the dead-letter topic instead, keeping dead letters of `event_types`.
    #[serde(default)]
    pub dead_letters: bool,
    /// Only dead letters with one of these reasons (with `dead_letters`).
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Start of the range (included): RFC 3339, or relative to now (`-6h`, `-30m`, `-2d`).
    pub from: String,
    /// End of the range (excluded), as `from`; default `now` (fixed when the job is created).
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub keys: Vec<String>,
    #[serde(default)]
    pub producers: Vec<String>,
    #[serde(default)]
    pub schema_versions: Vec<i32>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub predicate: Option<Predicate>,
    /// Stop after this many events.
    #[serde(default)]
    pub max_events: Option<u64>,
    /// Events per second at most.
    #[serde(default)]
    pub rate: Option<u32>,
    /// Where to: `{"topic": NAME}`, `{"source": true}` (back to the source topic), or
    /// `{"file": {"path": DIR, "format": "ndjson"|"avro"}}` (a new directory under the
    /// server's export directory); default the topic `replay.<job-id>`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub target: Option<TargetRequest>,
    /// With `"target": {"gateway": true}`: an RFC 6902 JSON Patch applied to each dead letter
    /// before it is re-ingested, e.g. `[{"op": "add", "path": "/currency", "value": "EUR"}]`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub fix: Option<serde_json::Value>,
    /// Plan only: per partition the offsets it would read and the count it would emit (and,
    /// for a dead-letter recovery, a before/after preview of the fix).
    #[serde(default)]
    pub dry_run: bool,
}

/// Where a request asks the records to go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct TargetRequest {
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub source: bool,
    #[serde(default)]
    pub file: Option<FileRequest>,
    /// Re-ingest dead letters through the gateway (validated again, original event ids).
    #[serde(default)]
    pub gateway: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRequest {
    pub path: String,
    pub format: FileFormat,
}

/// A job with its live progress (while it runs here).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobView {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub job: StoredJob,
    #[schema(value_type = Option<Object>)]
    pub progress: Option<Progress>,
}

/// What a dry run answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DryRun {
    pub from_ms: i64,
    pub to_ms: i64,
    #[schema(value_type = Vec<Object>)]
    pub partitions: Vec<PartitionEstimate>,
    pub would_emit: u64,
    pub warnings: Vec<String>,
    /// For a dead-letter recovery: the first dead letters it would take, before and after the
    /// fix, with the verdict the gateway would give them now.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub fixes: Vec<FixPreview>,
}

/// Settings of the server's replays.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The gateway's dead-letter topic.
    pub dead_letter_topic: String,
    /// Where file exports go; a request names a new directory under it.
    pub export_dir: PathBuf,
}

/// The server's replays. Cheap to clone.
#[derive(Clone)]
pub struct ReplayService {
    inner: Arc<Inner>,
}

struct Inner {
    store: JobStore,
    log: Arc<dyn EventLog>,
    event_types: EventTypes,
    options: ReplayOptions,
    live: Mutex<HashMap<String, Live>>,
    wake: Notify,
    /// Set once the server stops: running jobs stop between batches and stay `running`.
    stopping: AtomicBool,
    /// Passing event-log errors met in a row, per job.
    retries: Mutex<HashMap<String, u32>>,
    /// The gateway, for dead letters fixed and re-ingested.
    reingest: Option<Arc<dyn Reingest>>,
}

/// A job this server is running (or about to).
struct Live {
    control: Control,
    progress: watch::Receiver<Progress>,
}

impl Live {
    fn starting() -> Live {
        Live {
            control: Control::new(),
            progress: watch::channel(Progress::default()).1,
        }
    }
}

impl std::fmt::Debug for ReplayService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayService").finish_non_exhaustive()
    }
}

impl ReplayService {
    pub fn new(
        store: JobStore,
        log: Arc<dyn EventLog>,
        event_types: EventTypes,
        options: ReplayOptions,
        reingest: Option<Arc<dyn Reingest>>,
    ) -> ReplayService {
        ReplayService {
            inner: Arc::new(Inner {
                store,
                log,
                event_types,
                options,
                live: Mutex::new(HashMap::new()),
                wake: Notify::new(),
                stopping: AtomicBool::new(false),
                retries: Mutex::new(HashMap::new()),
                reingest,
            }),
        }
    }

    /// Checks and resolves `request`; stores it as a pending job (or, for a dry run, plans it
    /// and answers what it would do).
    pub async fn create(
        &self,
        who: &Principal,
        request: ReplayRequest,
    ) -> Result<Created, ReplayError> {
        let id = new_job_id();
        let (selection, target, types) = self.resolve(who, &request, &id).await?;
        if request.dry_run {
            let plan = plan::plan(self.inner.log.as_ref(), &selection).await?;
            let partitions = plan::dry_run(self.inner.log.as_ref(), &selection, &plan).await?;
            let would_emit = partitions.iter().map(|p| p.emitted).sum::<u64>();
            let would_emit = request.max_events.map_or(would_emit, |m| would_emit.min(m));
            let fixes = match (&target, &self.inner.reingest) {
                (Target::Reingest { fix }, Some(reingest)) => {
                    let log = self.inner.log.as_ref();
                    preview(log, &selection, &plan, fix, reingest.as_ref(), PREVIEWED).await?
                }
                _ => Vec::new(),
            };
            return Ok(Created::DryRun(DryRun {
                from_ms: selection.from_ms,
                to_ms: selection.to_ms,
                partitions,
                would_emit,
                warnings: plan.warnings,
                fixes,
            }));
        }
        let job = NewJob {
            id,
            request: serde_json::to_value(&request).unwrap_or_default(),
            selection,
            target,
            event_types: types,
            rate_per_sec: request.rate,
            max_events: request.max_events,
            created_by: who.name.clone(),
        };
        let stored = self.inner.store.insert(&job).await?;
        self.inner.wake.notify_one();
        Ok(Created::Job(Box::new(JobView {
            job: stored,
            progress: None,
        })))
    }

    async fn resolve(
        &self,
        who: &Principal,
        request: &ReplayRequest,
        id: &str,
    ) -> Result<(Selection, Target, Vec<String>), ReplayError> {
        let bad = |text: String| ReplayError::BadRequest(text);
        if request.event_types.is_empty() {
            return Err(bad(String::from(
                "event_types: name at least one event type",
            )));
        }
        if request.event_types.len() > MAX_JOB_TYPES {
            return Err(bad(format!("event_types: at most {MAX_JOB_TYPES}")));
        }
        for (name, values) in [
            ("keys", request.keys.len()),
            ("producers", request.producers.len()),
            ("schema_versions", request.schema_versions.len()),
            ("reasons", request.reasons.len()),
        ] {
            if values > MAX_FILTER_VALUES {
                return Err(bad(format!("{name}: at most {MAX_FILTER_VALUES} values")));
            }
        }
        if !request.dead_letters && !request.reasons.is_empty() {
            return Err(bad(String::from(
                "reasons: only dead-letter replays (\"dead_letters\": true) select by reason",
            )));
        }
        let reingests = request.target.as_ref().is_some_and(|t| t.gateway);
        if request.fix.is_some() && !reingests {
            return Err(bad(String::from(
                "fix: a fix applies to dead letters re-ingested through the gateway (\"target\": {\"gateway\": true})",
            )));
        }
        if reingests && self.inner.reingest.is_none() {
            return Err(bad(String::from(
                "target.gateway: this server has no gateway to re-ingest through",
            )));
        }
        if request.rate == Some(0) {
            return Err(bad(String::from("rate: at least 1 event per second")));
        }
        let now = now_ms();
        let from = parse_time(&request.from, now).map_err(|e| bad(format!("from: {e}")))?;
        let to = match &request.to {
            Some(text) => parse_time(text, now).map_err(|e| bad(format!("to: {e}")))?,
            None => now,
        };
        if from >= to {
            return Err(bad(format!(
                "from ({}) must be before to ({}): the range is [from, to)",
                request.from,
                request.to.as_deref().unwrap_or("now")
            )));
        }
        let mut types: Vec<String> = request.event_types.clone();
        types.sort();
        types.dedup();
        let mut topics = Vec::with_capacity(types.len());
        for name in &types {
            let event_type = match self.inner.event_types.get(name).await {
                Ok(found) if found.deleted_at_ms.is_none() => found,
                Ok(_) | Err(EventTypeError::NotFound(_)) => {
                    return Err(ReplayError::NotFound(format!(
                        "event type {name} does not exist"
                    )));
                }
                Err(other) => return Err(ReplayError::Store(other.to_string())),
            };
            if !who.acts_for(&event_type.owner) {
                return Err(ReplayError::Forbidden(format!(
                    "only team {} (the owner of {name}) or an admin may replay it; {} may not",
                    event_type.owner, who.name
                )));
            }
            topics.push(self.inner.event_types.topic(&event_type.name));
        }
        let (source_topics, dead_letter_types) = if request.dead_letters {
            (
                vec![self.inner.options.dead_letter_topic.clone()],
                types.clone(),
            )
        } else {
            (topics, Vec::new())
        };
        let target = match &request.target {
            None => Target::Topic {
                topic: format!("replay.{id}"),
            },
            Some(target) => self.target_of(target, &source_topics, request)?,
        };
        if let Target::Topic { topic } = &target
            && !source_topics.contains(topic)
        {
            self.check_target_topic(who, topic).await?;
        }
        let selection = Selection {
            topics: source_topics,
            from_ms: from,
            to_ms: to,
            keys: request.keys.clone(),
            producers: request.producers.clone(),
            schema_versions: request.schema_versions.clone(),
            predicate: request.predicate.clone(),
            dead_letter_reasons: request.reasons.clone(),
            dead_letter_types,
        };
        crate::select::validate(&selection)?;
        Ok((selection, target, types))
    }

    /// Whether `who` may write replayed records into `topic`: never into the dead-letter
    /// topic, and into an event type's topic only as one of its owners (or an admin).
    async fn check_target_topic(&self, who: &Principal, topic: &str) -> Result<(), ReplayError> {
        if topic == self.inner.options.dead_letter_topic {
            return Err(ReplayError::Forbidden(format!(
                "target.topic {topic} is the dead-letter topic: only the gateway writes there"
            )));
        }
        let event_types = &self.inner.event_types;
        let Some(name) = event_types.name_of_subject(&format!("{topic}-value")) else {
            return Ok(());
        };
        match event_types.get(name.as_str()).await {
            Ok(owned) if !who.acts_for(&owned.owner) => Err(ReplayError::Forbidden(format!(
                "target.topic {topic} holds event type {} of team {}: only its owners or an admin may replay into it; {} may not",
                owned.name.as_str(),
                owned.owner,
                who.name
            ))),
            Ok(_) | Err(EventTypeError::NotFound(_)) => Ok(()),
            Err(other) => Err(ReplayError::Store(other.to_string())),
        }
    }

    fn target_of(
        &self,
        target: &TargetRequest,
        sources: &[String],
        request: &ReplayRequest,
    ) -> Result<Target, ReplayError> {
        let bad = |text: &str| ReplayError::BadRequest(text.to_owned());
        if target.gateway {
            if target.topic.is_some() || target.source || target.file.is_some() {
                return Err(bad(
                    "target: give exactly one of \"topic\", \"source\": true, \"file\" or \"gateway\": true",
                ));
            }
            if !request.dead_letters {
                return Err(bad(
                    "target.gateway re-ingests dead letters: set \"dead_letters\": true (live events were accepted already)",
                ));
            }
            let fix = Fix::new(request.fix.clone().unwrap_or_else(|| serde_json::json!([])))?;
            return Ok(Target::Reingest { fix });
        }
        match (&target.topic, target.source, &target.file) {
            (Some(topic), false, None) => {
                if sources.contains(topic) {
                    return Err(bad(
                        "target.topic names a source topic: use \"source\": true to replay into it on purpose",
                    ));
                }
                Ok(Target::Topic {
                    topic: topic.clone(),
                })
            }
            (None, true, None) => match sources {
                [only] => Ok(Target::Topic {
                    topic: only.clone(),
                }),
                _ => Err(bad(
                    "target.source replays into the source topic, so the job must read exactly one",
                )),
            },
            (None, false, Some(file)) => {
                let dir = export_path(&self.inner.options.export_dir, &file.path)?;
                if dir.exists() {
                    return Err(ReplayError::Conflict(format!(
                        "{} already exists: an export never overwrites one",
                        file.path
                    )));
                }
                Ok(Target::Files {
                    dir,
                    format: file.format,
                })
            }
            _ => Err(bad(
                "target: give exactly one of \"topic\", \"source\": true, \"file\" or \"gateway\": true",
            )),
        }
    }

    /// A job and, while it runs here, its live progress.
    pub async fn get(&self, id: &str) -> Result<JobView, ReplayError> {
        let job = self
            .inner
            .store
            .get(id)
            .await?
            .ok_or_else(|| ReplayError::NotFound(format!("replay job {id} does not exist")))?;
        Ok(self.view(job))
    }

    /// Jobs, newest first.
    pub async fn list(
        &self,
        event_type: Option<&str>,
        limit: u32,
    ) -> Result<Vec<JobView>, ReplayError> {
        let jobs = self.inner.store.list(event_type, limit).await?;
        Ok(jobs.into_iter().map(|job| self.view(job)).collect())
    }

    fn view(&self, job: StoredJob) -> JobView {
        let live = self
            .inner
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let progress = live.get(&job.id).map(|l| l.progress.borrow().clone());
        JobView { job, progress }
    }

    /// Pause, resume or cancel: by whoever may replay every type of the job. A running job
    /// stops between batches and keeps its checkpoints; a paused one is picked up again, from
    /// its checkpoints, once resumed.
    pub async fn request(
        &self,
        who: &Principal,
        id: &str,
        desired: Desired,
    ) -> Result<JobView, ReplayError> {
        let job = self.get(id).await?.job;
        for name in &job.event_types {
            if let Ok(event_type) = self.inner.event_types.get(name).await
                && !who.acts_for(&event_type.owner)
            {
                return Err(ReplayError::Forbidden(format!(
                    "only team {} (the owner of {name}) or an admin may change this replay; {} may not",
                    event_type.owner, who.name
                )));
            }
        }
        if job.state.is_final() {
            return Err(ReplayError::Conflict(format!(
                "replay job {id} is already {}",
                job.state.as_str()
            )));
        }
        let job = self
            .inner
            .store
            .set_desired(id, desired, &who.name)
            .await?
            .ok_or_else(|| ReplayError::NotFound(format!("replay job {id} does not exist")))?;
        if desired != Desired::Run
            && let Some(live) = self.live().get(id)
        {
            live.control.cancel();
        }
        self.inner.wake.notify_one();
        Ok(self.view(job))
    }

    fn retries(&self) -> MutexGuard<'_, HashMap<String, u32>> {
        self.inner
            .retries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn live(&self) -> MutexGuard<'_, HashMap<String, Live>> {
        self.inner
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// What `create` did.
#[derive(Debug, Clone)]
pub enum Created {
    Job(Box<JobView>),
    DryRun(DryRun),
}

/// `requested` as a new directory under `root`: relative, without `..`.
fn export_path(root: &Path, requested: &str) -> Result<PathBuf, ReplayError> {
    let path = Path::new(requested);
    let plain =
        !requested.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(ReplayError::BadRequest(format!(
            "target.file.path {requested:?} must be a relative path without `..`: exports go under the server's export directory"
        )));
    }
    Ok(root.join(path))
}

/// A new job id: a UUIDv7 in 32 hex digits, so ids sort by creation time.
pub fn new_job_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_stay_under_the_export_directory() {
        let root = Path::new("/srv/exports");
        assert_eq!(
            export_path(root, "audit/2026-11").unwrap(),
            Path::new("/srv/exports/audit/2026-11")
        );
        for bad in ["", "/etc/passwd", "../x", "a/../../b", "./a"] {
            assert!(export_path(root, bad).is_err(), "{bad}");
        }
    }
}
