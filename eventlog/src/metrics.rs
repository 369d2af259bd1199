//! Metric names of the event log. Labels: `backend` and `outcome` only (bounded).

use std::sync::OnceLock;

use metrics::{Counter, Histogram};

/// Records appended, by backend and outcome (`ok`, `retryable`, `rejected`, `fatal`).
pub(crate) const APPEND_RECORDS: &str = "tributary_eventlog_append_records_total";
/// Seconds from an append call to its durable answer, by backend.
pub(crate) const APPEND_SECONDS: &str = "tributary_eventlog_append_duration_seconds";
/// Bytes waiting for a durable answer from the broker (Kafka backend).
pub(crate) const IN_FLIGHT_BYTES: &str = "tributary_eventlog_in_flight_bytes";
/// Times a broker's answer about offsets was contradicted by the records, by query kind.
pub(crate) const BROKER_ANSWER_CORRECTED: &str = "tributary_eventlog_broker_answer_corrected_total";

/// Counts an append's outcomes.
pub(crate) fn record_append(
    backend: &'static str,
    results: &[crate::AppendResult],
    started: std::time::Instant,
) {
    let mut ok = 0u64;
    let mut failed = [0u64; 3];
    for result in results {
        match result {
            Ok(_) => ok += 1,
            Err(e) => failed[e.kind() as usize] += 1,
        }
    }
    let handles = AppendHandles::of(backend);
    handles.ok.increment(ok);
    for kind in [
        crate::ErrorKind::Retryable,
        crate::ErrorKind::Rejected,
        crate::ErrorKind::Fatal,
    ] {
        let n = failed[kind as usize];
        if n > 0 {
            metrics::counter!(APPEND_RECORDS, "backend" => backend, "outcome" => kind.as_str())
                .increment(n);
        }
    }
    handles.seconds.record(started.elapsed().as_secs_f64());
}

/// What every append records, registered once per backend: looking a metric up by name and
/// labels costs a hash and a lock, on every append. (`serve` installs the recorder before
/// it opens the log, so the first append finds it.)
#[derive(Clone)]
struct AppendHandles {
    ok: Counter,
    seconds: Histogram,
}

impl AppendHandles {
    fn of(backend: &'static str) -> AppendHandles {
        static KAFKA: OnceLock<AppendHandles> = OnceLock::new();
        static EMBEDDED: OnceLock<AppendHandles> = OnceLock::new();
        let register = || AppendHandles {
            ok: metrics::counter!(APPEND_RECORDS, "backend" => backend, "outcome" => "ok"),
            seconds: metrics::histogram!(APPEND_SECONDS, "backend" => backend),
        };
        match backend {
            "kafka" => KAFKA.get_or_init(register).clone(),
            "embedded" => EMBEDDED.get_or_init(register).clone(),
            _ => register(),
        }
    }
}
