//! Metric names of the gateway. Labels are bounded: `event_type` is a registered event type or
//! `unknown`, `producer` one of the first [`MAX_PRODUCER_LABELS`] producers seen (then
//! `_other`: with auth off producers name themselves, so their names are not bounded),
//! `outcome`, `stage` and `endpoint` are fixed words, `status` is an HTTP status code.
//!
//! Metrics whose labels are fixed words are registered once, on first use, and their handles
//! kept: looking a metric up by name and labels costs a hash of the key and a lock, several
//! times per request. `serve` installs the recorder before anything is counted, so the first
//! use finds it.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use metrics::{Gauge, Histogram};

/// Distinct producer label values before the rest are counted as `_other`.
pub(crate) const MAX_PRODUCER_LABELS: usize = 1_000;

/// Events seen, by event type, producer and outcome (`accepted`, `rejected`, `dead_lettered`, `failed`,
/// `duplicate`;
/// the outcomes are exclusive: a dead-lettered event is not also counted as rejected).
pub(crate) const EVENTS: &str = "tributary_gateway_events_total";
/// Events that passed the schema but failed the shadow candidate, by event type.
pub(crate) const SHADOW_VIOLATIONS: &str = "tributary_gateway_shadow_violations_total";
/// Requests answered, by event type (`unknown` until the type is resolved), endpoint
/// (`publish`, `validate`) and status.
pub(crate) const REQUESTS: &str = "tributary_gateway_requests_total";
/// Seconds from a request's arrival to its answer, by endpoint and status.
pub(crate) const REQUEST_SECONDS: &str = "tributary_gateway_request_duration_seconds";
/// Request bytes (compressed and decompressed) held by requests in flight.
pub(crate) const IN_FLIGHT_BYTES: &str = "tributary_gateway_in_flight_bytes";
/// Publish and validate requests being handled.
pub(crate) const IN_FLIGHT_REQUESTS: &str = "tributary_gateway_in_flight_requests";
/// Seconds spent in each stage of the pipeline, by stage: `read` (receiving and
/// decompressing the body), `resolve` (event type and schema, usually cached), `check`
/// (splitting, decoding, validating and enriching the events), `append` (until the log
/// reported every record durable). One sample per stage a request completed, even where
/// the stage comes in parts (the schema is resolved after the read; a CloudEvents batch
/// resolves and checks type by type), except `append`: a CloudEvents batch appends each
/// event type's events in turn, one sample each.
pub(crate) const STAGE_SECONDS: &str = "tributary_gateway_stage_duration_seconds";

/// A stage of the pipeline (see [`STAGE_SECONDS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StageName {
    Read,
    Resolve,
    Check,
    Append,
}

impl StageName {
    const ALL: [StageName; 4] = [
        StageName::Read,
        StageName::Resolve,
        StageName::Check,
        StageName::Append,
    ];

    /// The `stage` label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            StageName::Read => "read",
            StageName::Resolve => "resolve",
            StageName::Check => "check",
            StageName::Append => "append",
        }
    }

    /// The stage's histogram: `ALL` lists the stages in declaration order, so a stage's
    /// discriminant is its place in the array.
    fn histogram(self) -> &'static Histogram {
        static HISTOGRAMS: OnceLock<[Histogram; 4]> = OnceLock::new();
        let all = HISTOGRAMS.get_or_init(|| {
            StageName::ALL.map(|stage| metrics::histogram!(STAGE_SECONDS, "stage" => stage.label()))
        });
        &all[self as usize]
    }
}

/// Times one stage; records when [`Stage::done`] is called. A stage done in parts, with other
/// work between them ([`Stage::pause`], [`Stage::resume`]), records once: its parts together.
pub(crate) struct Stage {
    name: StageName,
    /// Time spent in the parts before the current one.
    spent: Duration,
    /// When the current part began; `None` while paused.
    since: Option<Instant>,
}

impl Stage {
    pub(crate) fn start(name: StageName) -> Stage {
        Stage {
            name,
            spent: Duration::ZERO,
            since: Some(Instant::now()),
        }
    }

    /// A stage whose first part has not begun.
    pub(crate) fn paused(name: StageName) -> Stage {
        Stage {
            name,
            spent: Duration::ZERO,
            since: None,
        }
    }

    pub(crate) fn pause(&mut self) {
        self.pause_at(Instant::now());
    }

    pub(crate) fn resume(&mut self) {
        self.resume_at(Instant::now());
    }

    pub(crate) fn done(mut self) {
        self.pause();
        self.name.histogram().record(self.spent.as_secs_f64());
    }

    fn pause_at(&mut self, now: Instant) {
        if let Some(since) = self.since.take() {
            self.spent += now.saturating_duration_since(since);
        }
    }

    fn resume_at(&mut self, now: Instant) {
        self.since.get_or_insert(now);
    }
}

static IN_FLIGHT_REQUESTS_GAUGE: LazyLock<Gauge> =
    LazyLock::new(|| metrics::gauge!(IN_FLIGHT_REQUESTS));
static IN_FLIGHT_BYTES_GAUGE: LazyLock<Gauge> = LazyLock::new(|| metrics::gauge!(IN_FLIGHT_BYTES));

/// Sets [`IN_FLIGHT_BYTES`].
pub(crate) fn in_flight_bytes(held: usize) {
    IN_FLIGHT_BYTES_GAUGE.set(held as f64);
}

/// Counts a request in flight while it lives.
pub(crate) struct InFlightRequest;

impl InFlightRequest {
    pub(crate) fn enter() -> InFlightRequest {
        IN_FLIGHT_REQUESTS_GAUGE.increment(1.0);
        InFlightRequest
    }
}

impl Drop for InFlightRequest {
    fn drop(&mut self) {
        IN_FLIGHT_REQUESTS_GAUGE.decrement(1.0);
    }
}

/// The producer label values handed out so far.
#[derive(Debug, Default)]
pub(crate) struct ProducerLabels {
    seen: Mutex<HashSet<String>>,
}

impl ProducerLabels {
    /// `producer`, while fewer than [`MAX_PRODUCER_LABELS`] others were seen; `_other` after.
    pub(crate) fn label(&self, producer: &str) -> String {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.contains(producer) {
            return producer.to_owned();
        }
        if seen.len() < MAX_PRODUCER_LABELS {
            seen.insert(producer.to_owned());
            return producer.to_owned();
        }
        String::from("_other")
    }
}

/// Per-outcome counts of one request, reported once.
#[derive(Debug, Default)]
pub(crate) struct Outcomes {
    pub(crate) accepted: u64,
    pub(crate) rejected: u64,
    pub(crate) dead_lettered: u64,
    pub(crate) failed: u64,
    pub(crate) duplicates: u64,
    pub(crate) shadow_violations: u64,
}

impl Outcomes {
    /// Reports the counts under `event_type` (a resolved, registered type) and `producer` (a
    /// bounded label from [`ProducerLabels`]).
    pub(crate) fn report(&self, event_type: &str, producer: &str) {
        for (outcome, n) in [
            ("accepted", self.accepted),
            ("rejected", self.rejected),
            ("dead_lettered", self.dead_lettered),
            ("failed", self.failed),
            ("duplicate", self.duplicates),
        ] {
            if n > 0 {
                metrics::counter!(EVENTS, "event_type" => event_type.to_owned(), "producer" => producer.to_owned(), "outcome" => outcome)
                    .increment(n);
            }
        }
        if self.shadow_violations > 0 {
            metrics::counter!(SHADOW_VIOLATIONS, "event_type" => event_type.to_owned())
                .increment(self.shadow_violations);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{Stage, StageName};

    #[test]
    fn a_stage_in_parts_counts_its_parts_and_not_the_gaps() {
        let ms = Duration::from_millis;
        let t0 = Instant::now();
        let mut stage = Stage::paused(StageName::Resolve);
        stage.pause_at(t0 + ms(1));
        assert_eq!(stage.spent, Duration::ZERO, "paused from the start");
        stage.resume_at(t0 + ms(2));
        stage.resume_at(t0 + ms(3)); // already running: the part began at 2
        stage.pause_at(t0 + ms(5));
        stage.pause_at(t0 + ms(9)); // already paused: nothing more
        stage.resume_at(t0 + ms(10));
        stage.pause_at(t0 + ms(14));
        assert_eq!(stage.spent, ms(3 + 4));
    }

    #[test]
    fn each_stage_finds_its_own_histogram() {
        for (at, stage) in StageName::ALL.into_iter().enumerate() {
            assert_eq!(stage as usize, at, "{stage:?}");
        }
        let labels = StageName::ALL.map(StageName::label);
        assert_eq!(labels, ["read", "resolve", "check", "append"]);
    }
}
