//! Metric names of the gateway. Labels are bounded: `event_type` is a registered event type or
//! `unknown`, `outcome` and `endpoint` are fixed words, `status` is an HTTP status code.

/// Events seen, by event type and outcome (`accepted`, `rejected`, `dead_lettered`, `failed`,
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
    /// Reports the counts under `event_type` (a resolved, registered type).
    pub(crate) fn report(&self, event_type: &str) {
        for (outcome, n) in [
            ("accepted", self.accepted),
            ("rejected", self.rejected),
            ("dead_lettered", self.dead_lettered),
            ("failed", self.failed),
            ("duplicate", self.duplicates),
        ] {
            if n > 0 {
                metrics::counter!(EVENTS, "event_type" => event_type.to_owned(), "outcome" => outcome)
                    .increment(n);
            }
        }
        if self.shadow_violations > 0 {
            metrics::counter!(SHADOW_VIOLATIONS, "event_type" => event_type.to_owned())
                .increment(self.shadow_violations);
        }
    }
}
