//! `[quality]`: scoring, the quality history's flush, rollup and retention, and alerts.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, duration, invalid};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QualitySection {
    /// Score every event and keep the quality history [default: true].
    scoring: Option<bool>,
    /// How often counted verdicts are written to the history [default: 10s].
    flush_interval: Option<String>,
    /// Age at which minute rows are rolled up into hours [default: 48h].
    rollup_after: Option<String>,
    /// How long hourly history is kept [default: 90d].
    retention: Option<String>,
    /// How often rollup and pruning run [default: 5m].
    maintenance_interval: Option<String>,
    /// How often alert thresholds are evaluated [default: 15s].
    alert_interval: Option<String>,
    /// How long one webhook delivery may take [default: 5s].
    webhook_timeout: Option<String>,
    /// Attempts per alert notification, with doubling back-off from 1 s (1–20) [default: 5].
    webhook_attempts: Option<u32>,
}

/// The quality settings, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QualityConfig {
    pub(crate) scoring: bool,
    pub(crate) flush_interval: Duration,
    pub(crate) rollup_after: Duration,
    pub(crate) retention: Duration,
    pub(crate) maintenance_interval: Duration,
    pub(crate) alert_interval: Duration,
    pub(crate) webhook_timeout: Duration,
    pub(crate) webhook_attempts: u32,
}

impl QualityConfig {
    pub(super) fn from_section(section: &QualitySection) -> Result<QualityConfig, ConfigError> {
        let attempts = section.webhook_attempts.unwrap_or(5);
        if !(1..=20).contains(&attempts) {
            return Err(invalid(
                "quality.webhook_attempts",
                &attempts.to_string(),
                "expected 1 to 20",
            ));
        }
        let config = QualityConfig {
            scoring: section.scoring.unwrap_or(true),
            flush_interval: duration(
                "quality.flush_interval",
                section.flush_interval.clone(),
                "10s",
            )?,
            rollup_after: duration("quality.rollup_after", section.rollup_after.clone(), "48h")?,
            retention: duration("quality.retention", section.retention.clone(), "90d")?,
            maintenance_interval: duration(
                "quality.maintenance_interval",
                section.maintenance_interval.clone(),
                "5m",
            )?,
            alert_interval: duration(
                "quality.alert_interval",
                section.alert_interval.clone(),
                "15s",
            )?,
            webhook_timeout: duration(
                "quality.webhook_timeout",
                section.webhook_timeout.clone(),
                "5s",
            )?,
            webhook_attempts: attempts,
        };
        if config.retention < config.rollup_after {
            return Err(ConfigError(format!(
                "config key `quality.retention` ({}) is shorter than `quality.rollup_after` ({}): hourly history would be pruned before it exists",
                humantime::format_duration(config.retention),
                humantime::format_duration(config.rollup_after)
            )));
        }
        Ok(config)
    }
}
