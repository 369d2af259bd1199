//! Publishing on the embedded log: decoding, verdicts, enrichment, dead letters and the
//! enforcement modes, read back from the log.

mod common;

use std::io::Write;

use common::{Harness, ORDER_SCHEMA, StaticTypes, header, no_compatibility, register};
use serde_json::{Value, json};
use tributary_core::headers;
use tributary_gateway::{
    DLQ_EVENT_TYPE, DLQ_REASON, DLQ_VIOLATIONS, Enforcement, GatewayOptions, WARNINGS,
};
use tributary_registry::{SchemaType, split_confluent_frame};

const TYPE: &str = "orders.order_placed";
const SUBJECT: &str = "orders.order_placed-value";
const EVENTS: &str = "/v1/events/orders.order_placed";

async fn orders() -> (Harness, u32) {
    let h = Harness::embedded(GatewayOptions::default()).await;
    let id = register(&h.registry, SUBJECT, SchemaType::Json, ORDER_SCHEMA).await;
    (h, id)
}

#[tokio::test]
async fn single_event_is_framed_enriched_and_durable() {
    let (h, id) = orders().await;
    let reply = h
        .post(
            EVENTS,
            "application/json",
            &[
                ("tributary-producer", "checkout"),
                ("tributary-event-time", "2023-11-14T22:13:20Z"),
                ("tributary-event-id", "0190a5b4-7c1e-7000-8000-000000000001"),
                (
                    "traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                ),
            ],
            r#"{ "order_id": "o-1", "amount": 12.5 }"#,
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(reply.body["accepted"], 1);
    let result = &reply.body["results"][0];
    assert_eq!(result["status"], "accepted");
    assert_eq!(result["event_id"], "0190a5b4-7c1e-7000-8000-000000000001");

    let partition = result["partition"].as_u64().unwrap() as u32;
    let offset = result["offset"].as_i64().unwrap();
    let record = h.record_at(TYPE, partition, offset).await;
    let (schema_id, payload) = split_confluent_frame(&record.value).unwrap();
    assert_eq!(schema_id, id);
    // The event's JSON as sent (it was validated exactly as any consumer will read it).
    assert_eq!(payload, br#"{ "order_id": "o-1", "amount": 12.5 }"#);
    assert_eq!(record.timestamp_ms, 1_700_000_000_000);
    assert_eq!(
        header(&record, headers::EVENT_ID),
        "0190a5b4-7c1e-7000-8000-000000000001"
    );
    assert_eq!(header(&record, headers::PRODUCER), "checkout");
    assert_eq!(header(&record, headers::SCHEMA_VERSION), "1");
    assert!(
        header(&record, headers::RECEIVED_AT)
            .parse::<i64>()
            .unwrap()
            > 1_700_000_000_000
    );
    assert_eq!(
        header(&record, headers::TRACEPARENT),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    );
    assert_eq!(record.key, None);
    assert_eq!(header(&record, headers::PRODUCER_AUTHENTICATED), "false");

    // A traceparent that breaks W3C's format is not passed on.
    let reply = h
        .post(
            EVENTS,
            "application/json",
            &[(
                "traceparent",
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            )],
            r#"{ "order_id": "o-2", "amount": 1 }"#,
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let record = h.record_of(TYPE, &reply.body["results"][0]).await;
    assert!(record.header(headers::TRACEPARENT).is_none());
}

#[tokio::test]
async fn arrays_ndjson_gzip_and_zstd_are_accepted() {
    let (h, _) = orders().await;
    let array =
        r#"[{"order_id":"a","amount":1},{"order_id":"b","amount":2},{"order_id":"c","amount":3}]"#;
    let reply = h.json(EVENTS, array).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["results"].as_array().unwrap().len(), 3);

    let ndjson = "{\"order_id\":\"d\",\"amount\":4}\n\n  \r\n{\"order_id\":\"e\",\"amount\":5}\r\n";
    let reply = h.post(EVENTS, "application/x-ndjson", &[], ndjson).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["accepted"], 2);

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(array.as_bytes()).unwrap();
    let reply = h
        .post(
            EVENTS,
            "application/json",
            &[("content-encoding", "gzip")],
            gz.finish().unwrap(),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["accepted"], 3);

    let z = zstd::encode_all(ndjson.as_bytes(), 3).unwrap();
    let reply = h
        .post(
            EVENTS,
            "application/x-ndjson",
            &[("content-encoding", "zstd")],
            z,
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["accepted"], 2);

    assert_eq!(h.read_all(TYPE).await.len(), 10);
}

#[tokio::test]
async fn mixed_batch_gets_a_verdict_per_event_and_dead_letters() {
    let (h, id) = orders().await;
    let lines = [
        r#"{"order_id":"good-1","amount":1}"#,
        r#"{"order_id":7,"amount":-3}"#,
        r#"{"order_id":"broken""#,
        r#"{"order_id":"good-2","amount":2}"#,
        r#"[1,2]"#,
    ];
    let reply = h
        .post(
            EVENTS,
            "application/x-ndjson",
            &[("tributary-producer", "svc-a")],
            lines.join("\n"),
        )
        .await;
    assert_eq!(reply.status, 207, "{reply:?}");
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(reply.body["accepted"], 2);
    assert_eq!(reply.body["rejected"], 3);
    let results = reply.body["results"].as_array().unwrap();
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["accepted", "rejected", "rejected", "accepted", "rejected"]
    );
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["index"], i);
    }
    let reasons: Vec<&str> = [1, 2, 4]
        .iter()
        .map(|&i| results[i]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["schema_violation", "malformed", "not_an_object"]);
    let mut pointers: Vec<&str> = results[1]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["pointer"].as_str().unwrap())
        .collect();
    pointers.sort_unstable();
    assert_eq!(pointers, ["/amount", "/order_id"]);
    for i in [1, 2, 4] {
        assert_eq!(results[i]["dead_lettered"], true, "{}", results[i]);
    }

    // The good ones are where the answer says, framed, exactly as sent.
    for (i, expected) in [(0, "good-1"), (3, "good-2")] {
        let r = &results[i];
        let record = h
            .record_at(
                TYPE,
                r["partition"].as_u64().unwrap() as u32,
                r["offset"].as_i64().unwrap(),
            )
            .await;
        let (schema_id, payload) = split_confluent_frame(&record.value).unwrap();
        assert_eq!(schema_id, id);
        let value: Value = serde_json::from_slice(payload).unwrap();
        assert_eq!(value["order_id"], expected);
        assert_eq!(header(&record, headers::EVENT_ID), r["event_id"]);
        assert_eq!(header(&record, headers::PRODUCER), "svc-a");
    }
    assert_eq!(h.read_all(TYPE).await.len(), 2);

    // The bad ones are dead letters: original bytes, claimed type, producer, reason, pointers.
    let dead = h.read_all("tributary.dlq").await;
    assert_eq!(dead.len(), 3);
    let mut by_reason = std::collections::HashMap::new();
    for (_, record) in &dead {
        assert_eq!(header(record, DLQ_EVENT_TYPE), TYPE);
        assert_eq!(header(record, headers::PRODUCER), "svc-a");
        by_reason.insert(header(record, DLQ_REASON).to_owned(), record.clone());
    }
    let bad = &by_reason["schema_violation"];
    assert_eq!(&bad.value[..], lines[1].as_bytes());
    let violations: Value = serde_json::from_str(header(bad, DLQ_VIOLATIONS)).unwrap();
    assert_eq!(violations.as_array().unwrap().len(), 2);
    assert_eq!(&by_reason["malformed"].value[..], lines[2].as_bytes());
    assert_eq!(&by_reason["not_an_object"].value[..], lines[4].as_bytes());
    assert_eq!(header(bad, headers::EVENT_ID), results[1]["event_id"]);
}

#[tokio::test]
async fn all_rejected_is_207() {
    let (h, _) = orders().await;
    let reply = h.json(EVENTS, r#"[{"amount":1},{"order_id":"x"}]"#).await;
    assert_eq!(reply.status, 207, "{reply:?}");
    assert_eq!(reply.body["accepted"], 0);
    assert_eq!(h.read_all("tributary.dlq").await.len(), 2);
}

#[tokio::test]
async fn validate_writes_nothing() {
    let (h, _) = orders().await;
    let reply = h
        .json(
            "/v1/validate/orders.order_placed",
            r#"[{"order_id":"a","amount":1},{"order_id":"b"}]"#,
        )
        .await;
    assert_eq!(reply.status, 207, "{reply:?}");
    assert_eq!(reply.body["results"][0]["status"], "valid");
    assert_eq!(reply.body["results"][1]["status"], "invalid");
    assert_eq!(reply.body["results"][1]["violations"][0]["pointer"], "");
    let reply = h
        .json(
            "/v1/validate/orders.order_placed",
            r#"{"order_id":"a","amount":1}"#,
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(h.read_all(TYPE).await.is_empty());
    assert!(h.read_all("tributary.dlq").await.is_empty());
}

#[tokio::test]
async fn pinned_version_is_used() {
    let (h, _) = orders().await;
    no_compatibility(&h.registry, SUBJECT).await;
    let strict = ORDER_SCHEMA.replace(
        r#""required": ["order_id", "amount"]"#,
        r#""required": ["order_id", "amount", "user"]"#,
    );
    let v2 = register(&h.registry, SUBJECT, SchemaType::Json, &strict).await;
    let event = r#"{"order_id":"a","amount":1}"#;
    let reply = h.json(EVENTS, event).await;
    assert_eq!(reply.status, 207, "latest (v2) needs a user: {reply:?}");
    assert_eq!(reply.body["results"][0]["violations"][0]["pointer"], "");

    let reply = h.json(&format!("{EVENTS}?schema_version=1"), event).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let r = &reply.body["results"][0];
    let record = h
        .record_at(
            TYPE,
            r["partition"].as_u64().unwrap() as u32,
            r["offset"].as_i64().unwrap(),
        )
        .await;
    assert_eq!(header(&record, headers::SCHEMA_VERSION), "1");
    assert_ne!(split_confluent_frame(&record.value).unwrap().0, v2);

    let reply = h
        .post(
            EVENTS,
            "application/json",
            &[("tributary-schema-version", "9")],
            event,
        )
        .await;
    assert_eq!(reply.status, 422, "{reply:?}");
    assert_eq!(reply.problem_code(), "unprocessable");
}

#[tokio::test]
async fn partition_key_keeps_a_key_on_one_partition() {
    let types = StaticTypes::default().with(TYPE, Enforcement::Enforce, Some("/user"));
    let h = Harness::embedded_with(types, GatewayOptions::default()).await;
    register(&h.registry, SUBJECT, SchemaType::Json, ORDER_SCHEMA).await;
    let mut partitions = std::collections::HashMap::<String, std::collections::HashSet<u64>>::new();
    for round in 0..4 {
        let events: Vec<Value> = ["ann", "bob", "cy", "dee", "ed"]
            .iter()
            .map(|u| json!({"order_id": format!("{u}-{round}"), "amount": 1, "user": u}))
            .collect();
        let reply = h.json(EVENTS, &Value::from(events).to_string()).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        for (i, user) in ["ann", "bob", "cy", "dee", "ed"].iter().enumerate() {
            let p = reply.body["results"][i]["partition"].as_u64().unwrap();
            partitions.entry((*user).to_owned()).or_default().insert(p);
        }
    }
    for (user, seen) in &partitions {
        assert_eq!(seen.len(), 1, "{user} spread over {seen:?}");
    }
    let records = h.read_all(TYPE).await;
    assert!(records.iter().all(|(_, r)| r.key.is_some()));
    let (_, first) = &records[0];
    let value: Value = serde_json::from_slice(&first.value[5..]).unwrap();
    assert_eq!(
        first.key.as_deref(),
        Some(value["user"].as_str().unwrap().as_bytes())
    );
}

#[tokio::test]
async fn warn_accepts_with_warnings_and_shadow_reports_the_candidate() {
    let types = StaticTypes::default()
        .with("orders.warned", Enforcement::Warn, None)
        .with(
            "orders.shadowed",
            Enforcement::Shadow {
                candidate_version: Some(2),
            },
            None,
        );
    let h = Harness::embedded_with(types, GatewayOptions::default()).await;
    register(
        &h.registry,
        "orders.warned-value",
        SchemaType::Json,
        ORDER_SCHEMA,
    )
    .await;
    register(
        &h.registry,
        "orders.shadowed-value",
        SchemaType::Json,
        ORDER_SCHEMA,
    )
    .await;

    let reply = h
        .json("/v1/events/orders.warned", r#"{"order_id":"a"}"#)
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let r = &reply.body["results"][0];
    assert_eq!(r["status"], "accepted");
    assert_eq!(r["warnings"].as_array().unwrap().len(), 1);
    let record = h.record_of("orders.warned", r).await;
    assert!(header(&record, WARNINGS).contains("amount"));

    // Version 2 (the candidate) also wants a user; version 1 stays the one enforced.
    no_compatibility(&h.registry, "orders.shadowed-value").await;
    let strict = ORDER_SCHEMA.replace(
        r#""required": ["order_id", "amount"]"#,
        r#""required": ["order_id", "amount", "user"]"#,
    );
    register(
        &h.registry,
        "orders.shadowed-value",
        SchemaType::Json,
        &strict,
    )
    .await;
    let reply = h
        .json(
            "/v1/events/orders.shadowed?schema_version=1",
            r#"{"order_id":"a","amount":1}"#,
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let r = &reply.body["results"][0];
    assert_eq!(r["shadow_violations"].as_array().unwrap().len(), 1, "{r}");
    assert!(r.get("warnings").is_none());
}

#[tokio::test]
async fn avro_subjects_are_written_as_avro_binary() {
    let h = Harness::embedded(GatewayOptions::default()).await;
    let schema = r#"{"type":"record","name":"Click","fields":[{"name":"url","type":"string"},{"name":"n","type":"int"}]}"#;
    let id = register(&h.registry, "web.click-value", SchemaType::Avro, schema).await;
    let reply = h
        .json(
            "/v1/events/web.click",
            r#"[{"url":"/a","n":1},{"url":"/b","n":"x"}]"#,
        )
        .await;
    assert_eq!(reply.status, 207, "{reply:?}");
    assert_eq!(reply.body["results"][1]["violations"][0]["pointer"], "/n");
    let r = &reply.body["results"][0];
    let record = h.record_of("web.click", r).await;
    let (schema_id, payload) = split_confluent_frame(&record.value).unwrap();
    assert_eq!(schema_id, id);
    let compiled = h.registry.compiled_by_id(id).await.unwrap();
    assert_eq!(
        compiled.decode_avro_to_json(payload).unwrap(),
        json!({"url":"/a","n":1})
    );
}

#[tokio::test]
async fn event_id_header_is_for_single_events_only() {
    let (h, _) = orders().await;
    let reply = h
        .post(
            EVENTS,
            "application/json",
            &[("tributary-event-id", "0190a5b4-7c1e-7000-8000-000000000001")],
            r#"[{"order_id":"a","amount":1},{"order_id":"b","amount":1}]"#,
        )
        .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    let reply = h
        .post(
            EVENTS,
            "application/json",
            &[("tributary-event-id", "nope")],
            "{}",
        )
        .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    let reply = h
        .post(
            EVENTS,
            "application/json",
            &[("tributary-event-time", "yesterday")],
            "{}",
        )
        .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(h.read_all(TYPE).await.is_empty());
}
