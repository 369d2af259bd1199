//! Dead-letter recovery: dead letters selected like any replay (by reason and claimed type on
//! the dead-letter topic), fixed with a JSON Patch, re-validated against the current schema
//! and re-ingested through the gateway's pipeline under their original event ids.
//!
//! * [`Fix`] is an RFC 6902 JSON Patch, checked when it is made ([`Fix::new`]); applying it to
//!   one dead letter can still fail (a `test` that does not hold, a path that is missing):
//!   that dead letter is counted as `patch_failed`, the job goes on.
//! * [`Reingest`] is the seam to the gateway, which this crate must not depend on: the
//!   binary implements it over `tributary_gateway::Gateway::republish`.
//! * [`ReingestSink`] is the [`Sink`] of a recovery job: each selected dead letter is fixed
//!   and resubmitted as its producer would have sent it (its event type, producer, whether
//!   that producer was authenticated, its event id and its original receive time), with the
//!   job as `tributary.replay_job`. Because the gateway remembers acceptances by (event type,
//!   producer, event id), a batch resubmitted after a crash answers `duplicate` instead of
//!   writing twice (inside the gateway's idempotency window).
//! * [`preview`] is the dry run: before and after of the first dead letters a job would
//!   take, and the verdict the gateway would give — nothing is written.
//!
//! A dead letter whose value is not JSON (bare, or in Confluent's wire format) or that lacks
//! the headers naming its event type, producer or event id is *unreadable*: counted, never
//! resubmitted. Dead letters of CloudEvents sent in structured mode hold the whole envelope,
//! not the event: resubmitted as they are, they are rejected again; a fix that starts with
//! `{"op": "move", "from": "/data", "path": ""}` resubmits the event itself.
//!
//! The binary's adapter has this shape (request-level errors that a retry cannot fix are the
//! event's rejection; the retryable ones fail the batch, which resumes from its checkpoint):
//!
//! ```ignore
//! impl Reingest for GatewayReingest {
//!     fn resubmit(&self, event: Resubmission) -> BoxFuture<'_, Result<ReingestVerdict, BoxError>> {
//!         Box::pin(async move {
//!             let republish = Republish {
//!                 event_type: event.event_type,
//!                 producer: event.producer,
//!                 authenticated: event.authenticated,
//!                 event_id: event.event_id,
//!                 event_time_ms: event.event_time_ms,
//!                 body: event.body,
//!                 replay_job: event.replay_job,
//!                 validate_only: event.validate_only,
//!             };
//!             let answer = match self.gateway.republish(republish).await {
//!                 Ok(answer) => answer,
//!                 Err(e) if matches!(e.code(), ErrorCode::Unavailable | ErrorCode::Internal) => {
//!                     return Err(e.into());
//!                 }
//!                 Err(e) => {
//!                     return Ok(ReingestVerdict::Rejected {
//!                         reason: e.code().as_str().to_owned(),
//!                         violations: vec![e.to_string()],
//!                     });
//!                 }
//!             };
//!             Ok(match answer.results.into_iter().next() {
//!                 Some(Verdict::Accepted { partition, offset, .. }) => {
//!                     ReingestVerdict::Accepted { partition, offset }
//!                 }
//!                 Some(Verdict::Duplicate { .. }) => ReingestVerdict::Duplicate,
//!                 Some(Verdict::Valid { .. }) => ReingestVerdict::Valid,
//!                 Some(Verdict::Rejected { reason, violations, .. } | Verdict::Invalid { reason, violations, .. }) => {
//!                     ReingestVerdict::Rejected {
//!                         reason: reason.as_str().to_owned(),
//!                         violations: violations.iter().map(|v| format!("{}: {}", v.pointer, v.message)).collect(),
//!                     }
//!                 }
//!                 None => return Err("the gateway answered no verdict".into()),
//!             })
//!         })
//!     }
//! }
//! ```

use std::sync::Arc;

use bytes::Bytes;
use json_patch::{Patch, PatchOperation};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tributary_core::headers::{self, DLQ_EVENT_TYPE, DLQ_REASON};
use tributary_eventlog::EventLog;
use tributary_registry::split_confluent_frame;

use crate::error::ReplayError;
use crate::model::{BoxError, BoxFuture, ReplayRecord, Selection, Sink, SinkReport};
use crate::plan::Plan;
use crate::scan::PartitionScan;
use crate::select::{Filter, Verdict};

/// Most operations in one [`Fix`].
pub const MAX_FIX_OPERATIONS: usize = 1_000;

/// One fixed dead letter, resubmitted as its producer would have sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Resubmission {
    /// The event type the dead letter claimed (`tributary.dlq.event_type`).
    pub event_type: String,
    /// `tributary.producer`.
    pub producer: String,
    /// `tributary.producer_authenticated`.
    pub authenticated: bool,
    /// `tributary.event_id`: the event is deduplicated on it.
    pub event_id: String,
    /// The record time: when the gateway first received the event.
    pub event_time_ms: Option<i64>,
    /// The fixed event, as JSON text.
    pub body: Bytes,
    /// Written as `tributary.replay_job` on what the gateway writes; `None` in a preview.
    pub replay_job: Option<String>,
    /// Validate against the current schema and write nothing (a preview).
    pub validate_only: bool,
}

/// What the gateway said about one resubmitted event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum ReingestVerdict {
    /// Written to the event type's topic at this position.
    Accepted { partition: u32, offset: i64 },
    /// Accepted earlier under the same event id: not written again.
    Duplicate,
    /// `validate_only`: it would be accepted.
    Valid,
    /// Not accepted (when it was not `validate_only`, dead-lettered again): the reason code
    /// and each violation as `pointer: message`.
    Rejected {
        reason: String,
        violations: Vec<String>,
    },
}

/// Resubmits fixed dead letters through the gateway's pipeline. An `Err` is a failure to get
/// a verdict at all (the log cannot take writes, the gateway is busy): the batch fails and
/// the job resumes from its last checkpoint. A verdict, a rejection included, is final.
pub trait Reingest: Send + Sync {
    fn resubmit<'a>(
        &'a self,
        event: Resubmission,
    ) -> BoxFuture<'a, Result<ReingestVerdict, BoxError>>;
}

/// The fix of a recovery job: an RFC 6902 JSON Patch (`add`, `remove`, `replace`, `move`,
/// `copy`, `test`), applied to each dead letter's JSON. Serialized as the patch itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct Fix {
    patch: Patch,
}

impl Fix {
    /// Checks `patch` — an array of operations, each well-formed with valid JSON Pointers,
    /// none moving a value into itself, at most [`MAX_FIX_OPERATIONS`] — and keeps it. An
    /// empty patch resubmits dead letters unchanged (after a schema was relaxed).
    pub fn new(patch: Value) -> Result<Fix, ReplayError> {
        let Value::Array(operations) = patch else {
            return Err(bad_fix(
                "it must be a json array of operations (rfc 6902), as in \
                 [{\"op\": \"replace\", \"path\": \"/amount\", \"value\": 0}]",
            ));
        };
        if operations.len() > MAX_FIX_OPERATIONS {
            return Err(bad_fix(format!(
                "it has {} operations; at most {MAX_FIX_OPERATIONS} are allowed",
                operations.len()
            )));
        }
        let mut checked = Vec::with_capacity(operations.len());
        for (index, operation) in operations.into_iter().enumerate() {
            let operation: PatchOperation = serde_json::from_value(operation)
                .map_err(|e| bad_fix(format!("operation {index}: {e}")))?;
            if let PatchOperation::Move(op) = &operation
                && op.path.starts_with(&op.from)
                && op.path != op.from
            {
                return Err(bad_fix(format!(
                    "operation {index} moves {:?} into itself ({:?})",
                    op.from.as_str(),
                    op.path.as_str()
                )));
            }
            checked.push(operation);
        }
        Ok(Fix {
            patch: Patch(checked),
        })
    }

    /// No operations: dead letters are resubmitted as they are.
    pub fn is_empty(&self) -> bool {
        self.patch.0.is_empty()
    }

    /// `value` with the patch applied, or why it does not apply (no change is made then).
    pub fn apply(&self, value: &Value) -> Result<Value, String> {
        let mut fixed = value.clone();
        json_patch::patch(&mut fixed, &self.patch).map_err(|e| e.to_string())?;
        Ok(fixed)
    }
}

fn bad_fix(why: impl std::fmt::Display) -> ReplayError {
    ReplayError::BadRequest(format!("the fix is not a valid json patch: {why}"))
}

impl TryFrom<Value> for Fix {
    type Error = ReplayError;

    fn try_from(patch: Value) -> Result<Fix, ReplayError> {
        Fix::new(patch)
    }
}

impl From<Fix> for Value {
    fn from(fix: Fix) -> Value {
        // Operations are plain data: serializing them cannot fail.
        serde_json::to_value(fix.patch).unwrap_or(Value::Array(Vec::new()))
    }
}

/// What a recovery job did with the dead letters it was given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReingestCounts {
    /// Fixed, accepted and written.
    pub accepted: u64,
    /// Accepted earlier under the same event id (a resumed batch, or the producer resent it).
    pub duplicates: u64,
    /// Still refused after the fix: dead-lettered again.
    pub rejected: u64,
    /// Not JSON, or missing the headers that say what event it was: not resubmitted.
    pub unreadable: u64,
    /// The fix did not apply (a `test` failed, a path is missing): not resubmitted.
    pub patch_failed: u64,
}

impl ReingestCounts {
    /// Both counts together.
    pub fn plus(self, other: ReingestCounts) -> ReingestCounts {
        ReingestCounts {
            accepted: self.accepted + other.accepted,
            duplicates: self.duplicates + other.duplicates,
            rejected: self.rejected + other.rejected,
            unreadable: self.unreadable + other.unreadable,
            patch_failed: self.patch_failed + other.patch_failed,
        }
    }
}

/// The sink of a dead-letter recovery job: fixes each dead letter and resubmits it through
/// [`Reingest`], one at a time in the order read (so a partition's events are re-ingested in
/// their order). A batch is confirmed once every one of its dead letters has a verdict; its
/// counts join the report only then. The position it reports is always 0: nothing is
/// reopened on resume, the gateway's idempotency covers the batch that was in flight.
pub struct ReingestSink {
    reingest: Arc<dyn Reingest>,
    fix: Fix,
    job_id: String,
    counts: ReingestCounts,
}

impl std::fmt::Debug for ReingestSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReingestSink")
            .field("job_id", &self.job_id)
            .field("fix", &self.fix)
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

impl ReingestSink {
    /// A sink applying `fix` for the job `job_id` (its `tributary.replay_job`).
    pub fn new(reingest: Arc<dyn Reingest>, fix: Fix, job_id: impl Into<String>) -> ReingestSink {
        ReingestSink {
            reingest,
            fix,
            job_id: job_id.into(),
            counts: ReingestCounts::default(),
        }
    }

    /// The counts of the batches confirmed so far.
    pub fn counts(&self) -> ReingestCounts {
        self.counts
    }

    async fn resubmit_batch(&mut self, batch: Vec<ReplayRecord>) -> Result<u64, BoxError> {
        let mut counts = ReingestCounts::default();
        for record in batch {
            let letter = DeadLetter::read(&record.headers, &record.value);
            let (event, value) = match letter.readable() {
                Ok(readable) => readable,
                Err(why) => {
                    tracing::debug!(topic = %record.topic, partition = record.partition, offset = record.offset, %why, "dead letter unreadable");
                    counts.unreadable += 1;
                    continue;
                }
            };
            let body = match self.fix.apply(value) {
                Ok(fixed) => letter.body(&self.fix, &fixed),
                Err(why) => {
                    tracing::debug!(topic = %record.topic, partition = record.partition, offset = record.offset, %why, "fix does not apply");
                    counts.patch_failed += 1;
                    continue;
                }
            };
            let resubmission =
                event.resubmission(body, record.timestamp_ms, Some(self.job_id.clone()), false);
            match self.reingest.resubmit(resubmission).await? {
                ReingestVerdict::Accepted { .. } => counts.accepted += 1,
                ReingestVerdict::Duplicate => counts.duplicates += 1,
                ReingestVerdict::Rejected { .. } => counts.rejected += 1,
                ReingestVerdict::Valid => {
                    return Err(format!(
                        "the gateway only validated {}/{}@{} instead of publishing it",
                        record.topic, record.partition, record.offset
                    )
                    .into());
                }
            }
        }
        self.counts = self.counts.plus(counts);
        Ok(0)
    }
}

impl Sink for ReingestSink {
    fn write<'a>(&'a mut self, batch: Vec<ReplayRecord>) -> BoxFuture<'a, Result<u64, BoxError>> {
        Box::pin(self.resubmit_batch(batch))
    }

    fn finish(self: Box<Self>) -> BoxFuture<'static, Result<SinkReport, BoxError>> {
        let counts = self.counts;
        Box::pin(async move {
            Ok(SinkReport {
                reingest: Some(counts),
                ..SinkReport::default()
            })
        })
    }
}

/// One dead letter as a dry run shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixPreview {
    pub topic: String,
    pub partition: u32,
    pub offset: i64,
    /// `tributary.event_id`, `tributary.dlq.event_type` and `tributary.dlq.reason`, when the
    /// dead letter has them.
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub reason: Option<String>,
    /// The event as it was dead-lettered; `null` when it is not JSON.
    pub before: Value,
    /// The event with the fix applied; `None` when the fix does not apply or the dead letter
    /// is unreadable.
    pub after: Option<Value>,
    /// Why the fix does not apply.
    pub patch_error: Option<String>,
    /// Why the dead letter cannot be re-ingested at all.
    pub unreadable: Option<String>,
    /// What the gateway says of `after` against the current schema (`valid` or `rejected`);
    /// `None` when there is no `after`.
    pub verdict: Option<ReingestVerdict>,
}

/// The dry run of a recovery job: the first `limit` dead letters `selection` takes (in the
/// plan's order), each with the fix applied and re-validated (`validate_only`: nothing is
/// written, nothing is remembered — an event already re-ingested shows as `valid`).
pub async fn preview(
    log: &dyn EventLog,
    selection: &Selection,
    plan: &Plan,
    fix: &Fix,
    reingest: &dyn Reingest,
    limit: usize,
) -> Result<Vec<FixPreview>, ReplayError> {
    let filter = Filter::new(selection)?;
    let mut previews = Vec::new();
    for part in &plan.partitions {
        let mut scan = PartitionScan::new(log, &part.topic, part.partition, part.start, part.end);
        while previews.len() < limit
            && let Some(record) = scan.next_record().await?
        {
            if filter.check(&record) != Verdict::Emit {
                continue;
            }
            let letter = DeadLetter::read(&record.headers, &record.value);
            let mut preview = FixPreview {
                topic: part.topic.clone(),
                partition: part.partition,
                offset: record.offset,
                event_id: letter.event_id.map(str::to_owned),
                event_type: letter.event_type.map(str::to_owned),
                reason: letter.reason.map(str::to_owned),
                before: letter.value.clone().unwrap_or(Value::Null),
                after: None,
                patch_error: None,
                unreadable: None,
                verdict: None,
            };
            let (event, value) = match letter.readable() {
                Ok(readable) => readable,
                Err(why) => {
                    preview.unreadable = Some(why);
                    previews.push(preview);
                    continue;
                }
            };
            let fixed = match fix.apply(value) {
                Ok(fixed) => fixed,
                Err(why) => {
                    preview.patch_error = Some(why);
                    previews.push(preview);
                    continue;
                }
            };
            let resubmission =
                event.resubmission(letter.body(fix, &fixed), record.timestamp_ms, None, true);
            let verdict = reingest.resubmit(resubmission).await.map_err(|e| {
                ReplayError::Sink(format!(
                    "cannot re-validate {}/{}@{}: {e}",
                    part.topic, part.partition, record.offset
                ))
            })?;
            preview.after = Some(fixed);
            preview.verdict = Some(verdict);
            previews.push(preview);
        }
        if previews.len() >= limit {
            break;
        }
    }
    Ok(previews)
}

/// What a dead letter says about itself: its headers and its value.
struct DeadLetter<'r> {
    event_type: Option<&'r str>,
    producer: Option<&'r str>,
    authenticated: bool,
    event_id: Option<&'r str>,
    reason: Option<&'r str>,
    /// The JSON text of the value (without Confluent's frame).
    text: &'r [u8],
    /// The value parsed, or why it is not JSON.
    value: Result<Value, String>,
}

/// Who sent a dead letter's event, and as what: everything a resubmission needs but the body.
struct Sent<'r> {
    event_type: &'r str,
    producer: &'r str,
    authenticated: bool,
    event_id: &'r str,
}

impl<'r> DeadLetter<'r> {
    fn read(headers: &'r [(String, Bytes)], value: &'r [u8]) -> DeadLetter<'r> {
        let text = match split_confluent_frame(value) {
            Ok((_, payload)) => payload,
            Err(_) => value,
        };
        let value = serde_json::from_slice(text)
            .map_err(|e| format!("the dead letter's value is not json: {e}"));
        DeadLetter {
            event_type: header(headers, DLQ_EVENT_TYPE),
            producer: header(headers, headers::PRODUCER),
            authenticated: header(headers, headers::PRODUCER_AUTHENTICATED) == Some("true"),
            event_id: header(headers, headers::EVENT_ID),
            reason: header(headers, DLQ_REASON),
            text,
            value,
        }
    }

    /// Who sent the event and its JSON, or why the dead letter cannot be resubmitted (not
    /// JSON, or a header missing).
    fn readable(&self) -> Result<(Sent<'r>, &Value), String> {
        let value = self.value.as_ref().map_err(Clone::clone)?;
        let missing = |name: &str| format!("the dead letter has no {name} header");
        let sent = Sent {
            event_type: self.event_type.ok_or_else(|| missing(DLQ_EVENT_TYPE))?,
            producer: self.producer.ok_or_else(|| missing(headers::PRODUCER))?,
            authenticated: self.authenticated,
            event_id: self.event_id.ok_or_else(|| missing(headers::EVENT_ID))?,
        };
        Ok((sent, value))
    }

    /// The body to resubmit: the bytes as they were dead-lettered when the fix changes
    /// nothing, else the fixed JSON.
    fn body(&self, fix: &Fix, fixed: &Value) -> Bytes {
        if fix.is_empty() {
            return Bytes::copy_from_slice(self.text);
        }
        // A `Value` always serializes.
        Bytes::from(serde_json::to_vec(fixed).unwrap_or_default())
    }
}

impl Sent<'_> {
    fn resubmission(
        &self,
        body: Bytes,
        received_at_ms: i64,
        replay_job: Option<String>,
        validate_only: bool,
    ) -> Resubmission {
        Resubmission {
            event_type: self.event_type.to_owned(),
            producer: self.producer.to_owned(),
            authenticated: self.authenticated,
            event_id: self.event_id.to_owned(),
            event_time_ms: Some(received_at_ms),
            body,
            replay_job,
            validate_only,
        }
    }
}

/// The first header called `name`, as text (a header that is not UTF-8 counts as missing).
fn header<'r>(headers: &'r [(String, Bytes)], name: &str) -> Option<&'r str> {
    let (_, value) = headers.iter().find(|(n, _)| n == name)?;
    std::str::from_utf8(value).ok()
}
