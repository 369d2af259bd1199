//! The request decoders, reachable from outside the crate for the fuzz targets in `fuzz/` and
//! the seed replay test (`tests/fuzz_seeds.rs`). Compiled only with the `fuzzing` feature and
//! hidden from the docs: it is not an API, nothing outside this repository may use it.
//!
//! Every function here is a thin wrapper that calls the real decoder; the invariants the
//! fuzzers check live with them in `fuzz/src/lib.rs`. Internal types are passed through as
//! opaque newtypes ([`Format`], [`Encoding`], [`CloudEventsMode`]) or copied into plain structs
//! ([`RawEvent`], [`CloudEvent`], [`Submission`]), so the decoders keep their `pub(crate)`
//! signatures. To fuzz a new decoder, add its wrapper here and follow `fuzz/README.md`.

pub use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri};
pub use bytes::Bytes;
pub use serde_json::Value;
pub use tributary_core::EventTypeName;

use axum::extract::Query;

pub use crate::GatewayError;
pub use crate::verdict::Reason;
use crate::{cloudevents, decode, http};

/// How a body lists its events (from `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format(decode::Format);

impl Format {
    pub const JSON: Format = Format(decode::Format::Json);
    pub const NDJSON: Format = Format(decode::Format::Ndjson);
    pub const CLOUDEVENT: Format = Format(decode::Format::CloudEvent);
    pub const CLOUDEVENT_BATCH: Format = Format(decode::Format::CloudEventBatch);
}

/// How a body is compressed (from `Content-Encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding(decode::Encoding);

impl Encoding {
    pub const IDENTITY: Encoding = Encoding(decode::Encoding::Identity);
    pub const GZIP: Encoding = Encoding(decode::Encoding::Gzip);
    pub const ZSTD: Encoding = Encoding(decode::Encoding::Zstd);
}

pub fn format_of(content_type: Option<&str>) -> Result<Format, GatewayError> {
    decode::format_of(content_type).map(Format)
}

pub fn encoding_of(content_encoding: Option<&str>) -> Result<Encoding, GatewayError> {
    decode::encoding_of(content_encoding).map(Encoding)
}

pub fn decompress(body: Bytes, encoding: Encoding, cap: usize) -> Result<Bytes, GatewayError> {
    decode::decompress(body, encoding.0, cap)
}

/// One event split from a body: its bytes as sent and what parsing it gave.
#[derive(Debug)]
pub struct RawEvent {
    pub bytes: Bytes,
    pub parsed: Result<Value, (Reason, String)>,
}

impl From<decode::RawEvent<'_>> for RawEvent {
    fn from(raw: decode::RawEvent<'_>) -> Self {
        let (bytes, parsed) = raw.into_parts();
        RawEvent { bytes, parsed }
    }
}

pub fn split(
    body: &Bytes,
    format: Format,
    max_events: usize,
    max_event_bytes: usize,
) -> Result<Vec<RawEvent>, GatewayError> {
    let events = decode::split(body, format.0, max_events, max_event_bytes)?;
    Ok(events.into_iter().map(RawEvent::from).collect())
}

/// How a request carries CloudEvents.
#[derive(Debug, Clone)]
pub struct CloudEventsMode(cloudevents::Mode);

impl CloudEventsMode {
    pub fn structured() -> Self {
        CloudEventsMode(cloudevents::Mode::Structured)
    }

    pub fn batch() -> Self {
        CloudEventsMode(cloudevents::Mode::Batch)
    }

    /// Binary mode from the `ce-*` headers; `None` without `ce-specversion`.
    pub fn binary(
        headers: &HeaderMap,
        content_type: Option<&str>,
    ) -> Result<Option<Self>, GatewayError> {
        let attributes = cloudevents::binary_attributes(headers, content_type)?;
        Ok(attributes.map(|a| CloudEventsMode(cloudevents::Mode::Binary(a))))
    }

    pub fn is_binary(&self) -> bool {
        matches!(self.0, cloudevents::Mode::Binary(_))
    }

    pub fn is_batch(&self) -> bool {
        matches!(self.0, cloudevents::Mode::Batch)
    }
}

/// The attributes binary mode reads from `ce-*` headers.
pub const BINARY_ATTRIBUTES: [&str; 8] = cloudevents::BINARY_ATTRIBUTES;

/// One CloudEvent, its envelope checked; `event_type` is `None` when the envelope is wrong.
#[derive(Debug)]
pub struct CloudEvent {
    pub index: usize,
    pub bytes: Bytes,
    /// The event's `data`, or why the event is rejected.
    pub parsed: Result<Value, (Reason, String)>,
    pub event_type: Option<EventTypeName>,
    pub id: Option<String>,
    pub time_ms: Option<i64>,
    pub source: Option<String>,
    pub pinned_version: Option<i32>,
}

pub fn parse_cloudevents(
    body: &Bytes,
    mode: &CloudEventsMode,
    path_type: Option<&EventTypeName>,
    max_events: usize,
    max_event_bytes: usize,
) -> Result<Vec<CloudEvent>, GatewayError> {
    let events = cloudevents::parse(body, &mode.0, path_type, max_events, max_event_bytes)?;
    let events = events.into_iter().map(|event| {
        let (bytes, parsed) = event.raw.into_parts();
        CloudEvent {
            index: event.index,
            bytes,
            parsed,
            event_type: event.event_type,
            id: event.id,
            time_ms: event.time_ms,
            source: event.source,
            pinned_version: event.pinned_version,
        }
    });
    Ok(events.collect())
}

/// What the request's headers and query string say, as the handlers read them.
#[derive(Debug)]
pub struct Submission {
    pub format: Format,
    pub cloudevents: Option<CloudEventsMode>,
    pub encoding: Encoding,
    pub content_length: Option<u64>,
    pub producer: String,
    pub event_id: Option<String>,
    pub event_time_ms: Option<i64>,
    pub pinned_version: Option<i32>,
    pub traceparent: Option<String>,
    pub idempotency_key: Option<String>,
}

/// Reads a request's headers and the query string of `uri` (the handlers' first step).
pub fn submission(headers: &HeaderMap, uri: &Uri) -> Result<Submission, GatewayError> {
    let query = Query::<http::Params>::try_from_uri(uri);
    let submission = http::submission(None, query, headers, false)?;
    let meta = submission.meta;
    Ok(Submission {
        format: Format(submission.format),
        cloudevents: submission.cloudevents.map(CloudEventsMode),
        encoding: Encoding(submission.encoding),
        content_length: submission.content_length,
        producer: meta.producer,
        event_id: meta.event_id,
        event_time_ms: meta.event_time_ms,
        pinned_version: meta.pinned_version,
        traceparent: meta.traceparent,
        idempotency_key: meta.idempotency_key,
    })
}
