//! Catalog samples: a reservoir of recent accepted events per event type and schema
//! version, and the dead-letter reasons of each type with a count and the latest example —
//! all with the type's PII fields redacted. See `docs/catalog-data.md`.
//!
//! The gateway offers events to a [`SampleSink`] on the ingest path (no I/O, one short
//! lock); [`spawn_samples`] flushes it to SQL every interval, redacting with the type's
//! current PII marks before anything is stored; [`Samples`] reads it back, redacting again
//! with the marks as they are at read time.

mod http;
mod redact;
mod sink;
mod store;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tributary_core::Database;
use tributary_registry::{EventTypeError, EventTypes};

pub(crate) use http::{SamplesService, samples_routes};
pub use sink::{MAX_EXAMPLE_VIOLATIONS, MAX_PENDING_KEYS as MAX_PENDING_SAMPLE_KEYS, SampleSink};
pub(crate) use store::prune;

use crate::QualityError;
use crate::history::now_ms;

/// Samples kept per (event type, schema version): the newest this many.
pub const SAMPLES_PER_VERSION: usize = 5;
/// Largest event (as JSON) stored whole; a larger one is stored as a string saying so.
pub const MAX_SAMPLE_BYTES: usize = 64 * 1024;
/// How long the flush trusts an event type's PII marks before reading them again.
pub const MARKS_TTL: Duration = Duration::from_secs(10);

/// A recent accepted event of an event type.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Sample {
    pub schema_version: i32,
    pub producer: String,
    /// When the gateway received it, in ms since the epoch.
    pub received_at_ms: i64,
    /// The event, PII fields as `"[redacted]"`; an event over 64 KiB as JSON is a string
    /// starting `[truncated: `.
    #[schema(value_type = Object)]
    pub event: Value,
}

/// Why events of a type were rejected: a reason code, how often, and the latest example.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DeadLetterReason {
    /// The reason code of the gateway's verdicts, e.g. `schema_violation`.
    pub reason: String,
    /// Events rejected for it since it was first seen (or last pruned).
    pub count: i64,
    pub last_seen_ms: i64,
    /// The latest example event, PII fields redacted; `null` when it could not be read as
    /// JSON.
    #[schema(value_type = Option<Object>)]
    pub example: Option<Value>,
    /// The example's violations (at most 20); a message that could show a PII value is
    /// `"[redacted]"`.
    pub violations: Vec<ViolationExample>,
}

/// One violation of a dead-letter example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ViolationExample {
    /// RFC 6901 pointer into the event (`""`: the event as a whole).
    pub pointer: String,
    pub message: String,
}

/// Reads samples and dead-letter reasons back. Every read redacts again with the type's PII
/// marks as they are now, so a field marked after its samples were stored is not shown.
#[derive(Debug, Clone)]
pub struct Samples {
    db: Database,
}

impl Samples {
    pub fn new(db: Database) -> Samples {
        Samples { db }
    }

    /// The samples of `event_type`, every schema version, newest first.
    pub async fn recent(&self, event_type: &str) -> Result<Vec<Sample>, QualityError> {
        let marks = self.marks(event_type).await?;
        let mut samples = store::samples(&self.db, event_type).await?;
        for sample in &mut samples {
            redact::stored_event(&mut sample.event, &marks);
        }
        Ok(samples)
    }

    /// The dead-letter reasons of `event_type`, most frequent first, at most `limit`.
    pub async fn dead_letter_reasons(
        &self,
        event_type: &str,
        limit: u32,
    ) -> Result<Vec<DeadLetterReason>, QualityError> {
        let marks = self.marks(event_type).await?;
        let mut reasons = store::reasons(&self.db, event_type).await?;
        reasons.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        for reason in &mut reasons {
            redact::example(&mut reason.example, &mut reason.violations, &marks);
        }
        Ok(reasons)
    }

    async fn marks(&self, event_type: &str) -> Result<Vec<String>, QualityError> {
        Ok(tributary_registry::pii_pointers(&self.db, event_type).await?)
    }
}

/// The background flush of a [`SampleSink`].
#[derive(Debug)]
pub struct SamplesTask {
    stop: watch::Sender<bool>,
    flusher: JoinHandle<Flusher>,
}

/// Starts flushing `sink` to SQL every `flush_interval`, redacting with the PII marks
/// `event_types` answers (trusted for [`MARKS_TTL`]).
pub fn spawn_samples(
    db: Database,
    sink: SampleSink,
    event_types: EventTypes,
    flush_interval: Duration,
) -> SamplesTask {
    let (stop, stopped) = watch::channel(false);
    let flusher = Flusher {
        db,
        sink,
        event_types,
        marks: HashMap::new(),
    };
    let flusher = tokio::spawn(flusher.run(flush_interval, stopped));
    SamplesTask { stop, flusher }
}

impl SamplesTask {
    /// Stops the loop and flushes what is left.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        match self.flusher.await {
            Ok(mut flusher) => {
                if let Err(error) = flusher.flush().await {
                    tracing::error!(%error, "the last catalog-samples flush failed; its samples are lost");
                }
            }
            Err(error) => tracing::error!(%error, "the catalog-samples flush loop failed"),
        }
    }
}

/// Most event types whose marks are remembered; past it the cache starts over.
const MAX_CACHED_MARKS: usize = 10_000;

#[derive(Debug)]
struct Flusher {
    db: Database,
    sink: SampleSink,
    event_types: EventTypes,
    marks: HashMap<String, (Instant, Arc<[String]>)>,
}

impl Flusher {
    async fn run(mut self, every: Duration, mut stopped: watch::Receiver<bool>) -> Flusher {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stopped.changed() => return self,
                _ = ticks.tick() => {}
            }
            if let Err(error) = self.flush().await {
                tracing::warn!(%error, "catalog-samples flush failed; dead-letter counts are kept for the next one");
            }
        }
    }

    /// The PII marks of `event_type`: `Ok(None)` when it is no longer live.
    async fn marks_of(&mut self, event_type: &str) -> Result<Option<Arc<[String]>>, QualityError> {
        if let Some((at, marks)) = self.marks.get(event_type)
            && at.elapsed() < MARKS_TTL
        {
            return Ok(Some(Arc::clone(marks)));
        }
        let marks: Arc<[String]> = match self.event_types.pii_marks(event_type).await {
            Ok(marks) => marks.into_iter().map(|m| m.pointer).collect(),
            Err(EventTypeError::NotFound(_)) => {
                self.marks.remove(event_type);
                return Ok(None);
            }
            Err(error) => return Err(error.into()),
        };
        if self.marks.len() >= MAX_CACHED_MARKS {
            self.marks.clear();
        }
        self.marks
            .insert(event_type.to_owned(), (Instant::now(), Arc::clone(&marks)));
        Ok(Some(marks))
    }

    /// Writes what the sink holds. Samples and examples of a type whose marks cannot be
    /// read are not stored (only the counts are); a failed write puts the counts back.
    async fn flush(&mut self) -> Result<(), QualityError> {
        let batches = self.sink.take(now_ms());
        if batches.is_empty() {
            return Ok(());
        }
        let mut work = Vec::with_capacity(batches.len());
        for (event_type, batch) in batches {
            let marks = match self.marks_of(&event_type).await {
                Ok(Some(marks)) => Some(marks),
                Ok(None) => continue,
                Err(error) => {
                    tracing::warn!(%error, event_type, "cannot read the PII marks; storing counts without samples or examples");
                    None
                }
            };
            work.push((event_type, batch, marks));
        }
        let rows = tokio::task::spawn_blocking(move || redact::rows(work))
            .await
            .map_err(|e| QualityError::Store(format!("the samples redaction failed: {e}")))?;
        match store::write(&self.db, &rows).await {
            Ok(written) => {
                crate::metrics::samples_written(written);
                Ok(())
            }
            Err(error) => {
                crate::metrics::samples_flush_failed();
                for rows in rows {
                    self.sink.put_back(&rows.event_type, rows.counts_only());
                }
                Err(error)
            }
        }
    }
}
