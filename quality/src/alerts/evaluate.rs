//! Evaluating one event type's alerts over the minute table, and claiming transitions.

use std::collections::HashMap;

use tributary_core::Database;

use super::{AlertKind, AlertSettings, AlertState, Thresholds, Transition};
use crate::QualityError;
use crate::history::{Counts, Table, sums};

const MINUTE_MS: i64 = 60_000;

async fn counts(
    db: &Database,
    event_type: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Counts, QualityError> {
    let mut counts = Counts::default();
    for sum in sums(db, Table::Minutes, Some(event_type), from_ms, to_ms).await? {
        counts.add(&sum.metric, &sum.label, sum.value);
    }
    Ok(counts)
}

/// Each configured alert's (value, threshold, breached), or `None` when it cannot be
/// evaluated (too few events).
fn measure(
    kind: AlertKind,
    t: &Thresholds,
    window: &Counts,
    baseline: &Counts,
) -> Option<(f64, f64, bool)> {
    let volume = window.volume();
    let enough = volume >= t.min_events;
    let summary = window.summary();
    // The baseline's mean volume per window.
    let expected = baseline.volume() as f64 * t.window_ms as f64 / t.baseline_ms as f64;
    let baseline_enough = baseline.volume() >= t.min_events && expected > 0.0;
    match kind {
        AlertKind::Score => {
            let min = t.min_score?;
            let mean = summary.mean_score.filter(|_| enough)?;
            Some((mean, min, mean < min))
        }
        AlertKind::DeadLetterRate => {
            let max = t.max_dead_letter_rate?;
            let rate = summary.dead_letter_rate.filter(|_| enough)?;
            Some((rate, max, rate > max))
        }
        AlertKind::FreshnessLagP99 => {
            let max = t.max_lag_p99_ms? as f64;
            let p99 = window.lag_percentile(0.99).filter(|_| enough)? as f64;
            Some((p99, max, p99 > max))
        }
        AlertKind::VolumeDrop => {
            let pct = t.volume_drop_pct?;
            if !baseline_enough {
                return None;
            }
            let drop = (1.0 - volume as f64 / expected) * 100.0;
            Some((drop, pct, drop >= pct))
        }
        AlertKind::VolumeSpike => {
            let pct = t.volume_spike_pct?;
            if !baseline_enough {
                return None;
            }
            let spike = (volume as f64 / expected - 1.0) * 100.0;
            Some((spike, pct, spike >= pct))
        }
    }
}

/// The state of each alert as last read, by (event type, alert).
pub(crate) type Known = HashMap<(String, String), String>;

/// Evaluates `event_type`'s alerts as of `now_ms`; returns the transitions this call
/// claimed. `known` saves a statement per alert when nothing changes.
pub(crate) async fn evaluate_type(
    db: &Database,
    event_type: &str,
    settings: &AlertSettings,
    t: &Thresholds,
    known: &Known,
    now_ms: i64,
) -> Result<Vec<Transition>, QualityError> {
    let end = now_ms.div_euclid(MINUTE_MS) * MINUTE_MS;
    let start = end - t.window_ms;
    let window = counts(db, event_type, start, end).await?;
    let needs_baseline = t.volume_drop_pct.is_some() || t.volume_spike_pct.is_some();
    let baseline = if needs_baseline {
        counts(db, event_type, start - t.baseline_ms, start).await?
    } else {
        Counts::default()
    };
    let mut claimed = Vec::new();
    for kind in AlertKind::ALL {
        let Some((value, threshold, breached)) = measure(kind, t, &window, &baseline) else {
            continue;
        };
        let state = known
            .get(&(event_type.to_owned(), kind.as_str().to_owned()))
            .map(String::as_str);
        let evaluation = Evaluation {
            kind,
            value,
            threshold,
            breached,
            now_ms,
        };
        if claim(db, event_type, state, &evaluation).await? {
            claimed.push(Transition {
                event_type: event_type.to_owned(),
                alert: kind,
                state: if breached { "firing" } else { "resolved" },
                value,
                threshold,
                window: settings.window.clone(),
                at: rfc3339(now_ms),
            });
        }
    }
    Ok(claimed)
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// One alert's evaluation.
struct Evaluation {
    kind: AlertKind,
    value: f64,
    threshold: f64,
    breached: bool,
    now_ms: i64,
}

/// Records the evaluation; true when this call moved the alert ok → firing (`breached`) or
/// firing → ok. The move is a conditional UPDATE, so of several instances evaluating at
/// once exactly one sees a row change. `known` is the state last read (`None`: no row yet).
async fn claim(
    db: &Database,
    event_type: &str,
    known: Option<&str>,
    e: &Evaluation,
) -> Result<bool, QualityError> {
    if known.is_none() {
        sqlx::query(
            "INSERT INTO quality_alert_states \
             (event_type, alert, state, since_ms, value, threshold, evaluated_at_ms) \
             VALUES ($1, $2, 'ok', $3, $4, $5, $3) ON CONFLICT (event_type, alert) DO NOTHING",
        )
        .bind(event_type)
        .bind(e.kind.as_str())
        .bind(e.now_ms)
        .bind(e.value)
        .bind(e.threshold)
        .execute(db.pool())
        .await?;
    }
    let (to, from) = if e.breached {
        ("firing", "ok")
    } else {
        ("ok", "firing")
    };
    if known != Some(to) {
        let moved = sqlx::query(
            "UPDATE quality_alert_states SET state = $3, since_ms = $5, value = $6, \
             threshold = $7, evaluated_at_ms = $5 \
             WHERE event_type = $1 AND alert = $2 AND state = $4",
        )
        .bind(event_type)
        .bind(e.kind.as_str())
        .bind(to)
        .bind(from)
        .bind(e.now_ms)
        .bind(e.value)
        .bind(e.threshold)
        .execute(db.pool())
        .await?;
        if moved.rows_affected() > 0 {
            return Ok(true);
        }
    }
    sqlx::query(
        "UPDATE quality_alert_states SET value = $3, threshold = $4, evaluated_at_ms = $5 \
         WHERE event_type = $1 AND alert = $2",
    )
    .bind(event_type)
    .bind(e.kind.as_str())
    .bind(e.value)
    .bind(e.threshold)
    .bind(e.now_ms)
    .execute(db.pool())
    .await?;
    Ok(false)
}

pub(crate) async fn states(db: &Database) -> Result<Vec<AlertState>, QualityError> {
    let rows = sqlx::query_as(
        "SELECT event_type, alert, state, since_ms, value, threshold, evaluated_at_ms \
         FROM quality_alert_states ORDER BY event_type, alert",
    )
    .fetch_all(db.pool())
    .await?;
    Ok(rows)
}
