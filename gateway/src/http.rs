//! The HTTP surface: `POST /v1/events/{type}` and `POST /v1/validate/{type}`. Handlers read
//! headers into a [`Submission`] and hand it with the body to [`Gateway::ingest`].
//!
//! Request headers: `Content-Type` (`application/json` or `application/x-ndjson`),
//! `Content-Encoding` (`gzip`, `zstd`), `Tributary-Producer` (default `anonymous`),
//! `Tributary-Event-Id` (a UUID, single-event requests only), `Tributary-Event-Time` (RFC 3339
//! or epoch milliseconds, for every event of the request), `Tributary-Schema-Version` (or
//! `?schema_version=N`), `traceparent` (passed through).
//!
//! Producer identity: a request authenticated with a producer's API key publishes as that
//! producer (`Tributary-Producer` is ignored) and only to event types its grants match;
//! anything else is a 403 and nothing is written. Other authenticated principals (the admin
//! key) are trusted operators: they publish anything, as the producer the header names. With
//! auth off the header is an unauthenticated claim, as it always was.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tracing::Instrument;
use tributary_core::{ErrorCode, PROBLEM_JSON, Principal, PrincipalKind, Problem, PublishGrants};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::gateway::{Gateway, Submission};
use crate::metrics;
use crate::openapi::{self, EVENTS_TAG, EventTypePath, PublishParams, PublishResponses};
use crate::prepare::Meta;
use crate::{Answer, GatewayError};
use crate::{cloudevents, decode};

/// Header naming the producer of a request not authenticated by a producer key.
pub const PRODUCER_HEADER: &str = "tributary-producer";
/// Header carrying the producer's own event id (single-event requests only).
pub const EVENT_ID_HEADER: &str = "tributary-event-id";
/// Header carrying the event time of every event in the request.
pub const EVENT_TIME_HEADER: &str = "tributary-event-time";
/// Header naming a request for deduplication: a retry of the request with the same key (same
/// producer and event type) answers the original positions as `duplicate`.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Header pinning the schema version to validate against.
pub const SCHEMA_VERSION_HEADER: &str = "tributary-schema-version";

/// The producer recorded when a request names none.
const ANONYMOUS: &str = "anonymous";
/// Longest producer name accepted.
const MAX_PRODUCER_LEN: usize = 200;
/// Longest `traceparent` passed through (the W3C format is 55 characters).
const MAX_TRACEPARENT_LEN: usize = 128;

/// The gateway's routes and their OpenAPI description, ready to merge into the binary's
/// router (`.into()` gives a plain `axum::Router`).
pub fn router(gateway: Arc<Gateway>) -> OpenApiRouter {
    OpenApiRouter::default()
        .routes(openapi::with_event_bodies(routes!(publish_cloudevents)))
        .routes(openapi::with_event_bodies(routes!(publish)))
        .routes(openapi::with_event_bodies(routes!(validate)))
        .with_state(gateway)
}

#[derive(Debug, Deserialize)]
pub(crate) struct Params {
    schema_version: Option<String>,
    /// `true`: each verdict carries the event's quality score.
    quality: Option<bool>,
}

/// Publish events of one type.
///
/// Each event is validated against the event type's schema (the latest version unless one is
/// pinned) and written to the type's topic, or dead-lettered with a reason. A batch gets a
/// verdict per event; one bad event never poisons the rest. An event is acknowledged only once
/// the event log has made it durable.
#[utoipa::path(
    post,
    path = "/v1/events/{event_type}",
    tag = EVENTS_TAG,
    operation_id = "publish",
    params(EventTypePath, PublishParams),
    responses(PublishResponses),
)]
async fn publish(
    State(gateway): State<Arc<Gateway>>,
    Path(event_type): Path<String>,
    query: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Body,
) -> Response {
    if let Err(refusal) = granted(&extensions, &event_type) {
        return *refusal;
    }
    handle(
        &gateway,
        "publish",
        Some(event_type),
        query,
        &headers,
        &extensions,
        body,
        false,
    )
    .await
}

/// Publish CloudEvents, each to its own `type`.
///
/// Structured (`application/cloudevents+json`), batch (`application/cloudevents-batch+json`)
/// or binary mode (`ce-specversion`, `ce-id`, `ce-type`, `ce-source` headers and an
/// `application/json` body). Any other body is a 415. A producer key's grants are checked
/// per event.
#[utoipa::path(
    post,
    path = "/v1/events",
    tag = EVENTS_TAG,
    operation_id = "publish_cloudevents",
    params(PublishParams),
    responses(PublishResponses),
)]
async fn publish_cloudevents(
    State(gateway): State<Arc<Gateway>>,
    query: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Body,
) -> Response {
    handle(
        &gateway,
        "publish",
        None,
        query,
        &headers,
        &extensions,
        body,
        false,
    )
    .await
}

/// Validate events without writing them (dry run).
///
/// The same checks as publishing; verdicts are `valid` or `invalid` and nothing is written,
/// not even dead letters.
#[utoipa::path(
    post,
    path = "/v1/validate/{event_type}",
    tag = EVENTS_TAG,
    operation_id = "validate",
    params(EventTypePath, PublishParams),
    responses(PublishResponses),
)]
async fn validate(
    State(gateway): State<Arc<Gateway>>,
    Path(event_type): Path<String>,
    query: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Body,
) -> Response {
    if let Err(refusal) = granted(&extensions, &event_type) {
        return *refusal;
    }
    handle(
        &gateway,
        "validate",
        Some(event_type),
        query,
        &headers,
        &extensions,
        body,
        true,
    )
    .await
}

async fn handle(
    gateway: &Gateway,
    endpoint: &'static str,
    event_type: Option<String>,
    query: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
    headers: &HeaderMap,
    extensions: &Extensions,
    body: Body,
    dry_run: bool,
) -> Response {
    let started = Instant::now();
    let submission = submission(event_type, query, headers, dry_run).map(|mut submission| {
        submission.meta.authenticated = extensions
            .get::<Principal>()
            .is_some_and(|p| p.authenticated);
        if let Some(producer) = key_producer(extensions) {
            submission.meta.producer = producer.to_owned();
            // A producer key may publish only what it was granted; nothing granted, nothing.
            submission.grants = Some(
                extensions
                    .get::<PublishGrants>()
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        submission
    });
    let (resolved, answer) = match submission {
        Ok(submission) => {
            let span = tracing::info_span!(
                "publish",
                endpoint,
                producer = %submission.meta.producer,
                trace_id = submission.meta.traceparent.as_deref().map_or("", trace_id),
            );
            gateway.ingest(submission, body).instrument(span).await
        }
        Err(error) => (None, Err(error)),
    };
    let response = match answer {
        Ok(answer) => answer_response(&answer),
        Err(error) => error.into_response(),
    };
    let status = response.status().as_u16().to_string();
    let event_type = resolved.map_or_else(|| String::from("unknown"), |n| n.as_str().to_owned());
    ::metrics::counter!(metrics::REQUESTS, "event_type" => event_type, "endpoint" => endpoint, "status" => status.clone())
        .increment(1);
    ::metrics::histogram!(metrics::REQUEST_SECONDS, "endpoint" => endpoint, "status" => status)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The producer a request authenticated as with its API key, if any.
fn key_producer(extensions: &Extensions) -> Option<&str> {
    match extensions.get::<Principal>() {
        Some(Principal {
            kind: PrincipalKind::Producer(name),
            authenticated: true,
            ..
        }) => Some(name),
        _ => None,
    }
}

/// Refuses (403, nothing written) a producer key publishing an event type none of its grants
/// match. Requests not authenticated by a producer key are not limited here.
fn granted(extensions: &Extensions, event_type: &str) -> Result<(), Box<Response>> {
    let Some(producer) = key_producer(extensions) else {
        return Ok(());
    };
    let permitted = extensions
        .get::<PublishGrants>()
        .is_some_and(|grants| grants.permits(event_type));
    if permitted {
        return Ok(());
    }
    let body = Problem::new(
        ErrorCode::Forbidden,
        format!("producer {producer:?} is not granted event type {event_type:?}"),
    );
    Err(Box::new(
        (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, PROBLEM_JSON)],
            axum::Json(body),
        )
            .into_response(),
    ))
}

/// 200 when every event was accepted, 207 with a verdict per event otherwise (also when none
/// was accepted: the request itself was fine).
fn answer_response(answer: &Answer) -> Response {
    let status = if answer.all_accepted() {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    // Sized up front, at about what a verdict takes: `axum::Json` starts at 128 bytes and
    // grows by copying, and writes each token through `BytesMut`'s writer.
    let mut body = Vec::with_capacity(64 + ANSWER_BYTES_PER_VERDICT * answer.results.len());
    match answer.write_json(&mut body) {
        Ok(()) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(error) => {
            GatewayError::Internal(format!("cannot write the answer: {error}")).into_response()
        }
    }
}

/// An accepted event's verdict is about 110 bytes of JSON (a UUID event id).
const ANSWER_BYTES_PER_VERDICT: usize = 112;

pub(crate) fn submission(
    event_type: Option<String>,
    query: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
    headers: &HeaderMap,
    dry_run: bool,
) -> Result<Submission, GatewayError> {
    let content_type = text(headers, header::CONTENT_TYPE.as_str())?;
    let format = decode::format_of(content_type)?;
    let cloudevents = match cloudevents::binary_attributes(headers, content_type)? {
        Some(attributes) => Some(cloudevents::Mode::Binary(attributes)),
        None => match format {
            decode::Format::CloudEvent => Some(cloudevents::Mode::Structured),
            decode::Format::CloudEventBatch => Some(cloudevents::Mode::Batch),
            _ => None,
        },
    };
    let encoding = decode::encoding_of(text(headers, header::CONTENT_ENCODING.as_str())?)?;
    let content_length = match text(headers, header::CONTENT_LENGTH.as_str())? {
        None => None,
        Some(raw) => Some(raw.trim().parse::<u64>().map_err(|_| {
            GatewayError::BadRequest(format!("content-length {raw:?} is not a number"))
        })?),
    };
    let Query(params) =
        query.map_err(|e| GatewayError::BadRequest(format!("bad query string: {e}")))?;
    let pinned = match params
        .schema_version
        .as_deref()
        .or(text(headers, SCHEMA_VERSION_HEADER)?)
    {
        None => None,
        Some(raw) => match raw.trim().parse::<i32>() {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                return Err(GatewayError::BadRequest(format!(
                    "schema version {raw:?} is not a positive integer"
                )));
            }
        },
    };
    let producer = match text(headers, PRODUCER_HEADER)? {
        None => ANONYMOUS.to_owned(),
        Some(raw) => producer_name(raw)?,
    };
    let event_id = match text(headers, EVENT_ID_HEADER)? {
        None => None,
        Some(raw) => Some(
            Uuid::parse_str(raw.trim())
                .map_err(|_| {
                    GatewayError::BadRequest(format!("{EVENT_ID_HEADER} {raw:?} is not a uuid"))
                })?
                .to_string(),
        ),
    };
    let event_time_ms = match text(headers, EVENT_TIME_HEADER)? {
        None => None,
        Some(raw) => Some(event_time(raw)?),
    };
    let idempotency_key = match text(headers, IDEMPOTENCY_KEY_HEADER)? {
        None => None,
        Some(raw) => Some(idempotency_key(raw)?),
    };
    // An invalid traceparent is dropped, as W3C Trace Context asks (the trace restarts
    // downstream instead of carrying a broken id).
    let traceparent = text(
        headers,
        header::HeaderName::from_static("traceparent").as_str(),
    )?
    .map(str::trim)
    .filter(|t| valid_traceparent(t))
    .map(str::to_owned);
    Ok(Submission {
        event_type,
        format,
        cloudevents,
        encoding,
        content_length,
        meta: Meta {
            producer,
            authenticated: false,
            event_id,
            event_time_ms,
            pinned_version: pinned,
            traceparent,
            idempotency_key,
            replay_job: None,
        },
        dry_run,
        charge_rate: true,
        include_quality: params.quality.unwrap_or(false),
        grants: None,
    })
}

/// A header as text; a header that is not visible ASCII is a 400.
fn text<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, GatewayError> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(Some)
            .map_err(|_| GatewayError::BadRequest(format!("header {name} is not ascii text"))),
    }
}

pub(crate) fn producer_name(raw: &str) -> Result<String, GatewayError> {
    let raw = raw.trim();
    let ok = !raw.is_empty()
        && raw.len() <= MAX_PRODUCER_LEN
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | ':'));
    if !ok {
        return Err(GatewayError::BadRequest(format!(
            "{PRODUCER_HEADER} must be 1 to {MAX_PRODUCER_LEN} characters of letters, digits and . _ - @ :"
        )));
    }
    Ok(raw.to_owned())
}

/// W3C Trace Context: `{version}-{trace id}-{parent id}-{flags}` in lowercase hex, trace and
/// parent ids not all zeros, version `ff` invalid; version `00` has exactly these four
/// fields, later versions may append more after a `-`.
fn valid_traceparent(raw: &str) -> bool {
    fn hex(part: &str, len: usize) -> bool {
        part.len() == len && part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }
    if raw.len() > MAX_TRACEPARENT_LEN || raw.len() < 55 || !raw.is_char_boundary(55) {
        return false;
    }
    let (head, rest) = raw.split_at(55);
    let parts: Vec<&str> = head.split('-').collect();
    let [version, trace, parent, flags] = parts[..] else {
        return false;
    };
    hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && hex(parent, 16)
        && parent.bytes().any(|b| b != b'0')
        && hex(flags, 2)
        && (if version == "00" {
            rest.is_empty()
        } else {
            rest.is_empty() || rest.starts_with('-')
        })
}

/// The trace id of a valid `traceparent`, for log correlation.
fn trace_id(traceparent: &str) -> &str {
    traceparent.get(3..35).unwrap_or("")
}

/// 1 to 255 visible ASCII characters.
fn idempotency_key(raw: &str) -> Result<String, GatewayError> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 255 || !raw.chars().all(|c| c.is_ascii_graphic()) {
        return Err(GatewayError::BadRequest(format!(
            "{IDEMPOTENCY_KEY_HEADER} must be 1 to 255 visible ascii characters"
        )));
    }
    Ok(raw.to_owned())
}

/// RFC 3339 (any offset) or integer milliseconds since the epoch.
fn event_time(raw: &str) -> Result<i64, GatewayError> {
    let raw = raw.trim();
    if let Ok(ms) = raw.parse::<i64>() {
        if ms >= 0 {
            return Ok(ms);
        }
    } else if let Ok(time) = chrono::DateTime::parse_from_rfc3339(raw) {
        let ms = time.timestamp_millis();
        if ms >= 0 {
            return Ok(ms);
        }
    }
    Err(GatewayError::BadRequest(format!(
        "{EVENT_TIME_HEADER} {raw:?} is neither an RFC 3339 time nor milliseconds since 1970"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_times() {
        assert_eq!(event_time("1700000000000").unwrap(), 1_700_000_000_000);
        assert_eq!(
            event_time("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            event_time("2023-11-15T00:13:20+02:00").unwrap(),
            1_700_000_000_000
        );
        assert!(event_time("yesterday").is_err());
        assert!(event_time("-5").is_err());
    }

    #[test]
    fn traceparents_follow_w3c() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert!(valid_traceparent(good));
        assert_eq!(trace_id(good), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(valid_traceparent(
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"
        ));
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0é",
        ] {
            assert!(!valid_traceparent(bad), "{bad}");
        }
    }

    #[test]
    fn producer_names() {
        assert_eq!(producer_name("checkout-svc").unwrap(), "checkout-svc");
        assert!(producer_name("").is_err());
        assert!(producer_name("a b").is_err());
    }
}
