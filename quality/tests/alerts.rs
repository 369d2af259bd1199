//! Alerts against a webhook receiver started by the test: one delivery per transition
//! (after retries), fired and resolved once even with two evaluators, on SQLite and on
//! PostgreSQL. The clock is the `now_ms` handed to `evaluate_once`; nothing sleeps on it.

mod history_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;
use tributary_core::Database;

use history_support::Fresh;
use tributary_quality::{
    Aggregator, AlertKind, AlertOptions, AlertSettings, Alerts, Observation, Outcome,
};

const MINUTE: i64 = 60_000;
/// A minute boundary, far from the wall clock: only `now_ms` matters.
const T0: i64 = 1_700_000_040_000;
const TYPE: &str = "orders.placed";

/// A webhook receiver: answers each POST with the next status of `script` (200 once it
/// runs out) and keeps every body with the status it got.
#[derive(Clone, Default)]
struct Receiver {
    script: Arc<Mutex<Vec<u16>>>,
    seen: Arc<Mutex<Vec<(u16, Value)>>>,
}

impl Receiver {
    async fn start(script: Vec<u16>) -> (Receiver, String) {
        let receiver = Receiver {
            script: Arc::new(Mutex::new(script.into_iter().rev().collect())),
            seen: Arc::default(),
        };
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    fn seen(&self) -> Vec<(u16, Value)> {
        self.seen.lock().unwrap().clone()
    }

    /// The bodies answered 200.
    fn delivered(&self) -> Vec<Value> {
        self.seen()
            .into_iter()
            .filter(|(status, _)| *status == 200)
            .map(|(_, body)| body)
            .collect()
    }
}

async fn receive(State(receiver): State<Receiver>, body: String) -> StatusCode {
    let status = receiver.script.lock().unwrap().pop().unwrap_or(200);
    let body = serde_json::from_str(&body).unwrap_or(Value::String(body));
    receiver.seen.lock().unwrap().push((status, body));
    StatusCode::from_u16(status).unwrap()
}

fn options() -> AlertOptions {
    AlertOptions {
        evaluate_interval: Duration::from_secs(15),
        webhook_timeout: Duration::from_secs(5),
        max_attempts: 3,
        first_backoff: Duration::from_millis(10),
    }
}

fn settings(url: &str) -> AlertSettings {
    serde_json::from_value(serde_json::json!({
        "webhook_url": url, "window": "5m", "min_score": 80, "min_events": 5
    }))
    .unwrap()
}

/// `n` events scored `score` in each minute of `[from, from + minutes)`.
async fn observe(db: &Database, from: i64, minutes: i64, n: usize, score: u8) {
    let fields: Arc<[String]> = Arc::from(Vec::new());
    let aggregator = Aggregator::new();
    for m in 0..minutes {
        for i in 0..n {
            aggregator.record(&Observation {
                event_type: TYPE,
                producer: "web",
                schema_version: 1,
                received_at_ms: from + m * MINUTE + i as i64,
                outcome: Outcome::Accepted,
                score,
                lag_ms: Some(10),
                fields: &fields,
                present: &[],
                failed_rules: &[],
            });
        }
    }
    aggregator.flush(db).await.unwrap();
}

/// The score falls under `min_score`: one `firing` delivery after a 500; nothing more while
/// nothing changes; good events in a later window: one `resolved`.
async fn fires_and_resolves_once(fresh: Fresh) {
    let (receiver, url) = Receiver::start(vec![500]).await;
    let alerts = Alerts::new(fresh.db.clone(), options());
    alerts
        .set_settings(TYPE, &settings(&url), "team:orders", T0)
        .await
        .unwrap();
    // Nothing recorded yet: too few events, nothing evaluated.
    assert!(
        alerts
            .evaluate_once(T0 + 5 * MINUTE)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(alerts.states().await.unwrap().is_empty());

    observe(&fresh.db, T0, 4, 3, 50).await;
    let fired = alerts.evaluate_once(T0 + 5 * MINUTE).await.unwrap();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].alert, AlertKind::Score);
    assert_eq!(fired[0].state, "firing");
    alerts.deliveries_done().await;
    let seen = receiver.seen();
    assert_eq!(seen.len(), 2, "a 500, then the retry: {seen:?}");
    assert_eq!(seen[0].0, 500);
    let delivered = receiver.delivered();
    assert_eq!(delivered.len(), 1);
    let body = &delivered[0];
    assert_eq!(body["event_type"], TYPE);
    assert_eq!(body["alert"], "score");
    assert_eq!(body["state"], "firing");
    assert_eq!(body["value"], 50.0);
    assert_eq!(body["threshold"], 80.0);
    assert_eq!(body["window"], "5m");
    assert_eq!(body["at"], "2023-11-14T22:19:00.000Z");
    let states = alerts.states().await.unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].state, "firing");
    assert_eq!(states[0].since_ms, T0 + 5 * MINUTE);

    // Evaluated again with nothing changed: nothing delivered.
    assert!(
        alerts
            .evaluate_once(T0 + 5 * MINUTE + 30_000)
            .await
            .unwrap()
            .is_empty()
    );
    alerts.deliveries_done().await;
    assert_eq!(receiver.seen().len(), 2);

    // Good events in the next window: resolved, once.
    observe(&fresh.db, T0 + 5 * MINUTE, 5, 3, 95).await;
    let resolved = alerts.evaluate_once(T0 + 10 * MINUTE).await.unwrap();
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert_eq!(resolved[0].state, "resolved");
    alerts.deliveries_done().await;
    assert!(
        alerts
            .evaluate_once(T0 + 10 * MINUTE + 30_000)
            .await
            .unwrap()
            .is_empty()
    );
    alerts.deliveries_done().await;
    let delivered = receiver.delivered();
    let states: Vec<&Value> = delivered.iter().map(|b| &b["state"]).collect();
    assert_eq!(states, ["firing", "resolved"]);
    assert_eq!(delivered[1]["value"], 95.0);
    assert_eq!(receiver.seen().len(), 3);
    let states = alerts.states().await.unwrap();
    assert_eq!(states[0].state, "ok");
    assert_eq!(states[0].since_ms, T0 + 10 * MINUTE);
}

/// Two instances evaluating at once: the transition is claimed, and delivered, once.
async fn two_evaluators_deliver_once(fresh: Fresh) {
    let (receiver, url) = Receiver::start(Vec::new()).await;
    let other_db = fresh.other_instance().await;
    let a = Alerts::new(fresh.db.clone(), options());
    let b = Alerts::new(other_db.clone(), options());
    a.set_settings(TYPE, &settings(&url), "admin", T0)
        .await
        .unwrap();
    observe(&fresh.db, T0, 5, 2, 40).await;
    for round in 0..3 {
        let now = T0 + 5 * MINUTE + round * 1000;
        let (x, y) = tokio::join!(a.evaluate_once(now), b.evaluate_once(now));
        let claimed = x.unwrap().len() + y.unwrap().len();
        assert_eq!(claimed, usize::from(round == 0), "round {round}");
    }
    a.deliveries_done().await;
    b.deliveries_done().await;
    assert_eq!(receiver.delivered().len(), 1);
    other_db.close().await;
}

/// A receiver that always fails: `max_attempts` POSTs, then the delivery gives up (and the
/// transition stands). A 4xx is not retried.
async fn deliveries_give_up(fresh: Fresh) {
    let (receiver, url) = Receiver::start(vec![503, 503, 503, 503, 503]).await;
    let alerts = Alerts::new(fresh.db.clone(), options());
    alerts
        .set_settings(TYPE, &settings(&url), "admin", T0)
        .await
        .unwrap();
    observe(&fresh.db, T0, 5, 2, 40).await;
    assert_eq!(
        alerts.evaluate_once(T0 + 5 * MINUTE).await.unwrap().len(),
        1
    );
    alerts.deliveries_done().await;
    assert_eq!(receiver.seen().len(), 3);
    assert_eq!(alerts.states().await.unwrap()[0].state, "firing");

    let (refusing, url) = Receiver::start(vec![400]).await;
    alerts
        .set_settings(TYPE, &settings(&url), "admin", T0)
        .await
        .unwrap();
    observe(&fresh.db, T0 + 5 * MINUTE, 5, 2, 99).await;
    assert_eq!(
        alerts.evaluate_once(T0 + 10 * MINUTE).await.unwrap().len(),
        1
    );
    alerts.deliveries_done().await;
    assert_eq!(refusing.seen().len(), 1);
}

/// Volume against the baseline: a drop fires, a spike fires, each needs `min_events` in the
/// baseline.
async fn volume_drop_and_spike(fresh: Fresh) {
    let alerts = Alerts::new(fresh.db.clone(), options());
    let settings: AlertSettings = serde_json::from_value(serde_json::json!({
        "window": "5m", "baseline": "1h", "volume_drop_pct": 50, "volume_spike_pct": 300,
        "min_events": 20
    }))
    .unwrap();
    alerts
        .set_settings(TYPE, &settings, "admin", T0)
        .await
        .unwrap();
    // The baseline hour: 2 per minute, so 10 per 5-minute window.
    observe(&fresh.db, T0, 60, 2, 90).await;
    let window = T0 + 60 * MINUTE;
    // The window: 3 events in all, a 70 % drop.
    observe(&fresh.db, window, 3, 1, 90).await;
    let fired = alerts.evaluate_once(window + 5 * MINUTE).await.unwrap();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].alert, AlertKind::VolumeDrop);
    assert!((fired[0].value - 70.0).abs() < 1e-9, "{fired:?}");
    // The next window: 50 events, four times more than expected and some.
    observe(&fresh.db, window + 5 * MINUTE, 5, 10, 90).await;
    let next = alerts.evaluate_once(window + 10 * MINUTE).await.unwrap();
    let kinds: Vec<(AlertKind, &str)> = next.iter().map(|t| (t.alert, t.state)).collect();
    assert_eq!(
        kinds,
        [
            (AlertKind::VolumeDrop, "resolved"),
            (AlertKind::VolumeSpike, "firing")
        ]
    );
    // Far later, with an empty baseline: not evaluated, nothing changes.
    assert!(
        alerts
            .evaluate_once(window + 600 * MINUTE)
            .await
            .unwrap()
            .is_empty()
    );
}

history_support::suite!(
    fires_and_resolves_once,
    two_evaluators_deliver_once,
    deliveries_give_up,
    volume_drop_and_spike,
);
