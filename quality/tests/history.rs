//! The quality history on real SQL: concurrent flushes from two aggregators, failed flushes,
//! rollup and pruning, reports, and the HTTP routes (in process, `oneshot`). One suite,
//! instantiated on SQLite and on PostgreSQL.

mod history_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use axum::middleware;
use serde_json::{Value, json};
use tower::ServiceExt;
use tributary_core::{AuthMode, Database};

use history_support::Fresh;
use tributary_quality::{
    Aggregator, AlertOptions, By, History, HistoryOptions, HistoryService, Observation, Outcome,
    Resolution, history_routes, run_maintenance, spawn_alerts, spawn_history,
};
use tributary_registry::{api_routes, identify};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn fields() -> Arc<[String]> {
    Arc::from(vec![String::from("/coupon"), String::from("/note")])
}

/// One observation, described by plain values.
#[derive(Clone)]
struct Obs {
    event_type: &'static str,
    producer: &'static str,
    version: i32,
    at_ms: i64,
    outcome: Outcome,
    score: u8,
    lag_ms: Option<i64>,
    present: [bool; 2],
    failed: Vec<&'static str>,
}

impl Obs {
    fn new(producer: &'static str, at_ms: i64) -> Obs {
        Obs {
            event_type: "orders.placed",
            producer,
            version: 1,
            at_ms,
            outcome: Outcome::Accepted,
            score: 100,
            lag_ms: Some(5),
            present: [true, false],
            failed: Vec::new(),
        }
    }

    fn record(&self, aggregator: &Aggregator, fields: &Arc<[String]>) {
        aggregator.record(&Observation {
            event_type: self.event_type,
            producer: self.producer,
            schema_version: self.version,
            received_at_ms: self.at_ms,
            outcome: self.outcome,
            score: self.score,
            lag_ms: self.lag_ms,
            fields,
            present: &self.present,
            failed_rules: &self.failed,
        });
    }
}

/// SUM(value) per (metric, label) of a table, over buckets before `before_ms`.
async fn sums(
    db: &Database,
    table: &str,
    before_ms: Option<i64>,
) -> BTreeMap<(String, String), i64> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(&format!(
        "SELECT metric, label, CAST(SUM(value) AS BIGINT) FROM {table} \
         WHERE bucket_ms < $1 GROUP BY metric, label"
    ))
    .bind(before_ms.unwrap_or(i64::MAX))
    .fetch_all(db.pool())
    .await
    .unwrap();
    rows.into_iter().map(|(m, l, v)| ((m, l), v)).collect()
}

/// One stored value of `orders.placed`, version 1.
async fn value(
    db: &Database,
    table: &str,
    producer: &str,
    bucket_ms: i64,
    metric: &str,
    label: &str,
) -> Option<i64> {
    sqlx::query_scalar(&format!(
        "SELECT value FROM {table} WHERE event_type = 'orders.placed' AND producer = $1 \
         AND schema_version = 1 AND bucket_ms = $2 AND metric = $3 AND label = $4"
    ))
    .bind(producer)
    .bind(bucket_ms)
    .bind(metric)
    .bind(label)
    .fetch_optional(db.pool())
    .await
    .unwrap()
}

/// The `outcome/accepted` count of one key of `orders.placed`, version 1.
async fn accepted(db: &Database, table: &str, producer: &str, bucket_ms: i64) -> Option<i64> {
    value(db, table, producer, bucket_ms, "outcome", "accepted").await
}

/// Two aggregators (two gateway instances, two pools) count overlapping keys and flush at
/// the same moment, many times: the stored counts are exactly the sum of both.
async fn concurrent_flushes_add_up(fresh: Fresh) {
    let other_db = fresh.other_instance().await;
    let fields = fields();
    let a = Aggregator::new();
    let b = Aggregator::new();
    let base = 1_700_000_000_000 / MINUTE * MINUTE;
    let producers = ["checkout", "mobile", "web"];
    let mut expected_accepted = 0;
    let mut expected_rejected = 0;
    let mut expected_score_sum = 0;
    let rounds = 25;
    for round in 0..rounds {
        for i in 0..40_i64 {
            let mut obs = Obs::new(producers[(i % 3) as usize], base + (i % 4) * MINUTE);
            obs.score = (i % 11 * 10) as u8;
            if i % 5 == 0 {
                obs.failed = vec!["amount_positive"];
            }
            if i % 7 == 0 {
                obs.outcome = Outcome::Rejected;
                expected_rejected += 2;
            } else {
                expected_accepted += 2;
            }
            expected_score_sum += 2 * i64::from(obs.score);
            obs.record(&a, &fields);
            obs.record(&b, &fields);
        }
        let (ra, rb) = tokio::join!(a.flush(&fresh.db), b.flush(&other_db));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(ra.keys, 12, "round {round}");
        assert_eq!(rb.keys, 12, "round {round}");
        assert_eq!(a.pending_keys(), 0);
    }
    let totals = sums(&fresh.db, "quality_minutes", None).await;
    let get = |m: &str, l: &str| {
        totals
            .get(&(m.to_owned(), l.to_owned()))
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(get("outcome", "accepted"), expected_accepted);
    assert_eq!(get("outcome", "rejected"), expected_rejected);
    assert_eq!(get("score_sum", ""), expected_score_sum);
    let scored: i64 = (0..10).map(|i| get("score_bucket", &i.to_string())).sum();
    assert_eq!(scored, expected_accepted + expected_rejected);
    // Every fifth event failed the rule; every event was counted for completeness, and
    // /coupon was always present, /note never (its row says it was tracked).
    assert_eq!(get("rule_failed", "amount_positive"), 2 * rounds * 8);
    assert_eq!(get("completeness_events", ""), 2 * rounds * 40);
    assert_eq!(get("field_present", "/coupon"), 2 * rounds * 40);
    assert_eq!(get("field_present", "/note"), 0);
    assert!(totals.contains_key(&(String::from("field_present"), String::from("/note"))));
    assert_eq!(get("lag_bucket", "0"), 0);
    assert_eq!(get("lag_bucket", "1"), 2 * rounds * 40);
    // One key exactly: checkout in minute 0 got i = 0 (rejected), 12, 24, 36 each round.
    assert_eq!(
        accepted(&fresh.db, "quality_minutes", "checkout", base).await,
        Some(2 * rounds * 3)
    );
    assert_eq!(
        value(
            &fresh.db,
            "quality_minutes",
            "checkout",
            base,
            "outcome",
            "rejected"
        )
        .await,
        Some(2 * rounds)
    );
    other_db.close().await;
}

/// A flush that cannot write keeps its counts; the next one writes them once.
async fn failed_flush_keeps_counts(fresh: Fresh) {
    let closed = fresh.other_instance().await;
    closed.close().await;
    let fields = fields();
    let aggregator = Aggregator::new();
    let at = 1_700_000_000_000 / MINUTE * MINUTE;
    for _ in 0..3 {
        Obs::new("checkout", at).record(&aggregator, &fields);
    }
    assert!(aggregator.flush(&closed).await.is_err());
    assert_eq!(aggregator.pending_keys(), 1);
    // Counted meanwhile: merged with what came back.
    Obs::new("checkout", at).record(&aggregator, &fields);
    assert!(aggregator.flush(&closed).await.is_err());
    let report = aggregator.flush(&fresh.db).await.unwrap();
    assert_eq!(report.keys, 1);
    assert_eq!(aggregator.pending_keys(), 0);
    assert_eq!(
        accepted(&fresh.db, "quality_minutes", "checkout", at).await,
        Some(4)
    );
    assert_eq!(
        value(
            &fresh.db,
            "quality_minutes",
            "checkout",
            at,
            "field_present",
            "/coupon"
        )
        .await,
        Some(4)
    );
    // Nothing left: a second flush writes nothing.
    assert_eq!(aggregator.flush(&fresh.db).await.unwrap().keys, 0);
}

/// Minutes past the cutoff become hours with the same totals, exactly once even with two
/// instances running maintenance at once; late minutes follow on the next pass; hours past
/// retention are deleted.
async fn rollup_and_pruning(fresh: Fresh) {
    let other_db = fresh.other_instance().await;
    let fields = fields();
    let aggregator = Aggregator::new();
    let now = 1_700_000_000_000 / HOUR * HOUR + 30 * MINUTE;
    let options = HistoryOptions::default();
    let cutoff = now - 48 * HOUR;
    let first_minute = cutoff - 190 * MINUTE;
    // Old: a few hours' worth of minutes before the cutoff, the last ones after it.
    for m in 0..200 {
        let mut obs = Obs::new(
            if m % 2 == 0 { "web" } else { "mobile" },
            first_minute + m * MINUTE,
        );
        obs.score = (m % 100) as u8;
        obs.record(&aggregator, &fields);
    }
    // Recent.
    for m in 0..30 {
        Obs::new("web", now - m * MINUTE).record(&aggregator, &fields);
    }
    aggregator.flush(&fresh.db).await.unwrap();
    let old_before = sums(&fresh.db, "quality_minutes", Some(cutoff)).await;
    let all_before = sums(&fresh.db, "quality_minutes", None).await;

    let (a, b) = tokio::join!(
        run_maintenance(&fresh.db, &options, now),
        run_maintenance(&other_db, &options, now)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.hour_rows_pruned + b.hour_rows_pruned, 0);
    assert!(a.minute_rows_rolled_up + b.minute_rows_rolled_up > 0);
    assert!(
        sums(&fresh.db, "quality_minutes", Some(cutoff))
            .await
            .is_empty()
    );
    let hours = sums(&fresh.db, "quality_hours", None).await;
    assert_eq!(hours, old_before, "rolled up once, totals equal");
    // Minutes after the cutoff stayed.
    let mut left = all_before.clone();
    for (key, n) in &old_before {
        *left.get_mut(key).unwrap() -= n;
    }
    left.retain(|(metric, _), n| *n != 0 || metric == "field_present");
    let mut after = sums(&fresh.db, "quality_minutes", None).await;
    after.retain(|(metric, _), n| *n != 0 || metric == "field_present");
    assert_eq!(after, left);
    // Each hour holds its own minutes.
    let first_hour = first_minute.div_euclid(HOUR) * HOUR;
    let web_first_hour = (0..200)
        .filter(|m| m % 2 == 0)
        .map(|m| first_minute + m * MINUTE)
        .filter(|at| *at < cutoff && at.div_euclid(HOUR) * HOUR == first_hour)
        .count() as i64;
    assert!(web_first_hour > 0);
    assert_eq!(
        accepted(&fresh.db, "quality_hours", "web", first_hour).await,
        Some(web_first_hour)
    );

    // A late flush for an old minute: rolled up on the next pass.
    Obs::new("web", first_hour + 5 * MINUTE).record(&aggregator, &fields);
    aggregator.flush(&fresh.db).await.unwrap();
    run_maintenance(&fresh.db, &options, now).await.unwrap();
    assert_eq!(
        accepted(&fresh.db, "quality_hours", "web", first_hour).await,
        Some(web_first_hour + 1)
    );
    assert!(
        sums(&fresh.db, "quality_minutes", Some(cutoff))
            .await
            .is_empty()
    );

    // Pruning: a pass 90 days later deletes every hour older than the retention.
    let later = first_hour + 2 * HOUR + 90 * 86_400_000;
    let pruned = run_maintenance(&fresh.db, &options, later).await.unwrap();
    assert!(pruned.hour_rows_pruned > 0);
    let remaining: Vec<i64> = sqlx::query_scalar("SELECT DISTINCT bucket_ms FROM quality_hours")
        .fetch_all(fresh.db.pool())
        .await
        .unwrap();
    assert!(!remaining.is_empty());
    assert!(
        remaining.iter().all(|at| *at >= later - 90 * 86_400_000),
        "{remaining:?}"
    );
    other_db.close().await;
}

/// Several maintenance passes at once, over two pools, round after round: every minute row
/// is moved once (the hour totals are always the minute totals that were there).
async fn concurrent_rollups_move_once(fresh: Fresh) {
    let other_db = fresh.other_instance().await;
    let fields = fields();
    let aggregator = Aggregator::new();
    let now = 1_700_000_000_000 / HOUR * HOUR;
    let options = HistoryOptions::default();
    let cutoff = now - 48 * HOUR;
    let mut expected: BTreeMap<(String, String), i64> = BTreeMap::new();
    for round in 0..8 {
        let start = cutoff - (round + 1) * 3 * HOUR;
        for m in 0..150 {
            let mut obs = Obs::new(
                if m % 3 == 0 { "web" } else { "mobile" },
                start + m * MINUTE,
            );
            obs.score = (m % 100) as u8;
            obs.record(&aggregator, &fields);
        }
        aggregator.flush(&fresh.db).await.unwrap();
        for (key, n) in sums(&fresh.db, "quality_minutes", Some(cutoff)).await {
            *expected.entry(key).or_insert(0) += n;
        }
        let (a, b, c, d) = tokio::join!(
            run_maintenance(&fresh.db, &options, now),
            run_maintenance(&other_db, &options, now),
            run_maintenance(&fresh.db, &options, now),
            run_maintenance(&other_db, &options, now),
        );
        let moved: u64 = [a, b, c, d]
            .into_iter()
            .map(|r| r.unwrap().minute_rows_rolled_up)
            .sum();
        assert!(moved > 0, "round {round}");
        assert_eq!(
            sums(&fresh.db, "quality_hours", None).await,
            expected,
            "round {round}"
        );
    }
    other_db.close().await;
}

/// The background task flushes what is left when shut down; the alert loop stops.
async fn background_tasks_flush_on_shutdown(fresh: Fresh) {
    let fields = fields();
    let aggregator = Aggregator::new();
    let hour = Duration::from_secs(3600);
    let task = spawn_history(
        fresh.db.clone(),
        aggregator.clone(),
        HistoryOptions {
            flush_interval: hour,
            maintenance_interval: hour,
            ..HistoryOptions::default()
        },
    );
    let alerts = spawn_alerts(fresh.db.clone(), AlertOptions::default());
    let at = 1_700_000_000_000 / MINUTE * MINUTE;
    for _ in 0..3 {
        Obs::new("web", at).record(&aggregator, &fields);
    }
    task.shutdown().await;
    alerts.shutdown().await;
    assert_eq!(aggregator.pending_keys(), 0);
    assert_eq!(
        accepted(&fresh.db, "quality_minutes", "web", at).await,
        Some(3)
    );
}

/// Percentiles come from the lag histogram; by=producer / version / field split.
async fn reports_and_splits(fresh: Fresh) {
    let fields = fields();
    let aggregator = Aggregator::new();
    let now = now_ms();
    let at = (now - 10 * MINUTE) / MINUTE * MINUTE;
    // 100 events: 98 fresh (20 ms: the ≤ 25 ms bucket), 2 late (40 s: the ≤ 60 s bucket).
    for i in 0..100 {
        let mut obs = Obs::new(if i < 60 { "web" } else { "mobile" }, at + i);
        obs.version = if i % 2 == 0 { 1 } else { 2 };
        obs.lag_ms = Some(if i < 98 { 20 } else { 40_000 });
        obs.score = if i < 50 { 90 } else { 70 };
        obs.present = [i < 25, true];
        if i >= 95 {
            obs.outcome = Outcome::Rejected;
            obs.failed = vec!["amount_positive"];
        }
        obs.record(&aggregator, &fields);
    }
    aggregator.flush(&fresh.db).await.unwrap();
    let history = History::new(fresh.db.clone());
    let from = now - 30 * MINUTE;
    let report = history
        .report("orders.placed", from, now, None)
        .await
        .unwrap();
    assert_eq!(report.resolution, Resolution::Minute);
    assert_eq!(report.totals.volume, 100);
    assert_eq!(report.totals.rejected, 5);
    assert_eq!(report.totals.dead_letter_rate, Some(0.05));
    assert_eq!(report.totals.mean_score, Some(80.0));
    assert_eq!(report.totals.score_histogram[9], 50);
    assert_eq!(report.totals.score_histogram[7], 50);
    assert_eq!(report.totals.lag_p50_ms, Some(25));
    assert_eq!(report.totals.lag_p99_ms, Some(60_000));
    assert_eq!(report.totals.rule_failures["amount_positive"], 5);
    assert_eq!(report.series.len(), 1);
    assert_eq!(report.series[0].points.len(), 1);
    assert_eq!(report.series[0].points[0].at_ms, at);

    let by_producer = history
        .report("orders.placed", from, now, Some(By::Producer))
        .await
        .unwrap();
    let volumes: Vec<(Option<String>, u64)> = by_producer
        .series
        .iter()
        .map(|s| (s.producer.clone(), s.totals.volume))
        .collect();
    assert_eq!(
        volumes,
        vec![
            (Some(String::from("mobile")), 40),
            (Some(String::from("web")), 60)
        ]
    );
    assert_eq!(by_producer.series[0].totals.rejected, 5);
    assert_eq!(by_producer.series[0].totals.mean_score, Some(70.0));
    assert_eq!(
        by_producer.series[1].totals.mean_score,
        Some((50.0 * 90.0 + 10.0 * 70.0) / 60.0)
    );

    let by_version = history
        .report("orders.placed", from, now, Some(By::Version))
        .await
        .unwrap();
    let versions: Vec<(Option<i64>, u64)> = by_version
        .series
        .iter()
        .map(|s| (s.schema_version, s.totals.volume))
        .collect();
    assert_eq!(versions, vec![(Some(1), 50), (Some(2), 50)]);

    let by_field = history
        .report("orders.placed", from, now, Some(By::Field))
        .await
        .unwrap();
    let completeness: Vec<(String, u64, u64)> = by_field
        .fields
        .iter()
        .map(|f| (f.field.clone(), f.present, f.events))
        .collect();
    assert_eq!(
        completeness,
        vec![
            (String::from("/coupon"), 25, 100),
            (String::from("/note"), 100, 100)
        ]
    );
    assert_eq!(by_field.fields[0].completeness, Some(0.25));

    // Outside the range: nothing.
    let empty = history
        .report("orders.placed", now - 5 * MINUTE, now, None)
        .await
        .unwrap();
    assert_eq!(empty.totals.volume, 0);
    assert_eq!(empty.totals.mean_score, None);
    // Reaching back past the rollup age: hours.
    let long = history
        .report("orders.placed", now - 72 * HOUR, now, None)
        .await
        .unwrap();
    assert_eq!(long.resolution, Resolution::Hour);
    assert_eq!(long.totals.volume, 100);
    assert_eq!(long.series[0].points[0].at_ms, at / HOUR * HOUR);

    // The overview ranks the worst mean score first.
    let mut bad = Obs::new("web", at);
    bad.event_type = "orders.shipped";
    bad.score = 10;
    bad.record(&aggregator, &fields);
    aggregator.flush(&fresh.db).await.unwrap();
    let overview = history.overview(from, now, 10).await.unwrap();
    let ranked: Vec<&str> = overview
        .event_types
        .iter()
        .map(|t| t.event_type.as_str())
        .collect();
    assert_eq!(ranked, vec!["orders.shipped", "orders.placed"]);
    assert_eq!(overview.event_types[1].volume, 100);
    assert_eq!(overview.event_types[1].dead_letter_rate, Some(0.05));
    let one = history.overview(from, now, 1).await.unwrap();
    assert_eq!(one.event_types.len(), 1);
}

/// The volume baseline of a point is the mean of the 60 buckets before it.
async fn volume_against_baseline(fresh: Fresh) {
    let fields = fields();
    let aggregator = Aggregator::new();
    let now = now_ms();
    let last = (now - 2 * MINUTE) / MINUTE * MINUTE;
    // 60 minutes of 2 events, then one minute of 30.
    for m in 1..=60 {
        for _ in 0..2 {
            Obs::new("web", last - m * MINUTE).record(&aggregator, &fields);
        }
    }
    for _ in 0..30 {
        Obs::new("web", last).record(&aggregator, &fields);
    }
    aggregator.flush(&fresh.db).await.unwrap();
    let report = History::new(fresh.db.clone())
        .report("orders.placed", last, now, None)
        .await
        .unwrap();
    assert_eq!(report.totals.volume, 30);
    let point = &report.series[0].points[0];
    assert_eq!(point.summary.volume, 30);
    assert_eq!(point.baseline_volume, Some(2.0));
    assert_eq!(point.volume_vs_baseline, Some(15.0));
}

// ---- HTTP ----

struct Api {
    app: Router,
    _log_dir: tempfile::TempDir,
}

async fn api(fresh: &Fresh) -> Api {
    let (event_types, dir) = history_support::event_types_with(&fresh.db, &[]).await;
    let service = HistoryService::new(
        fresh.db.clone(),
        event_types.clone(),
        &HistoryOptions::default(),
    );
    // Merged with the event-type routes, as the binary does: the paths must not conflict.
    let (router, doc) = api_routes(event_types)
        .merge(history_routes(service))
        .split_for_parts();
    for path in [
        "/v1/event-types/{name}/quality",
        "/v1/event-types/{name}/quality/alerts",
        "/v1/quality",
        "/v1/quality/alerts",
    ] {
        assert!(
            doc.paths.paths.contains_key(path),
            "{path} is not documented"
        );
    }
    let app = router.layer(middleware::from_fn_with_state(AuthMode::Off, identify));
    Api { app, _log_dir: dir }
}

impl Api {
    /// Sends a request; every 4xx/5xx must be problem+json.
    async fn send(
        &self,
        method: Method,
        uri: &str,
        principal: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(principal) = principal {
            request = request.header("Tributary-Principal", principal);
        }
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let response = self
            .app
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let problem = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v == "application/problem+json");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status >= 400 {
            assert!(problem, "{status} {value}");
        }
        (status, value)
    }

    async fn get(&self, uri: &str) -> (u16, Value) {
        self.send(Method::GET, uri, None, None).await
    }
}

async fn http_reports_and_refusals(fresh: Fresh) {
    let api = api(&fresh).await;
    let fields = fields();
    let aggregator = Aggregator::new();
    let at = (now_ms() - 5 * MINUTE) / MINUTE * MINUTE;
    for i in 0..4 {
        Obs::new(if i % 2 == 0 { "web" } else { "mobile" }, at).record(&aggregator, &fields);
    }
    aggregator.flush(&fresh.db).await.unwrap();

    let (status, body) = api.get("/v1/event-types/orders.placed/quality").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totals"]["volume"], 4);
    assert_eq!(body["resolution"], "minute");
    let (status, body) = api
        .get("/v1/event-types/orders.placed/quality?from=-30m&to=now&by=producer")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["series"].as_array().unwrap().len(), 2);
    assert_eq!(body["series"][0]["producer"], "mobile");
    let (status, body) = api
        .get("/v1/event-types/orders.placed/quality?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z&by=field")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["resolution"], "hour");
    assert_eq!(body["totals"]["volume"], 0);

    for bad in [
        "?from=now&to=-1h",
        "?from=-1h&to=-1h",
        "?from=-401d",
        "?from=2020-01-01T00:00:00Z&to=2021-03-01T00:00:00Z",
        "?by=country",
        "?from=yesterday",
        "?to=-banana",
    ] {
        let (status, body) = api
            .get(&format!("/v1/event-types/orders.placed/quality{bad}"))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["code"], "bad_request", "{bad}: {body}");
    }
    let (status, body) = api.get("/v1/event-types/orders.missing/quality").await;
    assert_eq!(status, 404, "{body}");

    let (status, body) = api.get("/v1/quality?from=-1h").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["event_types"][0]["event_type"], "orders.placed");
    assert_eq!(body["event_types"][0]["volume"], 4);
    for bad in ["?limit=0", "?limit=1001", "?limit=x", "?from=-2h&to=-3h"] {
        let (status, body) = api.get(&format!("/v1/quality{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

async fn http_alert_settings(fresh: Fresh) {
    let api = api(&fresh).await;
    let uri = "/v1/event-types/orders.placed/quality/alerts";
    let (status, body) = api.get(uri).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["settings"], Value::Null);

    let settings = json!({
        "webhook_url": "http://127.0.0.1:9/hook", "window": "5m", "min_score": 80.0,
        "max_dead_letter_rate": 0.05, "max_freshness_lag_p99": "2m", "volume_drop_pct": 50.0,
        "volume_spike_pct": 300.0, "baseline": "1h", "min_events": 10
    });
    for stranger in ["team:payments", "producer:checkout"] {
        let (status, body) = api
            .send(Method::PUT, uri, Some(stranger), Some(settings.clone()))
            .await;
        assert_eq!(status, 403, "{stranger}: {body}");
    }
    let (status, body) = api
        .send(
            Method::PUT,
            uri,
            Some("team:orders"),
            Some(settings.clone()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["settings"], settings);
    let (_, body) = api.get(uri).await;
    assert_eq!(body["settings"], settings);

    for (field, bad) in [
        (
            "webhook_url",
            json!({ "webhook_url": "ftp://example.com/x" }),
        ),
        ("webhook_url", json!({ "webhook_url": "not a url" })),
        ("window", json!({ "window": "30s" })),
        ("window", json!({ "window": "soon" })),
        ("baseline", json!({ "window": "2h", "baseline": "1h" })),
        ("min_score", json!({ "min_score": 101 })),
        (
            "max_dead_letter_rate",
            json!({ "max_dead_letter_rate": 1.5 }),
        ),
        (
            "max_freshness_lag_p99",
            json!({ "max_freshness_lag_p99": "-2m" }),
        ),
        ("volume_drop_pct", json!({ "volume_drop_pct": 0 })),
        ("min_events", json!({ "min_events": 0 })),
    ] {
        let (status, body) = api
            .send(Method::PUT, uri, Some("admin"), Some(bad.clone()))
            .await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(body["field"], field, "{bad}: {body}");
    }
    // Unknown members are refused by the body extractor.
    let (status, body) = api
        .send(
            Method::PUT,
            uri,
            Some("admin"),
            Some(json!({ "lower_is_better": true })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = api
        .send(
            Method::PUT,
            "/v1/event-types/orders.missing/quality/alerts",
            Some("admin"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = api.get("/v1/quality/alerts").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["alerts"], json!([]));
}

/// Producers seen per type: their schema versions and the end of their last bucket, from
/// minutes and from hours after a rollup.
async fn producers_seen(fresh: Fresh) {
    let fields = fields();
    let aggregator = Aggregator::new();
    let now = now_ms();
    let minute = (now - 5 * MINUTE) / MINUTE * MINUTE;
    let old_hour = (now - 72 * HOUR) / HOUR * HOUR;
    let mut web = Obs::new("web", minute + 1);
    web.record(&aggregator, &fields);
    web.version = 2;
    web.at_ms = minute - 2 * MINUTE;
    web.record(&aggregator, &fields);
    Obs::new("batch", old_hour + 5).record(&aggregator, &fields);
    let mut other = Obs::new("web", minute);
    other.event_type = "orders.shipped";
    other.record(&aggregator, &fields);
    aggregator.flush(&fresh.db).await.unwrap();
    // The 72-hour-old minute becomes an hour row.
    run_maintenance(&fresh.db, &HistoryOptions::default(), now)
        .await
        .unwrap();

    let history = History::new(fresh.db.clone());
    let seen = history
        .producers(Some("orders.placed"), now - 7 * 24 * HOUR)
        .await
        .unwrap();
    let summary: Vec<(&str, Vec<i32>, i64)> = seen
        .iter()
        .map(|p| {
            (
                p.producer.as_str(),
                p.schema_versions.clone(),
                p.last_seen_ms,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("web", vec![1, 2], minute + MINUTE),
            ("batch", vec![1], old_hour + HOUR)
        ]
    );
    // A later start leaves the old producer out; no filter lists every type.
    let recent = history.producers(None, now - HOUR).await.unwrap();
    let names: Vec<(&str, &str)> = recent
        .iter()
        .map(|p| (p.event_type.as_str(), p.producer.as_str()))
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names.contains(&("orders.placed", "web")) && names.contains(&("orders.shipped", "web"))
    );
}

history_support::suite!(
    producers_seen,
    concurrent_flushes_add_up,
    failed_flush_keeps_counts,
    rollup_and_pruning,
    concurrent_rollups_move_once,
    reports_and_splits,
    volume_against_baseline,
    background_tasks_flush_on_shutdown,
    http_reports_and_refusals,
    http_alert_settings,
);
