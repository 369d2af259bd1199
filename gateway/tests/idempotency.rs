//! Idempotent publishing: a producer-supplied event id or an `Idempotency-Key` is written once;
//! retries answer `duplicate` with the original position.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use common::{Harness, ORDER_SCHEMA, register, registry_in};
use serde_json::Value;
use tributary_eventlog::{
    AppendResult, EmbeddedLog, EmbeddedOptions, EventLog, GroupConsumer, LogError, Record,
    StoredRecord, TopicDescription, TopicSpec, Watermarks,
};
use tributary_gateway::{GatewayLimits, GatewayOptions};
use tributary_registry::SchemaType;

const TYPE: &str = "orders.order_placed";
const SUBJECT: &str = "orders.order_placed-value";
const EVENTS: &str = "/v1/events/orders.order_placed";
const ID: &str = "0190a5b4-7c1e-7000-8000-000000000001";

async fn orders() -> Harness {
    let h = Harness::embedded(GatewayOptions::default()).await;
    register(&h.registry, SUBJECT, SchemaType::Json, ORDER_SCHEMA).await;
    h
}

fn position(result: &Value) -> (u64, i64) {
    (
        result["partition"].as_u64().unwrap(),
        result["offset"].as_i64().unwrap(),
    )
}

#[tokio::test]
async fn the_same_event_id_twice_is_written_once() {
    let h = orders().await;
    let send = |body: &'static str, producer: &'static str| {
        let h = &h;
        async move {
            let headers = [("tributary-event-id", ID), ("tributary-producer", producer)];
            h.post(EVENTS, "application/json", &headers, body).await
        }
    };
    let first = send(r#"{"order_id":"o-1","amount":1}"#, "checkout").await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.body["results"][0]["status"], "accepted");

    // A retry (even with a different body) is a duplicate at the original position.
    let again = send(r#"{"order_id":"o-1","amount":1}"#, "checkout").await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.body["accepted"], 1);
    assert_eq!(again.body["duplicates"], 1);
    let result = &again.body["results"][0];
    assert_eq!(result["status"], "duplicate");
    assert_eq!(result["event_id"], ID);
    assert_eq!(position(result), position(&first.body["results"][0]));
    assert_eq!(h.read_all(TYPE).await.len(), 1);

    // The id is the producer's: another producer's event with the same id is its own.
    let other = send(r#"{"order_id":"o-2","amount":2}"#, "billing").await;
    assert_eq!(other.body["results"][0]["status"], "accepted", "{other:?}");
    assert_eq!(h.read_all(TYPE).await.len(), 2);
}

#[tokio::test]
async fn a_rejected_event_is_not_remembered() {
    let h = orders().await;
    let headers = [("tributary-event-id", ID)];
    let bad = h
        .post(EVENTS, "application/json", &headers, r#"{"amount":-1}"#)
        .await;
    assert_eq!(bad.status, 207, "{bad:?}");
    assert_eq!(bad.body["results"][0]["status"], "rejected");
    let fixed = h
        .post(
            EVENTS,
            "application/json",
            &headers,
            r#"{"order_id":"o","amount":1}"#,
        )
        .await;
    assert_eq!(fixed.status, 200, "{fixed:?}");
    assert_eq!(fixed.body["results"][0]["status"], "accepted");
    assert_eq!(h.read_all(TYPE).await.len(), 1);
}

#[tokio::test]
async fn a_retry_of_an_accepted_event_is_a_duplicate_even_if_it_no_longer_passes() {
    let h = orders().await;
    let headers = [("tributary-event-id", ID)];
    let first = h
        .post(
            EVENTS,
            "application/json",
            &headers,
            r#"{"order_id":"o","amount":1}"#,
        )
        .await;
    assert_eq!(first.status, 200, "{first:?}");
    let retry = h
        .post(EVENTS, "application/json", &headers, r#"{"amount":-1}"#)
        .await;
    assert_eq!(retry.status, 200, "{retry:?}");
    assert_eq!(retry.body["results"][0]["status"], "duplicate");
    assert_eq!(
        position(&retry.body["results"][0]),
        position(&first.body["results"][0])
    );
    assert!(h.read_all("tributary.dlq").await.is_empty());
}

#[tokio::test]
async fn an_idempotency_key_replay_gets_the_original_answer() {
    let h = orders().await;
    let body = r#"[{"order_id":"a","amount":1},{"amount":-1},{"order_id":"c","amount":3}]"#;
    let key = [("idempotency-key", "req-42")];
    let first = h.post(EVENTS, "application/json", &key, body).await;
    assert_eq!(first.status, 207, "{first:?}");
    let replay = h.post(EVENTS, "application/json", &key, body).await;
    assert_eq!(replay.status, 207, "{replay:?}");
    assert_eq!(replay.body["accepted"], 2);
    assert_eq!(replay.body["duplicates"], 2);
    for i in [0, 2] {
        let (was, now) = (&first.body["results"][i], &replay.body["results"][i]);
        assert_eq!(now["status"], "duplicate", "{replay:?}");
        assert_eq!(now["event_id"], was["event_id"]);
        assert_eq!(position(now), position(was));
    }
    assert_eq!(replay.body["results"][1]["status"], "rejected");
    assert_eq!(h.read_all(TYPE).await.len(), 2);

    // Another key is another request.
    let other = h
        .post(
            EVENTS,
            "application/json",
            &[("idempotency-key", "req-43")],
            body,
        )
        .await;
    assert_eq!(other.body["accepted"], 2);
    assert_eq!(other.body["results"][0]["status"], "accepted");
    assert_eq!(h.read_all(TYPE).await.len(), 4);

    let bad = h
        .post(
            EVENTS,
            "application/json",
            &[("idempotency-key", " ")],
            body,
        )
        .await;
    assert_eq!(bad.status, 400, "{bad:?}");
}

#[tokio::test]
async fn concurrent_duplicates_are_written_once() {
    let h = orders().await;
    let app = h.app.clone();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            use tower::ServiceExt;
            let request = axum::http::Request::post(EVENTS)
                .header("content-type", "application/json")
                .header("tributary-event-id", ID)
                .body(axum::body::Body::from(r#"{"order_id":"o","amount":1}"#))
                .unwrap();
            let response = app.oneshot(request).await.unwrap();
            assert_eq!(response.status(), 200);
            let bytes = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            serde_json::from_slice::<Value>(&bytes).unwrap()
        }));
    }
    let mut statuses = Vec::new();
    let mut positions = Vec::new();
    for task in tasks {
        let body = task.await.unwrap();
        statuses.push(body["results"][0]["status"].as_str().unwrap().to_owned());
        positions.push(position(&body["results"][0]));
    }
    assert_eq!(statuses.iter().filter(|s| *s == "accepted").count(), 1);
    assert_eq!(statuses.iter().filter(|s| *s == "duplicate").count(), 7);
    assert!(positions.windows(2).all(|w| w[0] == w[1]), "{positions:?}");
    assert_eq!(h.read_all(TYPE).await.len(), 1);
}

#[tokio::test]
async fn a_retry_after_503_writes_the_event() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry_in(dir.path()).await;
    let inner = EmbeddedLog::open(EmbeddedOptions::new(dir.path().join("log")))
        .await
        .unwrap();
    let flaky = Arc::new(FlakyLog {
        inner,
        failing: AtomicBool::new(false),
    });
    let log: Arc<dyn EventLog> = flaky.clone();
    let types = Arc::new(common::RegistrySubjects::new(
        registry.clone(),
        log.clone(),
        "",
        3,
    ));
    let h = Harness::build(log, registry, types, GatewayOptions::default(), Some(dir)).await;
    register(&h.registry, SUBJECT, SchemaType::Json, ORDER_SCHEMA).await;
    let headers = [("tributary-event-id", ID)];
    let body = r#"{"order_id":"o","amount":1}"#;

    flaky.failing.store(true, Ordering::SeqCst);
    let failed = h.post(EVENTS, "application/json", &headers, body).await;
    assert_eq!(failed.status, 503, "{failed:?}");

    flaky.failing.store(false, Ordering::SeqCst);
    let retry = h.post(EVENTS, "application/json", &headers, body).await;
    assert_eq!(retry.status, 200, "{retry:?}");
    assert_eq!(retry.body["results"][0]["status"], "accepted");
    let again = h.post(EVENTS, "application/json", &headers, body).await;
    assert_eq!(again.body["results"][0]["status"], "duplicate");
    assert_eq!(h.read_all(TYPE).await.len(), 1);
}

#[tokio::test]
async fn a_zero_window_turns_deduplication_off() {
    let h = Harness::embedded(GatewayOptions {
        limits: GatewayLimits {
            idempotency_window: Duration::ZERO,
            ..GatewayLimits::default()
        },
        ..GatewayOptions::default()
    })
    .await;
    register(&h.registry, SUBJECT, SchemaType::Json, ORDER_SCHEMA).await;
    for _ in 0..2 {
        let reply = h
            .post(
                EVENTS,
                "application/json",
                &[("tributary-event-id", ID)],
                r#"{"order_id":"o","amount":1}"#,
            )
            .await;
        assert_eq!(reply.body["results"][0]["status"], "accepted");
    }
    assert_eq!(h.read_all(TYPE).await.len(), 2);
}

/// The embedded log, with appends failing (retryably) while `failing` is set.
#[derive(Debug)]
struct FlakyLog {
    inner: EmbeddedLog,
    failing: AtomicBool,
}

#[async_trait]
impl EventLog for FlakyLog {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn create_topic(&self, spec: &TopicSpec) -> Result<(), LogError> {
        self.inner.create_topic(spec).await
    }
    async fn delete_topic(&self, topic: &str) -> Result<(), LogError> {
        self.inner.delete_topic(topic).await
    }
    async fn list_topics(&self) -> Result<Vec<TopicDescription>, LogError> {
        self.inner.list_topics().await
    }
    async fn describe_topic(&self, topic: &str) -> Result<TopicDescription, LogError> {
        self.inner.describe_topic(topic).await
    }
    async fn append(
        &self,
        topic: &str,
        records: Vec<Record>,
    ) -> Result<Vec<AppendResult>, LogError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(LogError::Unavailable("simulated outage".into()));
        }
        self.inner.append(topic, records).await
    }
    async fn read(
        &self,
        topic: &str,
        partition: u32,
        offset: i64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>, LogError> {
        self.inner.read(topic, partition, offset, max_records).await
    }
    async fn offset_for_time(
        &self,
        topic: &str,
        partition: u32,
        timestamp_ms: i64,
    ) -> Result<i64, LogError> {
        self.inner
            .offset_for_time(topic, partition, timestamp_ms)
            .await
    }
    async fn watermarks(&self, topic: &str, partition: u32) -> Result<Watermarks, LogError> {
        self.inner.watermarks(topic, partition).await
    }
    async fn subscribe(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<Box<dyn GroupConsumer>, LogError> {
        self.inner.subscribe(group, topics).await
    }
    async fn committed_offsets(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<Vec<(u32, Option<i64>)>, LogError> {
        self.inner.committed_offsets(group, topic).await
    }
    async fn check_health(&self) -> Result<(), LogError> {
        self.inner.check_health().await
    }
    async fn close(&self) -> Result<(), LogError> {
        self.inner.close().await
    }
}
