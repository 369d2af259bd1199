//! CloudEvents 1.0 over HTTP: structured, batch (mixed types) and binary mode, read back from
//! the embedded log.

mod common;

use common::{Harness, ORDER_SCHEMA, Reply, header, no_compatibility, register};
use serde_json::{Value, json};
use tributary_core::headers;
use tributary_gateway::{DLQ_EVENT_TYPE, GatewayOptions, SOURCE};
use tributary_registry::{SchemaType, split_confluent_frame};

const ORDERS: &str = "orders.order_placed";
const USERS: &str = "users.signed_up";
const USER_SCHEMA: &str = r#"{"type":"object","properties":{"user_id":{"type":"string"}},
    "required":["user_id"]}"#;
const STRUCTURED: &str = "application/cloudevents+json";
const BATCH: &str = "application/cloudevents-batch+json";

async fn hub() -> Harness {
    let h = Harness::embedded(GatewayOptions::default()).await;
    register(
        &h.registry,
        "orders.order_placed-value",
        SchemaType::Json,
        ORDER_SCHEMA,
    )
    .await;
    register(
        &h.registry,
        "users.signed_up-value",
        SchemaType::Json,
        USER_SCHEMA,
    )
    .await;
    h
}

fn ce(id: &str, event_type: &str, data: Value) -> Value {
    let mut event = json!({
        "specversion": "1.0",
        "id": id,
        "source": "/checkout",
        "type": event_type,
        "datacontenttype": "application/json",
    });
    event["data"] = data;
    event
}

fn order(id: &str) -> Value {
    ce(id, ORDERS, json!({"order_id": id, "amount": 1}))
}

async fn post(h: &Harness, path: &str, content_type: &str, body: &Value) -> Reply {
    h.post(
        path,
        content_type,
        &[("tributary-producer", "shop")],
        body.to_string(),
    )
    .await
}

#[tokio::test]
async fn structured_mode_maps_the_attributes() {
    let h = hub().await;
    let mut event = order("evt-1");
    event["time"] = json!("2023-11-14T22:13:20Z");
    let reply = post(&h, "/v1/events", STRUCTURED, &event).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let result = &reply.body["results"][0];
    assert_eq!(result["status"], "accepted");
    assert_eq!(result["event_id"], "evt-1");
    let record = h.record_of(ORDERS, result).await;
    let (_, payload) = split_confluent_frame(&record.value).unwrap();
    assert_eq!(payload, br#"{"amount":1,"order_id":"evt-1"}"#);
    assert_eq!(record.timestamp_ms, 1_700_000_000_000);
    assert_eq!(header(&record, headers::EVENT_ID), "evt-1");
    assert_eq!(header(&record, SOURCE), "/checkout");
    assert_eq!(header(&record, headers::PRODUCER), "shop");

    // The typed path takes CloudEvents of its own type too.
    let reply = post(
        &h,
        "/v1/events/orders.order_placed",
        STRUCTURED,
        &order("evt-2"),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(h.read_all(ORDERS).await.len(), 2);
}

#[tokio::test]
async fn a_batch_of_two_types_is_routed_per_event() {
    let h = hub().await;
    let batch = json!([
        order("o-1"),
        ce("u-1", USERS, json!({"user_id": "ann"})),
        ce("o-2", ORDERS, json!({"amount": -1})),
        ce("u-2", USERS, json!({"user_id": "bob"})),
    ]);
    let reply = post(&h, "/v1/events", BATCH, &batch).await;
    assert_eq!(reply.status, 207, "{reply:?}");
    assert_eq!(reply.body["accepted"], 3);
    let results = reply.body["results"].as_array().unwrap();
    let statuses: Vec<_> = results.iter().map(|r| r["status"].clone()).collect();
    assert_eq!(statuses, ["accepted", "accepted", "rejected", "accepted"]);
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["index"], i);
    }
    assert_eq!(results[2]["reason"], "schema_violation");
    assert_eq!(results[2]["dead_lettered"], true);

    let user = h.record_of(USERS, &results[1]).await;
    assert_eq!(header(&user, headers::EVENT_ID), "u-1");
    assert_eq!(h.read_all(ORDERS).await.len(), 1);
    assert_eq!(h.read_all(USERS).await.len(), 2);
    let dead = h.read_all("tributary.dlq").await;
    assert_eq!(dead.len(), 1);
    assert_eq!(header(&dead[0].1, DLQ_EVENT_TYPE), ORDERS);
}

#[tokio::test]
async fn binary_mode_takes_attributes_from_headers() {
    let h = hub().await;
    let reply = h
        .post(
            "/v1/events",
            "application/json",
            &[
                ("ce-specversion", "1.0"),
                ("ce-id", "bin-1"),
                ("ce-type", USERS),
                ("ce-source", "urn:signup"),
                ("ce-time", "2023-11-15T00:13:20+02:00"),
            ],
            r#"{"user_id":"cy"}"#,
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let record = h.record_of(USERS, &reply.body["results"][0]).await;
    assert_eq!(
        split_confluent_frame(&record.value).unwrap().1,
        br#"{"user_id":"cy"}"#
    );
    assert_eq!(header(&record, headers::EVENT_ID), "bin-1");
    assert_eq!(header(&record, SOURCE), "urn:signup");
    assert_eq!(record.timestamp_ms, 1_700_000_000_000);

    // Missing ce-source: one event, so the request is a 400.
    let reply = h
        .post(
            "/v1/events",
            "application/json",
            &[
                ("ce-specversion", "1.0"),
                ("ce-id", "x"),
                ("ce-type", USERS),
            ],
            r#"{"user_id":"cy"}"#,
        )
        .await;
    assert_eq!(reply.status, 400, "{reply:?}");
}

#[tokio::test]
async fn bad_envelopes_are_rejected() {
    let h = hub().await;
    let mut old = order("a");
    old["specversion"] = json!("0.3");
    let mut no_source = order("b");
    no_source.as_object_mut().unwrap().remove("source");
    let mut base64 = order("c");
    base64.as_object_mut().unwrap().remove("data");
    base64["data_base64"] = json!("AAAA");
    let batch = json!([
        old,
        no_source,
        base64,
        ce("d", "Not A Type", json!({})),
        ce("e", "nobody.knows", json!({})),
        order("f"),
    ]);
    let reply = post(&h, "/v1/events", BATCH, &batch).await;
    assert_eq!(reply.status, 207, "{reply:?}");
    let results = reply.body["results"].as_array().unwrap();
    for result in &results[..4] {
        assert_eq!(result["status"], "rejected", "{result}");
        assert_eq!(result["reason"], "malformed", "{result}");
        assert_eq!(result["dead_lettered"], false);
    }
    assert!(
        results[2]["violations"][0]["message"]
            .as_str()
            .unwrap()
            .contains("data_base64")
    );
    assert_eq!(results[4]["reason"], "unknown_event_type");
    assert_eq!(results[5]["status"], "accepted");

    // One event: a bad envelope is a 400, an unknown type a 404, a type other than the
    // path's a 400; plain JSON without a type in the path is a 415.
    let mut no_id = order("g");
    no_id.as_object_mut().unwrap().remove("id");
    assert_eq!(post(&h, "/v1/events", STRUCTURED, &no_id).await.status, 400);
    let unknown = ce("h", "nobody.knows", json!({}));
    assert_eq!(
        post(&h, "/v1/events", STRUCTURED, &unknown).await.status,
        404
    );
    let user = ce("i", USERS, json!({"user_id": "x"}));
    let reply = post(&h, "/v1/events/orders.order_placed", STRUCTURED, &user).await;
    assert_eq!(reply.status, 400, "{reply:?}");
    let reply = post(&h, "/v1/events", "application/json", &json!({"a": 1})).await;
    assert_eq!(reply.status, 415, "{reply:?}");
    assert_eq!(
        post(&h, "/v1/events", STRUCTURED, &json!([order("j")]))
            .await
            .status,
        400
    );
    assert_eq!(h.read_all(ORDERS).await.len(), 1);
}

#[tokio::test]
async fn dataschema_pins_the_schema_version() {
    let h = hub().await;
    let subject = "orders.order_placed-value";
    no_compatibility(&h.registry, subject).await;
    let strict = ORDER_SCHEMA.replace(
        r#""required": ["order_id", "amount"]"#,
        r#""required": ["order_id", "amount", "user"]"#,
    );
    register(&h.registry, subject, SchemaType::Json, &strict).await;

    let latest = post(&h, "/v1/events", STRUCTURED, &order("p-0")).await;
    assert_eq!(latest.status, 207, "v2 needs a user: {latest:?}");

    let mut by_uri = order("p-1");
    by_uri["dataschema"] = json!(format!("http://hub:8080/subjects/{subject}/versions/1"));
    let mut by_number = order("p-2");
    by_number["dataschema"] = json!("1");
    let reply = post(&h, "/v1/events", BATCH, &json!([by_uri, by_number])).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    for result in reply.body["results"].as_array().unwrap() {
        let record = h.record_of(ORDERS, result).await;
        assert_eq!(header(&record, headers::SCHEMA_VERSION), "1");
    }

    let mut missing = order("p-3");
    missing["dataschema"] = json!("9");
    let reply = post(&h, "/v1/events", BATCH, &json!([missing, order("p-4")])).await;
    assert_eq!(reply.status, 207, "{reply:?}");
    assert_eq!(reply.body["results"][0]["reason"], "unknown_schema");
    assert_eq!(reply.body["results"][1]["reason"], "schema_violation");
}

#[tokio::test]
async fn the_cloudevents_id_is_deduplicated() {
    let h = hub().await;
    let first = post(&h, "/v1/events", STRUCTURED, &order("dup-1")).await;
    assert_eq!(first.status, 200, "{first:?}");

    // A batch repeating that id twice, and another id twice: one new record in all.
    let batch = json!([
        order("dup-1"),
        order("dup-2"),
        order("dup-2"),
        order("dup-1")
    ]);
    let reply = post(&h, "/v1/events", BATCH, &batch).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let results = reply.body["results"].as_array().unwrap();
    let statuses: Vec<_> = results.iter().map(|r| r["status"].clone()).collect();
    assert_eq!(
        statuses,
        ["duplicate", "accepted", "duplicate", "duplicate"]
    );
    assert_eq!(reply.body["duplicates"], 3);
    let original = &first.body["results"][0];
    for i in [0, 3] {
        assert_eq!(results[i]["partition"], original["partition"]);
        assert_eq!(results[i]["offset"], original["offset"]);
    }
    assert_eq!(results[2]["offset"], results[1]["offset"]);
    assert_eq!(h.read_all(ORDERS).await.len(), 2);

    // The same id under another type is another event.
    let user = ce("dup-1", USERS, json!({"user_id": "x"}));
    let reply = post(&h, "/v1/events", STRUCTURED, &user).await;
    assert_eq!(reply.body["results"][0]["status"], "accepted", "{reply:?}");
}

#[tokio::test]
async fn validate_takes_cloudevents() {
    let h = hub().await;
    let batch = json!([order("v-1"), ce("v-2", ORDERS, json!({"amount": -1}))]);
    let reply = post(&h, "/v1/validate/orders.order_placed", BATCH, &batch).await;
    assert_eq!(reply.status, 207, "{reply:?}");
    assert_eq!(reply.body["results"][0]["status"], "valid");
    assert_eq!(reply.body["results"][1]["status"], "invalid");
    assert!(h.read_all(ORDERS).await.is_empty());
}
