//! Quality history: per-event observations counted in memory ([`Aggregator`]), flushed to
//! SQL minute rows, rolled up to hours, pruned by retention, and read back as reports
//! ([`History`]). See `docs/quality-history.md`.

mod aggregator;
mod bucket;
mod report;
mod store;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tributary_core::Database;

pub use aggregator::{Aggregator, FlushReport, MAX_PENDING_KEYS, OTHER_PRODUCER};
pub use report::{
    BASELINE_BUCKETS, By, FieldCompleteness, History, Overview, Point, ProducerSeen, QualityReport,
    Resolution, Series, Summary, TypeQuality,
};
pub use store::MaintenanceReport;

pub(crate) use report::{Counts, millis, now_ms};
pub(crate) use store::{Table, sums};

pub(crate) const MINUTE_MS: i64 = 60_000;
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// What became of an event at the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Accepted,
    /// Accepted with violations (warn enforcement).
    Warned,
    /// Dead-lettered.
    Rejected,
    Duplicate,
}

/// One event, as the gateway saw it.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    pub event_type: &'a str,
    pub producer: &'a str,
    pub schema_version: i32,
    pub received_at_ms: i64,
    pub outcome: Outcome,
    pub score: u8,
    /// Receive time − event time; negative when the event claims a time in the future.
    pub lag_ms: Option<i64>,
    /// Optional fields (JSON pointers) tracked for completeness.
    pub fields: &'a Arc<[String]>,
    /// Aligned with `fields`.
    pub present: &'a [bool],
    /// Names of the rules the event failed.
    pub failed_rules: &'a [&'a str],
}

/// When the history is flushed, rolled up and pruned.
#[derive(Debug, Clone)]
pub struct HistoryOptions {
    /// How often the aggregator is flushed to `quality_minutes`.
    pub flush_interval: Duration,
    /// Minute rows older than this are rolled up into hours.
    pub rollup_after: Duration,
    /// Hour rows older than this are deleted.
    pub retention: Duration,
    /// How often rollup and pruning run.
    pub maintenance_interval: Duration,
}

impl Default for HistoryOptions {
    fn default() -> Self {
        HistoryOptions {
            flush_interval: Duration::from_secs(10),
            rollup_after: Duration::from_secs(48 * 3600),
            retention: Duration::from_secs(90 * 86_400),
            maintenance_interval: Duration::from_secs(5 * 60),
        }
    }
}

/// One rollup and pruning pass as of `now_ms`: minutes older than `rollup_after` become
/// hours (exactly once, even with several instances at once), hours older than `retention`
/// are deleted, and so are catalog samples and dead-letter reasons older than `retention`
/// or of event types that are no longer live.
pub async fn run_maintenance(
    db: &Database,
    options: &HistoryOptions,
    now_ms: i64,
) -> Result<MaintenanceReport, crate::QualityError> {
    let mut report = MaintenanceReport::default();
    store::rollup(
        db,
        now_ms.saturating_sub(millis(options.rollup_after)),
        &mut report,
    )
    .await?;
    let cutoff = now_ms.saturating_sub(millis(options.retention));
    report.hour_rows_pruned = store::prune(db, cutoff).await?;
    report.catalog_rows_pruned = crate::samples::prune(db, cutoff).await?;
    Ok(report)
}

/// The background flush and maintenance loops.
#[derive(Debug)]
pub struct HistoryTask {
    stop: watch::Sender<bool>,
    flusher: JoinHandle<()>,
    maintainer: JoinHandle<()>,
    db: Database,
    aggregator: Aggregator,
}

/// Starts flushing `aggregator` every `flush_interval` (and early when it fills up), and
/// rolling up and pruning every `maintenance_interval`.
pub fn spawn_history(db: Database, aggregator: Aggregator, options: HistoryOptions) -> HistoryTask {
    let (stop, stopped) = watch::channel(false);
    let flusher = tokio::spawn(flush_loop(
        db.clone(),
        aggregator.clone(),
        options.flush_interval,
        stopped.clone(),
    ));
    let maintainer = tokio::spawn(maintenance_loop(db.clone(), options, stopped));
    HistoryTask {
        stop,
        flusher,
        maintainer,
        db,
        aggregator,
    }
}

impl HistoryTask {
    /// Stops both loops and flushes what is left.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.flusher.await;
        let _ = self.maintainer.await;
        if let Err(error) = self.aggregator.flush(&self.db).await {
            tracing::error!(%error, "the last quality-history flush failed; its counts are lost");
        }
    }
}

async fn flush_loop(
    db: Database,
    aggregator: Aggregator,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            _ = ticks.tick() => {}
            () = aggregator.wants_flush() => {}
        }
        match aggregator.flush(&db).await {
            Ok(report) => crate::metrics::flushed(report.rows),
            Err(error) => {
                tracing::warn!(%error, "quality-history flush failed; the counts are kept for the next one");
            }
        }
        crate::metrics::pending_keys(aggregator.pending_keys());
    }
}

async fn maintenance_loop(
    db: Database,
    options: HistoryOptions,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(options.maintenance_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            _ = ticks.tick() => {}
        }
        match run_maintenance(&db, &options, now_ms()).await {
            Ok(report) => tracing::debug!(?report, "quality-history maintenance"),
            Err(error) => {
                tracing::warn!(%error, "quality-history maintenance failed; retried next pass")
            }
        }
    }
}
