//! Catalog samples on real SQL: the sink flushed by the background task, PII redacted before
//! storage and again at read time, the ring of five per version, dead-letter counts adding
//! up across flushes and instances, pruning, and the HTTP routes (in process, `oneshot`).
//! One suite, instantiated on SQLite and on PostgreSQL.

mod history_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::middleware;
use serde_json::{Value, json};
use tower::ServiceExt;
use tributary_core::{AuthMode, Principal};

use history_support::Fresh;
use tributary_quality::{
    HistoryOptions, HistoryService, MAX_SAMPLE_BYTES, SampleSink, Samples, history_routes,
    run_maintenance, spawn_samples,
};
use tributary_registry::{EventTypes, REDACTED, api_routes, identify};

const TYPE: &str = "orders.placed";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The event-type service, with `orders.placed` and `orders.gone` (owned by `orders`).
struct Catalog {
    event_types: EventTypes,
    _log_dir: tempfile::TempDir,
}

async fn catalog(fresh: &Fresh) -> Catalog {
    let (event_types, dir) = history_support::event_types_with(&fresh.db, &["orders.gone"]).await;
    Catalog {
        event_types,
        _log_dir: dir,
    }
}

impl Catalog {
    async fn mark(&self, pointers: &[&str]) {
        self.event_types
            .set_pii_marks(
                &Principal::local_admin(),
                TYPE,
                pointers.iter().map(|p| (*p).to_owned()).collect(),
            )
            .await
            .unwrap();
    }

    /// Flushes `sink` once, through the background task's shutdown.
    async fn flush(&self, fresh: &Fresh, sink: &SampleSink) {
        let task = spawn_samples(
            fresh.db.clone(),
            sink.clone(),
            self.event_types.clone(),
            Duration::from_secs(3600),
        );
        task.shutdown().await;
    }
}

fn order(n: i64) -> Value {
    json!({"order_id": format!("o-{n}"), "email": format!("buyer{n}@example.com"), "customer": {"name": "Ann"}})
}

async fn samples_are_redacted_and_kept_newest_first(fresh: Fresh) {
    let catalog = catalog(&fresh).await;
    catalog.mark(&["/email"]).await;
    let sink = SampleSink::new();
    let start = now_ms() / 1000 * 1000 - 60_000;
    // Seven seconds of version 1 (the ring keeps five), and one event of version 2.
    for n in 0..7 {
        sink.offer_accepted(TYPE, 1, "web", start + n * 1000, &order(n));
        // Same second: dropped.
        sink.offer_accepted(TYPE, 1, "web", start + n * 1000 + 10, &order(100));
    }
    sink.offer_accepted(TYPE, 2, "mobile", start + 3500, &order(50));
    // Deleted types and types that never existed are not stored.
    sink.offer_accepted("orders.unknown", 1, "web", start, &order(0));
    catalog.flush(&fresh, &sink).await;

    let samples = Samples::new(fresh.db.clone());
    let found = samples.recent(TYPE).await.unwrap();
    let seen: Vec<(i32, i64)> = found
        .iter()
        .map(|s| (s.schema_version, (s.received_at_ms - start) / 1000))
        .collect();
    assert_eq!(seen, [(1, 6), (1, 5), (1, 4), (2, 3), (1, 3), (1, 2)]);
    assert_eq!(found[3].producer, "mobile");
    assert_eq!(found[0].event["order_id"], "o-6");
    assert_eq!(found[0].event["email"], REDACTED);
    assert_eq!(found[0].event["customer"]["name"], "Ann");
    assert!(samples.recent("orders.unknown").await.unwrap().is_empty());

    // Nothing of the PII value reached the database.
    let stored: Vec<String> = sqlx::query_scalar("SELECT event_json FROM catalog_samples")
        .fetch_all(fresh.db.pool())
        .await
        .unwrap();
    assert_eq!(stored.len(), 6);
    assert!(
        stored.iter().all(|text| !text.contains("example.com")),
        "{stored:?}"
    );

    // A mark added after storage applies when reading.
    catalog.mark(&["/email", "/customer/name"]).await;
    let found = samples.recent(TYPE).await.unwrap();
    assert!(
        found
            .iter()
            .all(|s| s.event["customer"]["name"] == REDACTED)
    );

    // An older sample than all five of its ring is not stored; a newer one replaces the oldest.
    sink.offer_accepted(TYPE, 1, "web", start - 5000, &order(-5));
    sink.offer_accepted(TYPE, 1, "batch", start + 9000, &order(9));
    catalog.flush(&fresh, &sink).await;
    let found = samples.recent(TYPE).await.unwrap();
    let seen: Vec<i64> = found
        .iter()
        .filter(|s| s.schema_version == 1)
        .map(|s| (s.received_at_ms - start) / 1000)
        .collect();
    assert_eq!(seen, [9, 6, 5, 4, 3]);

    // An event over 64 KiB as JSON is stored as a string saying so.
    let big = json!({"order_id": "big", "blob": "x".repeat(MAX_SAMPLE_BYTES)});
    sink.offer_accepted(TYPE, 3, "web", start, &big);
    catalog.flush(&fresh, &sink).await;
    let found = samples.recent(TYPE).await.unwrap();
    let big = found.iter().find(|s| s.schema_version == 3).unwrap();
    let text = big.event.as_str().unwrap();
    // The type has marks, so only the note is shown.
    assert!(
        text.starts_with("[truncated: the event is ") && text.ends_with(']'),
        "{text}"
    );
}

async fn dead_letters_add_up_with_the_latest_example(fresh: Fresh) {
    let catalog = catalog(&fresh).await;
    catalog.mark(&["/email"]).await;
    let sink = SampleSink::new();
    let at = now_ms();
    let violations = [
        (
            "/amount".to_owned(),
            "amount is a required property".to_owned(),
        ),
        (
            "/email".to_owned(),
            "\"buyer1@example.com\" is too long".to_owned(),
        ),
        (
            "".to_owned(),
            "{\"email\":\"buyer1@example.com\"} is invalid".to_owned(),
        ),
    ];
    for _ in 0..3 {
        sink.offer_dead_letter(TYPE, "schema_violation", at, Some(&order(1)), &violations);
    }
    sink.offer_dead_letter(
        TYPE,
        "malformed",
        at,
        None,
        &[("".into(), "not valid json".into())],
    );
    catalog.flush(&fresh, &sink).await;

    // Another instance adds to the same rows.
    let other = SampleSink::new();
    other.offer_dead_letters(TYPE, "malformed", at + 5, 4, None, [("", "not valid json")]);
    let other_db = fresh.other_instance().await;
    let task = spawn_samples(
        other_db.clone(),
        other.clone(),
        catalog.event_types.clone(),
        Duration::from_secs(3600),
    );
    task.shutdown().await;

    let samples = Samples::new(fresh.db.clone());
    let reasons = samples.dead_letter_reasons(TYPE, 10).await.unwrap();
    let counts: Vec<(&str, i64)> = reasons
        .iter()
        .map(|r| (r.reason.as_str(), r.count))
        .collect();
    assert_eq!(counts, [("malformed", 5), ("schema_violation", 3)]);
    assert_eq!(reasons[0].example, None);
    assert_eq!(reasons[0].last_seen_ms, at + 5);
    assert_eq!(reasons[0].violations[0].message, "not valid json");
    let schema = &reasons[1];
    let example = schema.example.as_ref().unwrap();
    assert_eq!(example["email"], REDACTED);
    assert_eq!(example["order_id"], "o-1");
    let messages: Vec<&str> = schema
        .violations
        .iter()
        .map(|v| v.message.as_str())
        .collect();
    assert_eq!(
        messages,
        ["amount is a required property", REDACTED, REDACTED]
    );
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT violations_json FROM catalog_dead_letters")
            .fetch_all(fresh.db.pool())
            .await
            .unwrap();
    assert!(
        stored.iter().all(|text| !text.contains("example.com")),
        "{stored:?}"
    );
    let limited = samples.dead_letter_reasons(TYPE, 1).await.unwrap();
    assert_eq!(limited.len(), 1);

    // A count without a new example keeps the stored example.
    sink.offer_dead_letters(TYPE, "schema_violation", at + 2000, 2, Some(&order(2)), []);
    sink.offer_dead_letters(TYPE, "schema_violation", at + 2001, 1, None, []);
    catalog.flush(&fresh, &sink).await;
    let reasons = samples.dead_letter_reasons(TYPE, 10).await.unwrap();
    assert_eq!(
        (reasons[0].reason.as_str(), reasons[0].count),
        ("schema_violation", 6)
    );
    assert_eq!(reasons[0].last_seen_ms, at + 2001);
    assert_eq!(reasons[0].example.as_ref().unwrap()["order_id"], "o-2");
    other_db.close().await;
}

/// Rows of event types that are no longer live, and rows past retention, are pruned.
async fn maintenance_prunes_deleted_types_and_old_rows(fresh: Fresh) {
    let catalog = catalog(&fresh).await;
    let sink = SampleSink::new();
    let now = now_ms();
    sink.offer_accepted(TYPE, 1, "web", now, &order(1));
    sink.offer_accepted("orders.gone", 1, "web", now, &order(1));
    sink.offer_dead_letter("orders.gone", "malformed", now, None, &[]);
    sink.offer_dead_letter(TYPE, "malformed", now - 100 * 86_400_000, None, &[]);
    catalog.flush(&fresh, &sink).await;
    catalog
        .event_types
        .delete(&Principal::local_admin(), "orders.gone")
        .await
        .unwrap();
    let report = run_maintenance(&fresh.db, &HistoryOptions::default(), now)
        .await
        .unwrap();
    assert_eq!(report.catalog_rows_pruned, 3);
    let samples = Samples::new(fresh.db.clone());
    assert_eq!(samples.recent(TYPE).await.unwrap().len(), 1);
    assert!(samples.recent("orders.gone").await.unwrap().is_empty());
    assert!(
        samples
            .dead_letter_reasons(TYPE, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn get(app: &Router, uri: &str) -> (u16, Value) {
    let response = app
        .clone()
        .oneshot(Request::builder().uri(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn http_samples_and_reasons(fresh: Fresh) {
    let catalog = catalog(&fresh).await;
    catalog.mark(&["/email"]).await;
    let sink = SampleSink::new();
    let at = now_ms();
    sink.offer_accepted(TYPE, 1, "web", at, &order(1));
    sink.offer_dead_letter(TYPE, "schema_violation", at, Some(&order(2)), &[]);
    catalog.flush(&fresh, &sink).await;

    let service = HistoryService::new(
        fresh.db.clone(),
        catalog.event_types.clone(),
        &HistoryOptions::default(),
    );
    let (router, doc) = api_routes(catalog.event_types.clone())
        .merge(history_routes(service))
        .split_for_parts();
    for path in [
        "/v1/event-types/{name}/samples",
        "/v1/event-types/{name}/dead-letters/reasons",
        "/v1/event-types/{name}/pii",
    ] {
        assert!(
            doc.paths.paths.contains_key(path),
            "{path} is not documented"
        );
    }
    let app = router.layer(middleware::from_fn_with_state(AuthMode::Off, identify));

    let (status, body) = get(&app, &format!("/v1/event-types/{TYPE}/samples")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["samples"][0]["event"]["email"], REDACTED, "{body}");
    assert_eq!(body["samples"][0]["schema_version"], 1);
    assert_eq!(body["samples"][0]["producer"], "web");
    let (status, body) = get(
        &app,
        &format!("/v1/event-types/{TYPE}/dead-letters/reasons"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reasons"][0]["reason"], "schema_violation", "{body}");
    assert_eq!(body["reasons"][0]["count"], 1);
    assert_eq!(body["reasons"][0]["example"]["email"], REDACTED);
    assert_eq!(body["reasons"][0]["violations"], json!([]));

    for bad in ["?limit=0", "?limit=101", "?limit=x"] {
        let (status, body) = get(
            &app,
            &format!("/v1/event-types/{TYPE}/dead-letters/reasons{bad}"),
        )
        .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    for missing in ["samples", "dead-letters/reasons"] {
        let (status, body) = get(&app, &format!("/v1/event-types/orders.missing/{missing}")).await;
        assert_eq!(status, 404, "{missing}: {body}");
    }
}

history_support::suite!(
    samples_are_redacted_and_kept_newest_first,
    dead_letters_add_up_with_the_latest_example,
    maintenance_prunes_deleted_types_and_old_rows,
    http_samples_and_reasons,
);
