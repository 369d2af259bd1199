//! Create, read, list, change and delete event types.

use std::time::Duration;

use axum::http::Method;
use serde_json::json;
use tributary_eventlog::{EventLog, TopicSpec};

use crate::harness::Fresh;

pub(crate) async fn create_makes_the_topic_and_answers_the_type(fresh: Fresh) {
    let api = fresh.api();
    let answer = api
        .json(
            Method::POST,
            "/v1/event-types",
            Some("team:orders"),
            &json!({
                "name": "orders.order_placed",
                "owner": "orders",
                "description": "An order was **placed**.",
                "tags": ["pii", "finance", "pii"],
                "partition_key": "/customer_id",
                "enforcement": "warn",
                "partitions": 6,
                "retention_ms": 3_600_000,
                "retention_bytes": 1_048_576
            }),
        )
        .await;
    let body = answer.ok(201);
    assert_eq!(
        answer.location.as_deref(),
        Some("/v1/event-types/orders.order_placed")
    );
    assert_eq!(answer.content_type, "application/json");
    assert_eq!(body["name"], "orders.order_placed");
    assert_eq!(body["owner"], "orders");
    assert_eq!(body["tags"], json!(["finance", "pii"]));
    assert_eq!(body["enforcement"], "warn");
    assert_eq!(body["partitions"], 6);
    assert_eq!(body["topic"], "orders.order_placed");
    assert_eq!(body["subject"], "orders.order_placed-value");
    assert_eq!(body["created_by"], "team:orders");
    assert_eq!(body["compatibility"], json!(null));
    assert_eq!(body["effective_compatibility"], "BACKWARD");
    assert_eq!(body["latest_schema"], json!(null));

    let topic = fresh
        .log
        .describe_topic("orders.order_placed")
        .await
        .unwrap();
    assert_eq!(topic.partitions, 6);
    assert_eq!(topic.retention.time, Some(Duration::from_millis(3_600_000)));
    assert_eq!(topic.retention.bytes, Some(1_048_576));

    // Defaults come from the server settings; `null` retention is unlimited.
    let body = api
        .create(json!({ "name": "orders.shipped", "owner": "orders", "retention_ms": null }))
        .await;
    assert_eq!(body["partitions"], 3);
    assert_eq!(body["enforcement"], "enforce");
    assert_eq!(body["retention_ms"], json!(null));
    let topic = fresh.log.describe_topic("orders.shipped").await.unwrap();
    assert_eq!((topic.partitions, topic.retention.time), (3, None));
    let body = api
        .create(json!({ "name": "orders.cancelled", "owner": "orders" }))
        .await;
    assert_eq!(body["retention_ms"], 7 * 86_400_000_i64);

    let got = api.get("/v1/event-types/orders.order_placed").await;
    assert_eq!(got.ok(200)["description"], "An order was **placed**.");
    api.get("/v1/event-types/orders.nope")
        .await
        .problem(404, "not_found");

    let audit = api.audit("orders.order_placed").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["action"], "event_type.create");
    assert_eq!(audit[0]["actor"], "team:orders");
    assert_eq!(audit[0]["before"], json!(null));
    assert_eq!(audit[0]["after"]["partitions"], 6);
}

pub(crate) async fn duplicates_and_existing_topics(fresh: Fresh) {
    let api = fresh.api();
    api.create(json!({ "name": "a.b", "owner": "t" })).await;
    let answer = api
        .json(
            Method::POST,
            "/v1/event-types",
            Some("admin"),
            &json!({ "name": "a.b", "owner": "t" }),
        )
        .await;
    answer.problem(409, "conflict");

    // A topic left behind (by a create whose insert failed, or made by hand) is adopted
    // when its partition count matches, and refused otherwise.
    fresh
        .log
        .create_topic(&TopicSpec::new("left.behind", 2))
        .await
        .unwrap();
    let answer = api
        .json(
            Method::POST,
            "/v1/event-types",
            Some("admin"),
            &json!({ "name": "left.behind", "owner": "t", "partitions": 4 }),
        )
        .await;
    let detail = answer.problem(409, "conflict")["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains("2 partitions"), "{detail}");
    let body = api
        .create(json!({ "name": "left.behind", "owner": "t", "partitions": 2 }))
        .await;
    assert_eq!(body["partitions"], 2);
    assert_eq!(
        body["retention_ms"],
        json!(null),
        "the topic's own retention"
    );
}

pub(crate) async fn invalid_fields_are_named(fresh: Fresh) {
    let api = fresh.api();
    let cases = [
        (json!({ "name": "Orders.X", "owner": "t" }), "name"),
        (json!({ "name": "nodomain", "owner": "t" }), "name"),
        (json!({ "name": "a.b", "owner": "Team A" }), "owner"),
        (
            json!({ "name": "a.b", "owner": "t", "tags": ["Bad Tag"] }),
            "tags",
        ),
        (
            json!({ "name": "a.b", "owner": "t", "partition_key": "customer_id" }),
            "partition_key",
        ),
        (
            json!({ "name": "a.b", "owner": "t", "partition_key": "/a//b" }),
            "partition_key",
        ),
        (
            json!({ "name": "a.b", "owner": "t", "enforcement": "strict" }),
            "enforcement",
        ),
        (
            json!({ "name": "a.b", "owner": "t", "partitions": 0 }),
            "partitions",
        ),
        (
            json!({ "name": "a.b", "owner": "t", "partitions": 5000 }),
            "partitions",
        ),
        (
            json!({ "name": "a.b", "owner": "t", "partitions": "three" }),
            "partitions",
        ),
        (
            json!({ "name": "a.b", "owner": "t", "retention_ms": 0 }),
            "retention_ms",
        ),
        (
            json!({ "name": "a.b", "owner": "t", "retention_bytes": -5 }),
            "retention_bytes",
        ),
        (
            json!({ "name": "a.b", "owner": "t", "compatibility": "SOMETIMES" }),
            "compatibility",
        ),
        (
            json!({ "name": "a.b", "owner": "t", "description": "x".repeat(70_000) }),
            "description",
        ),
        (json!({ "owner": "t" }), "body"),
        (
            json!({ "name": "a.b", "owner": "t", "colour": "red" }),
            "colour",
        ),
    ];
    for (body, field) in cases {
        let answer = api
            .json(Method::POST, "/v1/event-types", Some("admin"), &body)
            .await;
        answer.invalid(field);
    }
    assert!(
        fresh.log.list_topics().await.unwrap().is_empty(),
        "nothing created"
    );
}

pub(crate) async fn bad_requests_are_problems(fresh: Fresh) {
    let api = fresh.api();
    let answer = api
        .send(
            Method::POST,
            "/v1/event-types",
            None,
            Some("application/json"),
            b"{not json".to_vec(),
        )
        .await;
    answer.problem(400, "bad_request");
    let answer = api
        .send(
            Method::POST,
            "/v1/event-types",
            None,
            Some("text/plain"),
            b"{}".to_vec(),
        )
        .await;
    answer.problem(415, "unsupported_media_type");
    let huge = vec![b' '; 2 * 1024 * 1024];
    let answer = api
        .send(
            Method::POST,
            "/v1/event-types",
            None,
            Some("application/json"),
            huge,
        )
        .await;
    answer.problem(413, "payload_too_large");
    api.get("/v1/event-types/a.b/audit?limit=0")
        .await
        .invalid("limit");
}

pub(crate) async fn list_filters_by_owner_and_tag(fresh: Fresh) {
    let api = fresh.api();
    api.create(json!({ "name": "pay.refunded", "owner": "payments", "tags": ["finance"] }))
        .await;
    api.create(json!({ "name": "pay.captured", "owner": "payments", "tags": ["finance", "pii"] }))
        .await;
    api.create(json!({ "name": "search.query", "owner": "search", "tags": ["pii"] }))
        .await;
    let names = |body: &serde_json::Value| -> Vec<String> {
        body["event_types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = api.get("/v1/event-types").await;
    assert_eq!(
        names(all.ok(200)),
        ["pay.captured", "pay.refunded", "search.query"]
    );
    assert_eq!(all.body["event_types"][0]["topic"], "pay.captured");
    let by_owner = api.get("/v1/event-types?owner=payments").await;
    assert_eq!(names(by_owner.ok(200)), ["pay.captured", "pay.refunded"]);
    let by_tag = api.get("/v1/event-types?tag=pii").await;
    assert_eq!(names(by_tag.ok(200)), ["pay.captured", "search.query"]);
    let both = api.get("/v1/event-types?owner=payments&tag=pii").await;
    assert_eq!(names(both.ok(200)), ["pay.captured"]);
    let none = api.get("/v1/event-types?owner=nobody").await;
    assert!(names(none.ok(200)).is_empty());
}

pub(crate) async fn patch_rules_and_audit(fresh: Fresh) {
    let api = fresh.api();
    api.create(json!({ "name": "a.b", "owner": "t", "partitions": 4, "tags": ["x"] }))
        .await;
    let path = "/v1/event-types/a.b";
    let answer = api
        .json(
            Method::PATCH,
            path,
            Some("team:t"),
            &json!({ "description": "now documented", "tags": ["y", "x"], "partition_key": "/id", "enforcement": "shadow" }),
        )
        .await;
    let body = answer.ok(200);
    assert_eq!(body["description"], "now documented");
    assert_eq!(body["tags"], json!(["x", "y"]));
    assert_eq!(body["partition_key"], "/id");
    assert_eq!(body["enforcement"], "shadow");
    assert_eq!(body["updated_by"], "team:t");
    assert_eq!(body["revision"], 2);

    // Clearing a nullable field; an empty patch changes (and audits) nothing.
    let answer = api
        .json(
            Method::PATCH,
            path,
            Some("team:t"),
            &json!({ "partition_key": null }),
        )
        .await;
    assert_eq!(answer.ok(200)["partition_key"], json!(null));
    let answer = api
        .json(Method::PATCH, path, Some("team:t"), &json!({}))
        .await;
    assert_eq!(answer.ok(200)["revision"], 3);

    // Partitions only grow, and growing (like retention) needs an event-log operation
    // that does not exist yet: both are refused unless unchanged.
    for (patch, field) in [
        (json!({ "partitions": 2 }), "partitions"),
        (json!({ "partitions": 8 }), "partitions"),
        (json!({ "retention_ms": 1000 }), "retention_ms"),
        (json!({ "retention_bytes": 1000 }), "retention_bytes"),
        (json!({ "tags": ["NO"] }), "tags"),
        (json!({ "name": "c.d" }), "name"),
    ] {
        api.json(Method::PATCH, path, Some("team:t"), &patch)
            .await
            .invalid(field);
    }
    let same = api
        .json(
            Method::PATCH,
            path,
            Some("team:t"),
            &json!({ "partitions": 4 }),
        )
        .await;
    assert_eq!(same.ok(200)["revision"], 3);
    api.json(
        Method::PATCH,
        "/v1/event-types/x.y",
        Some("admin"),
        &json!({}),
    )
    .await
    .problem(404, "not_found");

    let audit = api.audit("a.b").await;
    let actions: Vec<_> = audit
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "event_type.update",
            "event_type.update",
            "event_type.create"
        ]
    );
    assert_eq!(audit[1]["before"]["description"], "");
    assert_eq!(audit[1]["after"]["description"], "now documented");
    assert_eq!(audit[0]["before"]["partition_key"], "/id");
    assert_eq!(audit[0]["after"]["partition_key"], json!(null));
    let limited = api.get("/v1/event-types/a.b/audit?limit=1").await;
    assert_eq!(limited.ok(200)["entries"].as_array().unwrap().len(), 1);
}

pub(crate) async fn delete_is_soft_and_audited(fresh: Fresh) {
    let api = fresh.api();
    api.create(json!({ "name": "a.b", "owner": "t" })).await;
    let answer = api.delete("/v1/event-types/a.b", Some("team:t")).await;
    assert_eq!(answer.status, 204, "{answer:?}");
    api.get("/v1/event-types/a.b")
        .await
        .problem(404, "not_found");
    let list = api.get("/v1/event-types").await;
    assert_eq!(list.ok(200)["event_types"], json!([]));
    api.delete("/v1/event-types/a.b", Some("team:t"))
        .await
        .problem(404, "not_found");
    // The topic stays; the history stays readable.
    assert!(fresh.log.describe_topic("a.b").await.is_ok());
    let audit = api.audit("a.b").await;
    assert_eq!(audit[0]["action"], "event_type.delete");
    assert_eq!(audit[0]["before"]["deleted_at_ms"], json!(null));
    assert!(audit[0]["after"]["deleted_at_ms"].is_i64());

    // Creating it again adopts the kept topic.
    let body = api.create(json!({ "name": "a.b", "owner": "u" })).await;
    assert_eq!(body["owner"], "u");
    let audit = api.audit("a.b").await;
    assert_eq!(audit[0]["action"], "event_type.create");
    assert_eq!(audit[0]["before"]["owner"], "t");
}

/// The gateway's per-type settings: a shadow candidate that must be a live version of the
/// subject, and a maximum event size; both stored, patched, cleared.
pub(crate) async fn gateway_settings_are_checked_and_kept(fresh: Fresh) {
    let api = fresh.api();
    let created = api
        .create(json!({ "name": "a.b", "owner": "t", "enforcement": "shadow", "max_event_bytes": 4096 }))
        .await;
    assert_eq!(created["max_event_bytes"], 4096);
    assert_eq!(created["shadow_version"], json!(null));
    let path = "/v1/event-types/a.b";
    // No version 1 yet.
    api.json(
        Method::PATCH,
        path,
        Some("team:t"),
        &json!({ "shadow_version": 1 }),
    )
    .await
    .invalid("shadow_version");
    api.json(
        Method::POST,
        "/v1/event-types/a.b/schemas",
        Some("team:t"),
        &json!({ "schema_type": "JSON", "schema": "{\"type\":\"object\"}" }),
    )
    .await
    .ok(201);
    let body = api
        .json(
            Method::PATCH,
            path,
            Some("team:t"),
            &json!({ "shadow_version": 1, "max_event_bytes": null }),
        )
        .await
        .ok(200)
        .clone();
    assert_eq!(body["shadow_version"], 1);
    assert_eq!(body["max_event_bytes"], json!(null));
    let read = api.get(path).await;
    assert_eq!(read.ok(200)["shadow_version"], 1);
    for (patch, field) in [
        (json!({ "shadow_version": 0 }), "shadow_version"),
        (json!({ "shadow_version": 2 }), "shadow_version"),
        (json!({ "max_event_bytes": 0 }), "max_event_bytes"),
        (json!({ "max_event_bytes": 1_i64 << 40 }), "max_event_bytes"),
    ] {
        api.json(Method::PATCH, path, Some("team:t"), &patch)
            .await
            .invalid(field);
    }
    let body = api
        .json(
            Method::PATCH,
            path,
            Some("team:t"),
            &json!({ "shadow_version": null }),
        )
        .await
        .ok(200)
        .clone();
    assert_eq!(body["shadow_version"], json!(null));
}
