//! The runner: stored jobs run by the server — one job from its plan to its end (or until it
//! is paused, cancelled, fails, or the server stops), and the loop that picks jobs up.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tributary_eventlog::EventLog;

use super::{Live, MAX_RETRIES, MAX_RUNNING, PROGRESS_EVERY, RETRY_BASE, ReplayService};
use crate::engine::{self, Control, JobRun, Outcome, Progress, Totals};
use crate::error::ReplayError;
use crate::model::{SinkReport, Target};
use crate::open::open_sink;
use crate::plan::{self, Plan};
use crate::store::{Desired, JobState, JobStore, StoredJob};

impl ReplayService {
    /// Runs one stored job until it ends, is paused or cancelled, fails, or the server stops.
    async fn run_job(&self, job: StoredJob) {
        let id = job.id.clone();
        let result = self.drive(&job).await;
        let stopping = self.inner.stopping.load(Ordering::SeqCst);
        if let Err(ReplayError::Log(error)) = &result
            && error.is_retryable()
            && !stopping
        {
            let attempt = {
                let mut retries = self.retries();
                let attempt = retries.entry(id.clone()).or_insert(0);
                *attempt += 1;
                *attempt
            };
            if attempt <= MAX_RETRIES {
                let wait = RETRY_BASE * 2u32.pow(attempt - 1);
                tracing::warn!(job = %id, %error, attempt, ?wait, "replay job met a passing event-log error; it resumes from its checkpoints");
                // Still marked live while it waits, so the runner does not pick it up early;
                // a server stopping meanwhile does not wait for it.
                let until = tokio::time::Instant::now() + wait;
                while tokio::time::Instant::now() < until
                    && !self.inner.stopping.load(Ordering::SeqCst)
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                self.live().remove(&id);
                return;
            }
        }
        self.retries().remove(&id);
        self.live().remove(&id);
        let store = &self.inner.store;
        let (state, totals, error) = match result {
            // The server is stopping: the job stays `running` and resumes at the next start.
            Ok(Outcome::Cancelled(_)) | Err(_) if stopping => return,
            Ok(Outcome::Cancelled(totals)) => {
                // Stopped on request: paused (resumable) or cancelled (final).
                let paused =
                    matches!(store.get(&id).await, Ok(Some(now)) if now.desired == Desired::Pause);
                if paused {
                    if let Err(error) = store.progress(&id, JobState::Paused, counts(totals)).await
                    {
                        tracing::error!(job = %id, %error, "cannot record that a replay job paused");
                    }
                    return;
                }
                (JobState::Cancelled, Some(totals), None)
            }
            Ok(Outcome::Completed(totals) | Outcome::LimitReached(totals)) => {
                (JobState::Completed, Some(totals), None)
            }
            Err(error) => {
                tracing::warn!(job = %id, %error, "replay job failed");
                (JobState::Failed, None, Some(error.to_string()))
            }
        };
        if let Some(totals) = totals
            && let Err(error) = store.progress(&id, state, counts(totals)).await
        {
            tracing::error!(job = %id, %error, "cannot record a replay job's counts");
        }
        if let Err(error) = store.finished(&id, state, error.as_deref()).await {
            tracing::error!(job = %id, %error, "cannot record the end of a replay job");
        }
    }

    async fn drive(&self, job: &StoredJob) -> Result<Outcome, ReplayError> {
        let log = Arc::clone(&self.inner.log);
        let plan = start(log.as_ref(), &self.inner.store, job).await?;
        let checkpoints = self.inner.store.checkpoints();
        let reingest = self.inner.reingest.as_ref();
        let mut sink = open_sink(
            &log,
            &job.id,
            &job.selection,
            &job.target,
            &checkpoints,
            reingest,
        )
        .await?;
        let control = Control::new();
        let (progress_tx, progress_rx) = watch::channel(Progress::default());
        self.live().insert(
            job.id.clone(),
            Live {
                control: control.clone(),
                progress: progress_rx.clone(),
            },
        );
        // A request that came while the job was being opened.
        if matches!(self.inner.store.get(&job.id).await?, Some(now) if now.desired != Desired::Run)
            || self.inner.stopping.load(Ordering::SeqCst)
        {
            control.cancel();
        }
        let reporter = self.spawn_reporter(job.id.clone(), progress_rx);
        let outcome = engine::run(
            log,
            &job_run(job),
            &plan,
            sink.as_mut(),
            &checkpoints,
            control,
            progress_tx,
        )
        .await;
        // Waited for, not aborted: a progress write already sent to the database would
        // otherwise land after the final counts below and overwrite them with older ones.
        reporter.stop().await;
        let outcome = outcome?;
        // A stopped export stays unfinished (no manifest) until it resumes; a recovery's
        // counts are kept from every run.
        let reingests = matches!(job.target, Target::Reingest { .. });
        if reingests || !matches!(outcome, Outcome::Cancelled(_)) {
            let report = sink
                .finish()
                .await
                .map_err(|e| ReplayError::Sink(e.to_string()))?;
            if report != SinkReport::default() {
                self.inner.store.add_report(&job.id, &report).await?;
            }
        }
        Ok(outcome)
    }

    /// Copies a running job's counts to its row every second.
    fn spawn_reporter(&self, id: String, progress: watch::Receiver<Progress>) -> Reporter {
        let store = self.inner.store.clone();
        let (stop, mut stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROGRESS_EVERY);
            loop {
                tokio::select! {
                    biased;
                    _ = &mut stopped => return,
                    _ = tick.tick() => {}
                }
                let totals = progress.borrow().totals;
                if let Err(error) = store.progress(&id, JobState::Running, counts(totals)).await {
                    tracing::warn!(job = %id, %error, "cannot record replay progress");
                }
            }
        });
        Reporter { stop, handle }
    }
}

/// Writes a running job's counts to the store every [`PROGRESS_EVERY`].
struct Reporter {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<()>,
}

impl Reporter {
    /// Stops reporting once the write in progress, if any, is done.
    async fn stop(self) {
        // Either way the task ends: on the signal, or because the sender is gone.
        let _ = self.stop.send(());
        if let Err(error) = self.handle.await
            && error.is_panic()
        {
            tracing::error!(%error, "the replay progress reporter panicked");
        }
    }
}

fn counts(totals: Totals) -> (u64, u64, u64) {
    (totals.emitted, totals.filtered, totals.unreadable)
}

/// Marks `job` started and answers its plan: the one stored when it first started (so a
/// resumed job reads exactly the offsets it planned), or a new one.
pub async fn start(
    log: &dyn EventLog,
    store: &JobStore,
    job: &StoredJob,
) -> Result<Plan, ReplayError> {
    let plan: Plan = match &job.plan {
        Some(stored) => serde_json::from_value(stored.clone())
            .map_err(|e| ReplayError::Store(format!("the stored plan cannot be read: {e}")))?,
        None => plan::plan(log, &job.selection).await?,
    };
    let plan_json = serde_json::to_value(&plan)
        .map_err(|e| ReplayError::Store(format!("the plan cannot be stored: {e}")))?;
    store.started(&job.id, &plan_json).await?;
    Ok(plan)
}

/// What the engine needs of a stored job.
pub fn job_run(job: &StoredJob) -> JobRun {
    JobRun {
        rate_per_sec: job.rate_per_sec,
        max_events: job.max_events,
        ..JobRun::new(job.id.clone(), job.selection.clone())
    }
}

/// The runner's background task.
#[derive(Debug)]
pub struct RunnerTask {
    service: ReplayService,
    handle: JoinHandle<()>,
}

impl RunnerTask {
    /// Stops running jobs between batches: they keep their checkpoints, stay `running` in the
    /// store, and resume at the next start.
    pub async fn shutdown(self) {
        self.service.inner.stopping.store(true, Ordering::SeqCst);
        for live in self.service.live().values() {
            live.control.cancel();
        }
        self.service.inner.wake.notify_one();
        let _ = self.handle.await;
    }
}

/// Runs stored jobs, oldest first, at most `MAX_RUNNING` at a time; wakes on new jobs and
/// owners' requests, and looks again every few seconds. A job cancelled before it ran ends
/// here; a paused one waits until it is resumed.
pub fn spawn_runner(service: ReplayService) -> RunnerTask {
    let runner = service.clone();
    let handle = tokio::spawn(async move {
        let mut running = tokio::task::JoinSet::new();
        while !service.inner.stopping.load(Ordering::SeqCst) {
            match service.inner.store.unfinished().await {
                Ok(jobs) => {
                    for job in jobs {
                        if service.live().contains_key(&job.id) || running.len() >= MAX_RUNNING {
                            continue;
                        }
                        match job.desired {
                            Desired::Pause => {
                                // Paused while the server was down: say so.
                                if job.state == JobState::Running {
                                    let counts = (job.emitted, job.filtered, job.unreadable);
                                    if let Err(error) = service
                                        .inner
                                        .store
                                        .progress(&job.id, JobState::Paused, counts)
                                        .await
                                    {
                                        tracing::warn!(job = %job.id, %error, "cannot record that a replay job paused");
                                    }
                                }
                            }
                            Desired::Cancel => {
                                if let Err(error) = service
                                    .inner
                                    .store
                                    .finished(&job.id, JobState::Cancelled, None)
                                    .await
                                {
                                    tracing::error!(job = %job.id, %error, "cannot record a cancelled replay job");
                                }
                            }
                            Desired::Run => {
                                // Claimed before the task starts, so the next look skips it.
                                service.live().insert(job.id.clone(), Live::starting());
                                let worker = service.clone();
                                running.spawn(async move { worker.run_job(job).await });
                            }
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot read replay jobs"),
            }
            tokio::select! {
                _ = service.inner.wake.notified() => {}
                Some(_) = running.join_next() => {}
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
        while running.join_next().await.is_some() {}
    });
    RunnerTask {
        service: runner,
        handle,
    }
}
