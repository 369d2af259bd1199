//! Alerts on the quality history: thresholds per event type, evaluated over the minute
//! table every `evaluate_interval`; each ok → firing and firing → ok transition is claimed
//! with a conditional UPDATE (so with several instances it happens once) and delivered to
//! the log, the metrics and the type's webhook. See `docs/quality-history.md`.

mod deliver;
mod evaluate;
mod settings;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tributary_core::Database;

use crate::QualityError;

pub use settings::AlertSettings;
pub(crate) use settings::Thresholds;

/// One of the five alerts an event type may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Mean score below `min_score`.
    Score,
    /// Dead-letter rate above `max_dead_letter_rate`.
    DeadLetterRate,
    /// p99 freshness lag above `max_freshness_lag_p99`.
    FreshnessLagP99,
    /// Volume `volume_drop_pct` percent under the baseline.
    VolumeDrop,
    /// Volume `volume_spike_pct` percent over the baseline.
    VolumeSpike,
}

impl AlertKind {
    pub const ALL: [AlertKind; 5] = [
        AlertKind::Score,
        AlertKind::DeadLetterRate,
        AlertKind::FreshnessLagP99,
        AlertKind::VolumeDrop,
        AlertKind::VolumeSpike,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Score => "score",
            AlertKind::DeadLetterRate => "dead_letter_rate",
            AlertKind::FreshnessLagP99 => "freshness_lag_p99",
            AlertKind::VolumeDrop => "volume_drop",
            AlertKind::VolumeSpike => "volume_spike",
        }
    }

    pub(crate) fn configured(self, t: &Thresholds) -> bool {
        match self {
            AlertKind::Score => t.min_score.is_some(),
            AlertKind::DeadLetterRate => t.max_dead_letter_rate.is_some(),
            AlertKind::FreshnessLagP99 => t.max_lag_p99_ms.is_some(),
            AlertKind::VolumeDrop => t.volume_drop_pct.is_some(),
            AlertKind::VolumeSpike => t.volume_spike_pct.is_some(),
        }
    }
}

/// How alerts are evaluated and delivered.
#[derive(Debug, Clone)]
pub struct AlertOptions {
    /// How often every event type's alerts are evaluated.
    pub evaluate_interval: Duration,
    /// Time limit of one webhook POST.
    pub webhook_timeout: Duration,
    /// Attempts per delivery (connection errors, 5xx and 429 are retried).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubles after each.
    pub first_backoff: Duration,
}

impl Default for AlertOptions {
    fn default() -> Self {
        AlertOptions {
            evaluate_interval: Duration::from_secs(15),
            webhook_timeout: Duration::from_secs(10),
            max_attempts: 5,
            first_backoff: Duration::from_secs(1),
        }
    }
}

/// An alert changing state: the webhook body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    pub event_type: String,
    pub alert: AlertKind,
    /// `firing` or `resolved`.
    pub state: &'static str,
    /// The value evaluated (mean score, rate, lag in ms, or drop / spike in percent).
    pub value: f64,
    pub threshold: f64,
    /// The window evaluated, as set (e.g. `5m`).
    pub window: String,
    /// When it was evaluated, RFC 3339.
    pub at: String,
}

/// The current state of one alert.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct AlertState {
    pub event_type: String,
    pub alert: String,
    /// `ok` or `firing`.
    pub state: String,
    /// Since when, ms since the epoch.
    pub since_ms: i64,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub evaluated_at_ms: i64,
}

/// The alert evaluator and its webhook deliveries.
#[derive(Debug, Clone)]
pub struct Alerts {
    db: Database,
    options: AlertOptions,
    client: reqwest::Client,
    deliveries: Arc<Mutex<JoinSet<()>>>,
}

impl Alerts {
    pub fn new(db: Database, options: AlertOptions) -> Self {
        Alerts {
            db,
            options,
            client: reqwest::Client::new(),
            deliveries: Arc::new(Mutex::new(JoinSet::new())),
        }
    }

    /// Evaluates every event type's alerts as of `now_ms` (the window ends at the start of
    /// `now_ms`'s minute) and delivers each transition this instance claimed; webhook
    /// deliveries run in their own tasks (see [`Alerts::deliveries_done`]).
    pub async fn evaluate_once(&self, now_ms: i64) -> Result<Vec<Transition>, QualityError> {
        self.reap();
        let mut transitions = Vec::new();
        let known: evaluate::Known = self
            .states()
            .await?
            .into_iter()
            .map(|s| ((s.event_type, s.alert), s.state))
            .collect();
        for (event_type, settings) in settings::all(&self.db).await? {
            let thresholds = match settings.check() {
                Ok(thresholds) => thresholds,
                Err(error) => {
                    tracing::warn!(%event_type, %error, "stored alert settings are invalid; skipped");
                    continue;
                }
            };
            let claimed = evaluate::evaluate_type(
                &self.db,
                &event_type,
                &settings,
                &thresholds,
                &known,
                now_ms,
            )
            .await?;
            for transition in claimed {
                self.deliver(&transition, thresholds.webhook_url.as_deref());
                transitions.push(transition);
            }
        }
        for state in self.states().await? {
            crate::metrics::alert_firing(&state.event_type, &state.alert, state.state == "firing");
        }
        Ok(transitions)
    }

    fn deliver(&self, transition: &Transition, webhook_url: Option<&str>) {
        let firing = transition.state == "firing";
        if firing {
            tracing::warn!(
                event_type = %transition.event_type, alert = transition.alert.as_str(),
                value = transition.value, threshold = transition.threshold,
                window = %transition.window, "quality alert firing"
            );
        } else {
            tracing::info!(
                event_type = %transition.event_type, alert = transition.alert.as_str(),
                value = transition.value, threshold = transition.threshold,
                window = %transition.window, "quality alert resolved"
            );
        }
        crate::metrics::alert_transition(
            &transition.event_type,
            transition.alert.as_str(),
            transition.state,
        );
        let Some(url) = webhook_url else {
            return;
        };
        let job = deliver::post(
            self.client.clone(),
            url.to_owned(),
            transition.clone(),
            self.options.clone(),
        );
        self.lock_deliveries().spawn(job);
    }

    fn lock_deliveries(&self) -> std::sync::MutexGuard<'_, JoinSet<()>> {
        self.deliveries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Drops the finished deliveries.
    fn reap(&self) {
        let mut deliveries = self.lock_deliveries();
        while deliveries.try_join_next().is_some() {}
    }

    /// Waits until every webhook delivery started so far has succeeded or given up.
    pub async fn deliveries_done(&self) {
        loop {
            let mut running = std::mem::take(&mut *self.lock_deliveries());
            if running.is_empty() {
                return;
            }
            while running.join_next().await.is_some() {}
        }
    }

    /// The settings of `event_type`, if any.
    pub async fn settings(&self, event_type: &str) -> Result<Option<AlertSettings>, QualityError> {
        settings::fetch(&self.db, event_type).await
    }

    /// Validates and stores the settings of `event_type` (authorization is the caller's).
    pub async fn set_settings(
        &self,
        event_type: &str,
        new: &AlertSettings,
        who: &str,
        now_ms: i64,
    ) -> Result<(), QualityError> {
        settings::store(&self.db, event_type, new, who, now_ms).await
    }

    /// The state of every alert evaluated so far.
    pub async fn states(&self) -> Result<Vec<AlertState>, QualityError> {
        evaluate::states(&self.db).await
    }
}

/// The background evaluation loop.
#[derive(Debug)]
pub struct AlertTask {
    stop: watch::Sender<bool>,
    evaluator: JoinHandle<()>,
    alerts: Alerts,
}

/// How long shutdown waits for webhook deliveries still retrying.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Evaluates every event type's alerts every `evaluate_interval`.
pub fn spawn_alerts(db: Database, options: AlertOptions) -> AlertTask {
    let alerts = Alerts::new(db, options);
    let (stop, mut stopped) = watch::channel(false);
    let looping = alerts.clone();
    let evaluator = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(looping.options.evaluate_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stopped.changed() => return,
                _ = ticks.tick() => {}
            }
            if let Err(error) = looping.evaluate_once(crate::history::now_ms()).await {
                tracing::warn!(%error, "quality alert evaluation failed; retried next interval");
            }
        }
    });
    AlertTask {
        stop,
        evaluator,
        alerts,
    }
}

impl AlertTask {
    /// Stops evaluating and waits (at most 10 s) for webhook deliveries under way.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.evaluator.await;
        if tokio::time::timeout(SHUTDOWN_GRACE, self.alerts.deliveries_done())
            .await
            .is_err()
        {
            tracing::warn!("quality alert webhooks still retrying at shutdown were abandoned");
        }
    }
}
