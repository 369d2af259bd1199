//! Quality: rules attached to event types, the score every event gets in the gateway, the
//! history of scores and outcomes per event type × producer × schema version × minute, and
//! alerts on that history.
//!
//! This crate owns what "quality" means and where its history lives (SQL, through
//! `tributary_core::Database`). Scoring is pure and bounded per event; it never does I/O on
//! the ingest path: the gateway scores with a compiled [`Scorer`] and hands each result to an
//! in-memory aggregator that a background task flushes. It never writes to the event log.
//!
//! It also keeps the catalog's data about events themselves ([`Samples`]): recent sample
//! events per schema version and the dead-letter reasons of each type, fed the same way
//! (a [`SampleSink`] on the ingest path, flushed by [`spawn_samples`]) and redacted with
//! the type's PII marks before they are stored.

mod alerts;
mod error;
mod history;
mod history_http;
mod http;
pub mod metrics;
mod rule_store;
mod rules;
mod rules_http;
mod samples;
mod score;

pub use alerts::{
    AlertKind, AlertOptions, AlertSettings, AlertState, AlertTask, Alerts, Transition, spawn_alerts,
};
pub use error::QualityError;
pub use history::{
    Aggregator, BASELINE_BUCKETS, By, FieldCompleteness, FlushReport, History, HistoryOptions,
    HistoryTask, MAX_PENDING_KEYS, MaintenanceReport, OTHER_PRODUCER, Observation, Outcome,
    Overview, Point, ProducerSeen, QualityReport, Resolution, Series, Summary, TypeQuality,
    run_maintenance, spawn_history,
};
pub use history_http::{HistoryService, MAX_RANGE_MS, history_routes, parse_time};
pub use http::QUALITY_TAG;
pub use rule_store::{RuleStore, RuleVersion};
pub use rules::{
    Check, MAX_COMPREHENSION_NESTING, MAX_EXPR_CHARS, MAX_EXPR_DEPTH, MAX_FAN_OUT, MAX_REMEMBERED,
    MAX_RULES, QualityRules, Rule, Scorer, Severity, Weights,
};
pub use rules_http::{RuleService, RuleSetView, rule_routes};
pub use samples::{
    DeadLetterReason, MARKS_TTL, MAX_EXAMPLE_VIOLATIONS, MAX_PENDING_SAMPLE_KEYS, MAX_SAMPLE_BYTES,
    SAMPLES_PER_VERSION, Sample, SampleSink, Samples, SamplesTask, ViolationExample, spawn_samples,
};
pub use score::{Assessment, Components, EventFacts, FieldKind, RuleFailure};
