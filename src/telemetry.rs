//! Logging and metrics set-up for the binary.

use std::sync::mpsc;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Metric names the binary itself records. Labels are bounded: route templates, methods and
/// status codes only.
pub(crate) mod names {
    pub(crate) const HTTP_REQUESTS: &str = "tributary_http_requests_total";
    pub(crate) const HTTP_DURATION: &str = "tributary_http_request_duration_seconds";
    pub(crate) const BUILD_INFO: &str = "tributary_build_info";
}

/// Logs to stderr, filtered by `TRIBUTARY_LOG` (default `info`).
pub(crate) fn init_logging(format: LogFormat) {
    let filter =
        EnvFilter::try_from_env("TRIBUTARY_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    // A second initialisation (tests) is harmless: keep the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Installs the Prometheus recorder behind `/metrics`.
pub(crate) fn init_metrics() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets(&[
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ])
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    metrics::gauge!(names::BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(handle)
}

/// How often recorded histogram samples are folded into their buckets.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The recorder's upkeep, on a thread of its own until this is dropped.
///
/// Histogram samples pile up unfolded until upkeep (or a scrape) folds them into buckets,
/// which takes milliseconds under load: about 100,000 samples every 5 s at 20,000 requests
/// a second. On a runtime worker that would hold up every request queued behind it.
pub(crate) struct Upkeep {
    _stop: mpsc::Sender<()>,
}

pub(crate) fn spawn_upkeep(handle: PrometheusHandle) -> std::io::Result<Upkeep> {
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            // Nothing is ever sent: the loop ends when the sender is dropped.
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(UPKEEP_INTERVAL) {
                handle.run_upkeep();
            }
        })?;
    Ok(Upkeep { _stop: stop })
}
