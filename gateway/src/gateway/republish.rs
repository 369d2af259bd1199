//! Republishing: one event run through the whole pipeline in-process, as if its producer had
//! sent it again — how dead-letter recovery re-ingests a fixed event under its original id.

use super::*;

/// One event to publish again, in-process. See [`Gateway::republish`].
#[derive(Debug, Clone, PartialEq)]
pub struct Republish {
    /// The event type the event is published to (a dead letter's `tributary.dlq.event_type`).
    pub event_type: String,
    /// The producer it is published as (`tributary.producer`).
    pub producer: String,
    /// Whether the producer was authenticated when it first sent the event
    /// (`tributary.producer_authenticated`): recorded again as it was.
    pub authenticated: bool,
    /// The producer's id for the event (`tributary.event_id`): the event is deduplicated on
    /// it, with the event type and the producer, exactly as when the producer sends it.
    pub event_id: String,
    /// The record timestamp, in ms since the epoch; `None`: the time it is received now.
    pub event_time_ms: Option<i64>,
    /// The event: one JSON object (validated against the latest schema, as a producer's JSON
    /// is; written as Avro to Avro subjects).
    pub body: Bytes,
    /// The replay job republishing the event: written as `tributary.replay_job` on the record
    /// (accepted or dead-lettered again); `None`: no header.
    pub replay_job: Option<String>,
    /// Validate only (the `/v1/validate` path): the verdict is `valid` or `invalid` and
    /// nothing is written, not even a dead letter, and nothing is remembered.
    pub validate_only: bool,
}

impl Gateway {
    /// Runs one event through the publishing pipeline as if `event.producer` had sent it as
    /// JSON with `Tributary-Event-Id: {event_id}`: the event type's current schema (never a
    /// pinned version) and enforcement mode, quality scoring, dead-lettering of a rejection,
    /// idempotency and durability are the ones `POST /v1/events/{type}` goes through, so an
    /// event accepted earlier under the same (event type, producer, event id) inside the
    /// idempotency window is answered `duplicate` and not written again, and a rejected one
    /// is dead-lettered again.
    ///
    /// What differs from a producer's request: no HTTP (no grants are checked — the caller,
    /// a replay job, has its own permission check — and no request metrics), and the event is
    /// not charged to the producer's rate limit (the replay job has its own rate; charging it
    /// would throttle the producer's live traffic).
    ///
    /// The answer holds exactly one verdict. Request-level errors are those of a request:
    /// retryable ones ([`ErrorCode::Unavailable`](tributary_core::ErrorCode::Unavailable):
    /// the log cannot take writes, the gateway is busy, the registry failed) mean nothing was
    /// acknowledged; the others (the event type does not exist, has no schema, the body is not
    /// one JSON object) will fail the same way on a retry.
    pub async fn republish(&self, event: Republish) -> Result<Answer, GatewayError> {
        let submission = republished(&event)?;
        let span = tracing::info_span!(
            "republish",
            event_type = %event.event_type,
            producer = %event.producer,
            replay_job = event.replay_job.as_deref().unwrap_or(""),
        );
        let (_, answer) =
            tracing::Instrument::instrument(self.ingest(submission, Body::from(event.body)), span)
                .await;
        answer
    }
}

/// The submission a producer would have made for `event`, after checking what the HTTP layer
/// would have refused.
fn republished(event: &Republish) -> Result<Submission, GatewayError> {
    let producer = crate::http::producer_name(&event.producer)?;
    if event.event_id.is_empty() {
        return Err(GatewayError::BadRequest(
            "a republished event needs its original event id".into(),
        ));
    }
    if event.event_time_ms.is_some_and(|ms| ms < 0) {
        return Err(GatewayError::BadRequest(
            "the event time must not be before 1970".into(),
        ));
    }
    if event.replay_job.as_deref() == Some("") {
        return Err(GatewayError::BadRequest(
            "the replay job id is empty".into(),
        ));
    }
    // One event: an array would be split into several (or none) under one event id.
    if event.body.trim_ascii_start().first() == Some(&b'[') {
        return Err(GatewayError::BadRequest(
            "a republished event is one json object, not an array".into(),
        ));
    }
    Ok(Submission {
        event_type: Some(event.event_type.clone()),
        format: Format::Json,
        cloudevents: None,
        encoding: Encoding::Identity,
        content_length: Some(event.body.len() as u64),
        meta: Meta {
            producer,
            authenticated: event.authenticated,
            event_id: Some(event.event_id.clone()),
            event_time_ms: event.event_time_ms,
            pinned_version: None,
            traceparent: None,
            idempotency_key: None,
            replay_job: event.replay_job.clone(),
        },
        dry_run: event.validate_only,
        include_quality: false,
        grants: None,
        charge_rate: false,
    })
}
