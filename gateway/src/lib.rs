//! The ingest API and pipeline: `POST /v1/events/{type}`, `POST /v1/events` (CloudEvents) and
//! `POST /v1/validate/{type}`.
//!
//! This crate owns the way from a producer's request to durable records: decoding (JSON,
//! NDJSON, gzip, zstd) under explicit limits, resolving the event type and its schema (cached),
//! validation with per-type enforcement, enrichment with the headers of DESIGN.md, routing to
//! the type's topic or the dead-letter topic, and per-event verdicts. It acknowledges an event
//! only once the event log reports it durable, and answers 503 — listing what *was* written —
//! when the log cannot take writes. It must never acknowledge what it has not stored, never
//! buffer without bound, and never talk to the database on the hot path (metadata is cached).
//! Event-type metadata comes through the [`EventTypes`] seam, implemented for the catalog's
//! `tributary_registry::EventTypes`. [`Gateway::republish`] runs one event through the same
//! pipeline in-process, as its producer would send it: how replay re-ingests fixed dead letters.

mod cloudevents;
mod decode;
mod error;
mod event_types;
mod fresh;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod gateway;
mod http;
mod idempotency;
mod limits;
mod metrics;
mod openapi;
mod prepare;
mod producers;
mod quality;
mod rate_limit;
mod samples;
mod schemas;
mod verdict;

pub use error::GatewayError;
pub use event_types::{Enforcement, EventTypeInfo, EventTypes};
pub use gateway::{Gateway, GatewayOptions, Republish};
pub use http::{
    EVENT_ID_HEADER, EVENT_TIME_HEADER, IDEMPOTENCY_KEY_HEADER, PRODUCER_HEADER,
    SCHEMA_VERSION_HEADER, router,
};
pub use limits::GatewayLimits;
pub use prepare::{DLQ_EVENT_TYPE, DLQ_REASON, DLQ_VIOLATIONS, SOURCE, WARNINGS};
pub use producers::{
    IssuedKey, KeyView, NewProducer, ProducerError, ProducerOptions, ProducerView, Producers,
    admin_principal, producer_routes,
};
pub use quality::{QualityBody, QualityHook};
pub use rate_limit::RateLimit;
pub use verdict::{Answer, Reason, Verdict, ViolationBody, Written};
