//! Alert settings of an event type: the document owners PUT, its validation, its row.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tributary_core::Database;

use crate::QualityError;

const MINUTE: Duration = Duration::from_secs(60);
const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// The baseline must stay within the minute history (rolled up after 48 h by default).
const MAX_BASELINE: Duration = Duration::from_secs(24 * 3600);
const MAX_LAG: Duration = Duration::from_secs(7 * 86_400);

fn default_window() -> String {
    String::from("5m")
}

fn default_baseline() -> String {
    String::from("1h")
}

fn default_min_events() -> u64 {
    10
}

/// Thresholds on an event type's quality; every one is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// Where transitions are POSTed (http or https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// The span each evaluation looks back over (whole minutes, 1m to 24h; default 5m).
    #[serde(default = "default_window")]
    pub window: String,
    /// Fires when the mean score over the window is below this (0–100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_score: Option<f64>,
    /// Fires when the dead-lettered share of the window's events is above this (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_dead_letter_rate: Option<f64>,
    /// Fires when the window's p99 freshness lag is above this duration (e.g. `2m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_freshness_lag_p99: Option<String>,
    /// Fires when the window's volume is this many percent below the baseline's mean
    /// per-window volume (1–100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_drop_pct: Option<f64>,
    /// Fires when the window's volume is this many percent above it (e.g. 300: four times).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_spike_pct: Option<f64>,
    /// The span before the window the volume is compared with (≥ window, ≤ 24h; default 1h).
    #[serde(default = "default_baseline")]
    pub baseline: String,
    /// Fewer events than this in the window (score, dead letters, lag) or in the baseline
    /// (volume) and the alert is not evaluated (default 10).
    #[serde(default = "default_min_events")]
    pub min_events: u64,
}

/// Validated settings, in numbers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Thresholds {
    pub(crate) webhook_url: Option<String>,
    pub(crate) window_ms: i64,
    pub(crate) baseline_ms: i64,
    pub(crate) min_score: Option<f64>,
    pub(crate) max_dead_letter_rate: Option<f64>,
    pub(crate) max_lag_p99_ms: Option<i64>,
    pub(crate) volume_drop_pct: Option<f64>,
    pub(crate) volume_spike_pct: Option<f64>,
    pub(crate) min_events: u64,
}

fn duration(field: &str, text: &str, min: Duration, max: Duration) -> Result<i64, QualityError> {
    let parsed = humantime::parse_duration(text)
        .map_err(|e| QualityError::invalid(field, format!("{text:?} is not a duration: {e}")))?;
    if parsed < min || parsed > max {
        return Err(QualityError::invalid(
            field,
            format!(
                "must be from {} to {}",
                humantime::format_duration(min),
                humantime::format_duration(max)
            ),
        ));
    }
    Ok(i64::try_from(parsed.as_millis()).unwrap_or(i64::MAX))
}

fn within(field: &str, value: Option<f64>, min: f64, max: f64) -> Result<(), QualityError> {
    match value {
        Some(v) if !(v.is_finite() && v >= min && v <= max) => Err(QualityError::invalid(
            field,
            format!("must be from {min} to {max}"),
        )),
        _ => Ok(()),
    }
}

impl AlertSettings {
    pub(crate) fn check(&self) -> Result<Thresholds, QualityError> {
        if let Some(url) = &self.webhook_url {
            let parsed = reqwest::Url::parse(url)
                .map_err(|e| QualityError::invalid("webhook_url", format!("not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(QualityError::invalid(
                    "webhook_url",
                    "must be an http or https URL with a host",
                ));
            }
        }
        let window_ms = duration("window", &self.window, MINUTE, MAX_WINDOW)?;
        if window_ms % 60_000 != 0 {
            return Err(QualityError::invalid(
                "window",
                "must be a whole number of minutes",
            ));
        }
        let baseline_ms = duration("baseline", &self.baseline, MINUTE, MAX_BASELINE)?;
        if baseline_ms < window_ms || baseline_ms % 60_000 != 0 {
            return Err(QualityError::invalid(
                "baseline",
                "must be whole minutes and at least the window",
            ));
        }
        within("min_score", self.min_score, 0.0, 100.0)?;
        within("max_dead_letter_rate", self.max_dead_letter_rate, 0.0, 1.0)?;
        within("volume_drop_pct", self.volume_drop_pct, 1.0, 100.0)?;
        within("volume_spike_pct", self.volume_spike_pct, 1.0, 100_000.0)?;
        let max_lag_p99_ms = match &self.max_freshness_lag_p99 {
            None => None,
            Some(text) => Some(duration(
                "max_freshness_lag_p99",
                text,
                Duration::from_millis(1),
                MAX_LAG,
            )?),
        };
        if !(1..=1_000_000_000).contains(&self.min_events) {
            return Err(QualityError::invalid(
                "min_events",
                "must be from 1 to 1000000000",
            ));
        }
        Ok(Thresholds {
            webhook_url: self.webhook_url.clone(),
            window_ms,
            baseline_ms,
            min_score: self.min_score,
            max_dead_letter_rate: self.max_dead_letter_rate,
            max_lag_p99_ms,
            volume_drop_pct: self.volume_drop_pct,
            volume_spike_pct: self.volume_spike_pct,
            min_events: self.min_events,
        })
    }
}

/// The settings of `event_type`, if any.
pub(crate) async fn fetch(
    db: &Database,
    event_type: &str,
) -> Result<Option<AlertSettings>, QualityError> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT settings_json FROM quality_alert_settings WHERE event_type = $1",
    )
    .bind(event_type)
    .fetch_optional(db.pool())
    .await?;
    found.map(|text| parse_stored(&text)).transpose()
}

fn parse_stored(text: &str) -> Result<AlertSettings, QualityError> {
    serde_json::from_str(text)
        .map_err(|e| QualityError::Store(format!("stored alert settings do not parse: {e}")))
}

/// Every event type's settings.
pub(crate) async fn all(db: &Database) -> Result<Vec<(String, AlertSettings)>, QualityError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT event_type, settings_json FROM quality_alert_settings ORDER BY event_type",
    )
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for (event_type, text) in rows {
        out.push((event_type, parse_stored(&text)?));
    }
    Ok(out)
}

/// Validates and stores `settings`; the states of alerts it no longer sets are deleted.
pub(crate) async fn store(
    db: &Database,
    event_type: &str,
    settings: &AlertSettings,
    who: &str,
    now_ms: i64,
) -> Result<(), QualityError> {
    let thresholds = settings.check()?;
    let text = serde_json::to_string(settings)
        .map_err(|e| QualityError::Store(format!("cannot encode alert settings: {e}")))?;
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO quality_alert_settings (event_type, settings_json, updated_at_ms, updated_by) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (event_type) DO UPDATE SET \
         settings_json = excluded.settings_json, updated_at_ms = excluded.updated_at_ms, \
         updated_by = excluded.updated_by",
    )
    .bind(event_type)
    .bind(text)
    .bind(now_ms)
    .bind(who)
    .execute(&mut *tx)
    .await?;
    for kind in super::AlertKind::ALL {
        if !kind.configured(&thresholds) {
            sqlx::query("DELETE FROM quality_alert_states WHERE event_type = $1 AND alert = $2")
                .bind(event_type)
                .bind(kind.as_str())
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
