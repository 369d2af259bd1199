//! Back-pressure and size limits, with the defaults the binary uses.

use std::time::Duration;

/// Every limit of the gateway. The binary uses [`GatewayLimits::default`]; these defaults are
/// the only place the numbers live; the binary's `[gateway]` keys override them.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayLimits {
    /// Largest request body as sent (compressed or not): 10 MiB. Beyond: 413.
    pub max_body_bytes: usize,
    /// Largest body after gzip/zstd decompression: 64 MiB. Beyond: 413 (zip bombs stop here).
    pub max_decompressed_bytes: usize,
    /// Most events in one request: 10,000. Beyond: 413.
    pub max_events_per_request: usize,
    /// Largest single event, unless its event type says otherwise: 1 MiB. Beyond: that event
    /// is rejected `too_large`, the others go on.
    pub max_event_bytes: usize,
    /// Request bytes the whole gateway holds at once: 256 MiB. A request that would exceed it
    /// is answered 503 at once instead of queueing.
    pub max_in_flight_bytes: usize,
    /// How long one request may take, end to end: 30 s. Beyond: 503, nothing acknowledged.
    pub request_timeout: Duration,
    /// How long event-type metadata and "latest schema" answers are trusted: 5 s.
    pub metadata_ttl: Duration,
    /// How long an accepted event's producer-supplied id (or `Idempotency-Key`) is remembered,
    /// so that a retry answers `duplicate` instead of writing again: 10 min. Zero turns
    /// deduplication off. Per gateway instance.
    pub idempotency_window: Duration,
    /// Most remembered ids: 100,000 (the oldest are forgotten first, even inside the window).
    pub idempotency_max_entries: usize,
    /// Events per second each producer may publish, with bursts: none by default. Beyond:
    /// 429 with `Retry-After`, nothing written.
    pub producer_rate: Option<crate::RateLimit>,
}

impl Default for GatewayLimits {
    fn default() -> Self {
        GatewayLimits {
            max_body_bytes: 10 << 20,
            max_decompressed_bytes: 64 << 20,
            max_events_per_request: 10_000,
            max_event_bytes: 1 << 20,
            max_in_flight_bytes: 256 << 20,
            request_timeout: Duration::from_secs(30),
            metadata_ttl: Duration::from_secs(5),
            idempotency_window: Duration::from_secs(600),
            idempotency_max_entries: 100_000,
            producer_rate: None,
        }
    }
}
