//! Metric names of the quality crate, and the only places they are emitted. Labels are
//! bounded: event-type names (registered) and alert kinds (five).

/// Gauge, 1 while an alert fires, else 0; labels `event_type`, `alert`. Every instance sets
/// it from the shared state rows after each evaluation, so all instances agree.
pub const ALERTS_FIRING: &str = "tributary_quality_alerts_firing";
/// Counter of alert transitions claimed by this instance; labels `event_type`, `alert`,
/// `state` (`firing` | `resolved`).
pub const ALERT_TRANSITIONS_TOTAL: &str = "tributary_quality_alert_transitions_total";
/// Counter of webhook deliveries that failed after the last attempt; labels `event_type`,
/// `alert`.
pub const WEBHOOK_FAILURES_TOTAL: &str = "tributary_quality_webhook_failures_total";
/// Counter of rows added to `quality_minutes` by flushes.
pub const HISTORY_ROWS_FLUSHED_TOTAL: &str = "tributary_quality_history_rows_flushed_total";
/// Counter of failed flushes (their counts were kept for the next one).
pub const HISTORY_FLUSH_FAILURES_TOTAL: &str = "tributary_quality_history_flush_failures_total";
/// Gauge of keys waiting in the aggregator after the last flush.
pub const HISTORY_PENDING_KEYS: &str = "tributary_quality_history_pending_keys";
/// Counter of observations counted under the `_other` producer because the aggregator was
/// full.
pub const HISTORY_FOLDED_TOTAL: &str = "tributary_quality_history_folded_total";

/// Counter of sample and dead-letter offers dropped because the sample sink was full.
pub const SAMPLES_DROPPED_TOTAL: &str = "tributary_catalog_samples_dropped_total";
/// Counter of catalog sample and dead-letter rows written by flushes.
pub const SAMPLES_ROWS_WRITTEN_TOTAL: &str = "tributary_catalog_samples_rows_written_total";
/// Counter of failed catalog-sample flushes (their dead-letter counts were kept).
pub const SAMPLES_FLUSH_FAILURES_TOTAL: &str = "tributary_catalog_samples_flush_failures_total";

pub(crate) fn sample_dropped() {
    metrics::counter!(SAMPLES_DROPPED_TOTAL).increment(1);
}

pub(crate) fn samples_written(rows: usize) {
    metrics::counter!(SAMPLES_ROWS_WRITTEN_TOTAL).increment(rows as u64);
}

pub(crate) fn samples_flush_failed() {
    metrics::counter!(SAMPLES_FLUSH_FAILURES_TOTAL).increment(1);
}

pub(crate) fn alert_firing(event_type: &str, alert: &str, firing: bool) {
    metrics::gauge!(ALERTS_FIRING, "event_type" => event_type.to_owned(), "alert" => alert.to_owned())
        .set(if firing { 1.0 } else { 0.0 });
}

pub(crate) fn alert_transition(event_type: &str, alert: &str, state: &'static str) {
    metrics::counter!(ALERT_TRANSITIONS_TOTAL, "event_type" => event_type.to_owned(), "alert" => alert.to_owned(), "state" => state)
        .increment(1);
}

pub(crate) fn webhook_failed(event_type: &str, alert: &str) {
    metrics::counter!(WEBHOOK_FAILURES_TOTAL, "event_type" => event_type.to_owned(), "alert" => alert.to_owned())
        .increment(1);
}

pub(crate) fn flushed(rows: usize) {
    metrics::counter!(HISTORY_ROWS_FLUSHED_TOTAL).increment(rows as u64);
}

pub(crate) fn flush_failed() {
    metrics::counter!(HISTORY_FLUSH_FAILURES_TOTAL).increment(1);
}

pub(crate) fn pending_keys(keys: usize) {
    metrics::gauge!(HISTORY_PENDING_KEYS).set(keys as f64);
}

pub(crate) fn folded_observations(events: usize) {
    metrics::counter!(HISTORY_FOLDED_TOTAL).increment(events as u64);
}
