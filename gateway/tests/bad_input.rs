//! Bad input and back-pressure: each gets the right 4xx or 503 quickly, as problem+json,
//! and nothing is written.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use bytes::Bytes;
use common::{Harness, ORDER_SCHEMA, StaticTypes, register};
use tributary_gateway::{Enforcement, GatewayLimits, GatewayOptions};
use tributary_registry::SchemaType;

const SUBJECT: &str = "orders.order_placed-value";
const EVENTS: &str = "/v1/events/orders.order_placed";

async fn orders_with(limits: GatewayLimits) -> Harness {
    let h = Harness::embedded(GatewayOptions {
        limits,
        ..GatewayOptions::default()
    })
    .await;
    register(&h.registry, SUBJECT, SchemaType::Json, ORDER_SCHEMA).await;
    h
}

async fn orders() -> Harness {
    orders_with(GatewayLimits::default()).await
}

async fn nothing_written(h: &Harness) {
    assert!(h.read_all("orders.order_placed").await.is_empty());
    assert!(h.read_all("tributary.dlq").await.is_empty());
}

#[tokio::test]
async fn unknown_types_are_404_and_types_without_schema_422() {
    let types = StaticTypes::default().with("orders.unregistered", Enforcement::Enforce, None);
    let h = Harness::embedded_with(types, GatewayOptions::default()).await;
    for path in [
        "/v1/events/orders.nope",
        "/v1/events/NotAType",
        "/v1/validate/orders.nope",
    ] {
        let reply = h.json(path, "{}").await;
        assert_eq!(reply.status, 404, "{path}: {reply:?}");
        assert_eq!(reply.problem_code(), "not_found");
    }
    let reply = h.json("/v1/events/orders.unregistered", "{}").await;
    assert_eq!(reply.status, 422, "{reply:?}");
    assert_eq!(reply.problem_code(), "unprocessable");
}

#[tokio::test]
async fn wrong_media_types_are_415() {
    let h = orders().await;
    for (content_type, encoding) in [
        ("text/plain", None),
        ("application/xml", None),
        ("application/json; charset=latin1", None),
        ("application/json", Some("br")),
    ] {
        let headers: Vec<(&str, &str)> = encoding
            .map(|e| ("content-encoding", e))
            .into_iter()
            .collect();
        let reply = h.post(EVENTS, content_type, &headers, "{}").await;
        assert_eq!(reply.status, 415, "{content_type} {encoding:?}: {reply:?}");
        assert_eq!(reply.problem_code(), "unsupported_media_type");
    }
    let request = Request::post(EVENTS).body(Body::from("{}")).unwrap();
    assert_eq!(h.send(request).await.status, 415);
    nothing_written(&h).await;
}

#[tokio::test]
async fn oversized_bodies_are_413_whatever_the_headers_say() {
    let h = orders_with(GatewayLimits {
        max_body_bytes: 1000,
        ..GatewayLimits::default()
    })
    .await;
    let big = format!(r#"{{"order_id":"{}","amount":1}}"#, "x".repeat(2000));
    // Declared too large: refused before reading.
    let reply = h.json(EVENTS, &big).await;
    assert_eq!(reply.status, 413, "{reply:?}");
    assert_eq!(reply.problem_code(), "payload_too_large");
    // Not declared (streamed): refused while reading.
    let chunks = vec![Ok::<_, std::io::Error>(Bytes::from(big.clone()))];
    let request = Request::post(EVENTS)
        .header("content-type", "application/json")
        .body(Body::from_stream(futures_stream(chunks)))
        .unwrap();
    assert_eq!(h.send(request).await.status, 413);
    // Declared small, sent large: the limit holds on what arrives.
    let chunks = vec![Ok::<_, std::io::Error>(Bytes::from(big))];
    let request = Request::post(EVENTS)
        .header("content-type", "application/json")
        .header("content-length", "10")
        .body(Body::from_stream(futures_stream(chunks)))
        .unwrap();
    assert_eq!(h.send(request).await.status, 413);
    nothing_written(&h).await;
}

fn futures_stream(
    items: Vec<Result<Bytes, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    futures::stream::iter(items)
}

/// A body that yields what the test sends, and never ends while the sender lives.
fn tokio_stream_rx(
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

#[tokio::test]
async fn too_many_events_is_413() {
    let h = orders().await;
    let many = format!(
        "[{}]",
        vec![r#"{"order_id":"a","amount":1}"#; 10_001].join(",")
    );
    let started = Instant::now();
    let reply = h.json(EVENTS, &many).await;
    assert_eq!(reply.status, 413, "{reply:?}");
    let ndjson = vec!["{}"; 10_001].join("\n");
    let reply = h.post(EVENTS, "application/x-ndjson", &[], ndjson).await;
    assert_eq!(reply.status, 413, "{reply:?}");
    // A million tiny events in one body: refused after counting 10,001.
    let million = format!("[{}]", vec!["{}"; 1_000_000].join(","));
    let h = orders_with(GatewayLimits {
        max_body_bytes: 16 << 20,
        ..GatewayLimits::default()
    })
    .await;
    let reply = h.json(EVENTS, &million).await;
    assert_eq!(reply.status, 413, "{reply:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    nothing_written(&h).await;
}

#[tokio::test]
async fn zip_bomb_is_413_and_truncated_gzip_400() {
    let h = orders().await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..100 {
        gz.write_all(&vec![b' '; 1 << 20]).unwrap();
    }
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 1 << 20, "the bomb is small: {}", bomb.len());
    let started = Instant::now();
    let reply = h
        .post(
            EVENTS,
            "application/json",
            &[("content-encoding", "gzip")],
            bomb,
        )
        .await;
    assert_eq!(reply.status, 413, "{reply:?}");
    assert!(started.elapsed() < Duration::from_secs(10));

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(br#"[{"order_id":"a","amount":1},{"order_id":"b","amount":2}]"#)
        .unwrap();
    let packed = gz.finish().unwrap();
    let reply = h
        .post(
            EVENTS,
            "application/json",
            &[("content-encoding", "gzip")],
            packed[..packed.len() - 10].to_vec(),
        )
        .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.problem_code(), "bad_request");
    nothing_written(&h).await;
}

#[tokio::test]
async fn deep_nesting_invalid_utf8_and_malformed_json_are_400() {
    let h = orders().await;
    let started = Instant::now();
    for body in [
        format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
        format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000)),
    ] {
        let reply = h.json(EVENTS, &body).await;
        assert_eq!(reply.status, 400, "{reply:?}");
        let reply = h.post(EVENTS, "application/x-ndjson", &[], body).await;
        assert_eq!(reply.status, 400, "{reply:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(5));

    let reply = h
        .post(
            EVENTS,
            "application/json",
            &[],
            b"{\"order_id\":\"\xff\xfe\",\"amount\":1}".to_vec(),
        )
        .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.body["detail"].as_str().unwrap().contains("utf-8"));

    for body in [
        r#"[{"order_id":"a","amount":1}, {oops}]"#,
        "{",
        "",
        "[]",
        "[1,",
    ] {
        let reply = h.json(EVENTS, body).await;
        assert_eq!(reply.status, 400, "{body:?}: {reply:?}");
    }
    nothing_written(&h).await;
}

#[tokio::test]
async fn an_oversized_event_is_rejected_alone() {
    let h = orders_with(GatewayLimits {
        max_event_bytes: 100,
        ..GatewayLimits::default()
    })
    .await;
    let big = format!(r#"{{"order_id":"{}","amount":1}}"#, "x".repeat(200));
    let reply = h
        .json(
            EVENTS,
            &format!(r#"[{big}, {{"order_id":"a","amount":1}}]"#),
        )
        .await;
    assert_eq!(reply.status, 207, "{reply:?}");
    assert_eq!(reply.body["results"][0]["reason"], "too_large");
    assert_eq!(reply.body["results"][0]["dead_lettered"], false);
    assert_eq!(reply.body["results"][1]["status"], "accepted");
    assert!(h.read_all("tributary.dlq").await.is_empty());
}

#[tokio::test]
async fn a_closed_log_is_503_with_retry_after() {
    let h = orders().await;
    assert_eq!(
        h.json(EVENTS, r#"{"order_id":"a","amount":1}"#)
            .await
            .status,
        200
    );
    h.log.close().await.unwrap();
    let reply = h
        .json(EVENTS, r#"[{"order_id":"a","amount":1},{"amount":1}]"#)
        .await;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.problem_code(), "unavailable");
    assert!(reply.headers.contains_key("retry-after"));
    assert_eq!(reply.body["written"], serde_json::json!([]));
}

#[tokio::test]
async fn in_flight_budget_and_request_timeout_answer_503_quickly() {
    let h = orders_with(GatewayLimits {
        max_in_flight_bytes: 1000,
        request_timeout: Duration::from_millis(500),
        ..GatewayLimits::default()
    })
    .await;
    // A slow request holds 800 bytes of the budget while its body trickles in.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    let slow = Request::post(EVENTS)
        .header("content-type", "application/json")
        .header("content-length", "800")
        .body(Body::from_stream(tokio_stream_rx(rx)))
        .unwrap();
    let app = h.app.clone();
    let slow = tokio::spawn(async move {
        use tower::ServiceExt;
        app.oneshot(slow).await.unwrap().status()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let reply = h
        .post(
            EVENTS,
            "application/json",
            &[("content-length", "800")],
            vec![b' '; 800],
        )
        .await;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert!(reply.headers.contains_key("retry-after"));
    assert!(started.elapsed() < Duration::from_millis(400));
    // The slow one times out: 503, nothing acknowledged.
    assert_eq!(slow.await.unwrap(), 503);
    drop(tx);
    // The budget is free again.
    assert_eq!(
        h.json(EVENTS, r#"{"order_id":"a","amount":1}"#)
            .await
            .status,
        200
    );
}
