//! Avro request bodies on the embedded log: plain datums of the pinned or latest version,
//! Confluent-framed datums naming their schema, and the ways such bodies go wrong.

mod common;

use common::{Harness, header, no_compatibility, register};
use serde_json::json;
use tributary_core::headers;
use tributary_gateway::GatewayOptions;
use tributary_registry::{SchemaType, confluent_frame, split_confluent_frame};

const EVENTS: &str = "/v1/events/web.click";
const V1: &str = r#"{"type":"record","name":"Click","fields":[
    {"name":"url","type":"string"},{"name":"n","type":"int"}]}"#;
const V2: &str = r#"{"type":"record","name":"Click","fields":[
    {"name":"url","type":"string"},{"name":"n","type":"int"},
    {"name":"referrer","type":["null","string"],"default":null}]}"#;

async fn clicks() -> (Harness, u32, u32) {
    let h = Harness::embedded(GatewayOptions::default()).await;
    no_compatibility(&h.registry, "web.click-value").await;
    let v1 = register(&h.registry, "web.click-value", SchemaType::Avro, V1).await;
    let v2 = register(&h.registry, "web.click-value", SchemaType::Avro, V2).await;
    (h, v1, v2)
}

async fn encode(h: &Harness, id: u32, event: serde_json::Value) -> Vec<u8> {
    let compiled = h.registry.compiled_by_id(id).await.unwrap();
    compiled.encode_avro_from_json(&event).unwrap()
}

#[tokio::test]
async fn plain_datums_of_the_latest_or_pinned_version_are_written_as_sent() {
    let (h, v1, v2) = clicks().await;
    let a = encode(&h, v2, json!({"url": "/a", "n": 1, "referrer": "/home"})).await;
    let b = encode(&h, v2, json!({"url": "/b", "n": 2})).await;
    let reply = h
        .post(EVENTS, "application/avro", &[], [a.clone(), b].concat())
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["accepted"], 2);
    let r = &reply.body["results"][0];
    let record = h.record_of("web.click", r).await;
    assert_eq!(&record.value[..], &confluent_frame(v2, &a)[..]);
    assert_eq!(header(&record, headers::SCHEMA_VERSION), "2");

    // Pinned to version 1: the datum is read with version 1 and framed with its id.
    let old = encode(&h, v1, json!({"url": "/c", "n": 3})).await;
    let reply = h
        .post(
            EVENTS,
            "avro/binary",
            &[("tributary-schema-version", "1")],
            old.clone(),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let r = &reply.body["results"][0];
    let record = h.record_of("web.click", r).await;
    let (id, payload) = split_confluent_frame(&record.value).unwrap();
    assert_eq!((id, payload), (v1, &old[..]));
    assert_eq!(header(&record, headers::SCHEMA_VERSION), "1");
}

#[tokio::test]
async fn confluent_framed_datums_name_their_version() {
    let (h, v1, v2) = clicks().await;
    let framed = |id: u32, datum: &[u8]| confluent_frame(id, datum);
    let one = encode(&h, v1, json!({"url": "/x", "n": 9})).await;
    let body = [framed(v1, &one), framed(v1, &one)].concat();
    let reply = h
        .post(
            EVENTS,
            "application/avro; framing=confluent",
            &[("idempotency-key", "k-1")],
            body,
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let r = &reply.body["results"][1];
    let record = h.record_of("web.click", r).await;
    assert_eq!(&record.value[..], &framed(v1, &one)[..]);
    assert_eq!(header(&record, headers::SCHEMA_VERSION), "1");

    // Mixed ids in one request, an id of no version of the subject, and a pin that
    // contradicts the frame are refused whole.
    let two = encode(&h, v2, json!({"url": "/y", "n": 1})).await;
    let mixed = [framed(v1, &one), framed(v2, &two)].concat();
    let reply = h
        .post(EVENTS, "application/avro;framing=confluent", &[], mixed)
        .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("one request carries one schema"),
        "{reply:?}"
    );
    let reply = h
        .post(
            EVENTS,
            "application/avro;framing=confluent",
            &[],
            framed(4242, &one),
        )
        .await;
    assert_eq!(reply.status, 422, "{reply:?}");
    let reply = h
        .post(
            EVENTS,
            "application/avro;framing=confluent",
            &[("tributary-schema-version", "2")],
            framed(v1, &one),
        )
        .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(h.read_all("web.click").await.len() == 2);
}

#[tokio::test]
async fn bytes_that_are_not_avro_of_the_schema_are_400_and_nothing_is_written() {
    let (h, _, v2) = clicks().await;
    let good = encode(&h, v2, json!({"url": "/a", "n": 1})).await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..good.len() - 1].to_vec()),
        ("good then garbage", [good.clone(), vec![0xff; 3]].concat()),
        // A string claiming two gigabytes.
        ("huge length", vec![0xfe, 0xff, 0xff, 0xff, 0x0f]),
        ("union branch out of range", vec![2, b'a', 2, 9]),
        ("empty", Vec::new()),
    ];
    for (what, body) in cases {
        let reply = h.post(EVENTS, "application/avro", &[], body).await;
        assert_eq!(reply.status, 400, "{what}: {reply:?}");
        assert_eq!(reply.problem_code(), "bad_request", "{what}");
    }
    let reply = h
        .post(EVENTS, "application/avro; framing=confluent", &[], good)
        .await;
    assert_eq!(
        reply.status, 400,
        "unframed bytes sent as framed: {reply:?}"
    );
    let reply = h
        .post(EVENTS, "application/avro; framing=snappy", &[], vec![0])
        .await;
    assert_eq!(reply.status, 415, "{reply:?}");
    assert!(h.read_all("web.click").await.is_empty());
}

#[tokio::test]
async fn avro_bodies_need_an_avro_schema() {
    let h = Harness::embedded(GatewayOptions::default()).await;
    register(
        &h.registry,
        "orders.placed-value",
        SchemaType::Json,
        r#"{"type":"object"}"#,
    )
    .await;
    let reply = h
        .post("/v1/events/orders.placed", "application/avro", &[], vec![0])
        .await;
    assert_eq!(reply.status, 415, "{reply:?}");
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("avro bodies need an avro schema"),
        "{reply:?}"
    );
}

#[tokio::test]
async fn oversized_datums_are_rejected_alone_and_validate_writes_nothing() {
    let mut options = GatewayOptions::default();
    options.limits.max_event_bytes = 64;
    let h = Harness::embedded(options).await;
    let id = register(&h.registry, "web.click-value", SchemaType::Avro, V1).await;
    let small = encode(&h, id, json!({"url": "/a", "n": 1})).await;
    let big = encode(&h, id, json!({"url": "/".repeat(100), "n": 1})).await;
    let body = [small.clone(), big, small].concat();
    let reply = h
        .post(
            "/v1/validate/web.click",
            "application/avro",
            &[],
            body.clone(),
        )
        .await;
    assert_eq!(reply.status, 207, "{reply:?}");
    let statuses: Vec<&str> = reply.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["valid", "invalid", "valid"]);
    assert_eq!(reply.body["results"][1]["reason"], "too_large");
    assert!(h.read_all("web.click").await.is_empty());
    let reply = h.post(EVENTS, "application/avro", &[], body).await;
    assert_eq!(reply.status, 207, "{reply:?}");
    assert_eq!(h.read_all("web.click").await.len(), 2);
}
