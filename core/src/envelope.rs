/// Record header names Tributary writes on every event (DESIGN.md, "Names on the wire").
pub mod headers {
    /// UUIDv7 unless the producer sent one.
    pub const EVENT_ID: &str = "tributary.event_id";
    /// The producer that published the event.
    pub const PRODUCER: &str = "tributary.producer";
    /// `true` when the request was authenticated (a producer's API key, or an operator's key
    /// naming the producer), `false` when the producer only named itself (auth off).
    pub const PRODUCER_AUTHENTICATED: &str = "tributary.producer_authenticated";
    /// When the gateway received the event, in milliseconds since the Unix epoch.
    pub const RECEIVED_AT: &str = "tributary.received_at";
    /// The schema version the event was validated against.
    pub const SCHEMA_VERSION: &str = "tributary.schema_version";
    /// The event's quality score, 0–100.
    pub const QUALITY: &str = "tributary.quality";
    /// Set on replayed records: the replay job that emitted them.
    pub const REPLAY_JOB: &str = "tributary.replay_job";
    /// On a dead letter: the machine-readable reason code.
    pub const DLQ_REASON: &str = "tributary.dlq.reason";
    /// On a dead letter: the event type the event claimed.
    pub const DLQ_EVENT_TYPE: &str = "tributary.dlq.event_type";
    /// On a dead letter: every violation, as a JSON array of `{pointer, message}`.
    pub const DLQ_VIOLATIONS: &str = "tributary.dlq.violations";
    /// W3C trace context, passed through unchanged.
    pub const TRACEPARENT: &str = "traceparent";
}
