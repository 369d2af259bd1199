//! Schemas of an event type: registration on both APIs, compatibility, audit.

use axum::http::Method;
use serde_json::{Value, json};

use crate::harness::{Fresh, avro};

fn v1() -> String {
    avro("Refund", json!([{ "name": "id", "type": "string" }]))
}

fn v2() -> String {
    avro(
        "Refund",
        json!([{ "name": "id", "type": "string" }, { "name": "cents", "type": "long", "default": 0 }]),
    )
}

/// Adds a field without a default: breaks BACKWARD.
fn breaking() -> String {
    avro(
        "Refund",
        json!([{ "name": "id", "type": "string" }, { "name": "reason", "type": "string" }]),
    )
}

pub(crate) async fn register_through_the_native_api(fresh: Fresh) {
    let api = fresh.api();
    api.create(json!({ "name": "pay.refunded", "owner": "payments" }))
        .await;
    let path = "/v1/event-types/pay.refunded/schemas";

    let answer = api
        .json(
            Method::POST,
            path,
            Some("team:payments"),
            &json!({ "schema": v1() }),
        )
        .await;
    assert_eq!(
        answer.ok(201),
        &json!({ "subject": "pay.refunded-value", "version": 1, "id": 1, "created": true })
    );
    // The same schema again: nothing new (200).
    let answer = api
        .json(
            Method::POST,
            path,
            Some("team:payments"),
            &json!({ "schema": v1() }),
        )
        .await;
    assert_eq!(answer.ok(200)["created"], false);
    // `schema` may be the document itself rather than its text.
    let document: Value = serde_json::from_str(&v2()).unwrap();
    let answer = api
        .json(
            Method::POST,
            path,
            Some("admin"),
            &json!({ "schema": document }),
        )
        .await;
    assert_eq!(answer.ok(201)["version"], 2);

    // Another team: 403 here, 40301 on the Confluent route.
    api.json(
        Method::POST,
        path,
        Some("team:search"),
        &json!({ "schema": v2() }),
    )
    .await
    .problem(403, "forbidden");
    api.json(
        Method::POST,
        "/subjects/pay.refunded-value/versions",
        Some("team:search"),
        &json!({ "schema": v2() }),
    )
    .await
    .confluent_error(403, 40301);

    let got = api.get("/v1/event-types/pay.refunded").await;
    assert_eq!(
        got.ok(200)["latest_schema"],
        json!({ "version": 2, "id": 2, "schema_type": "AVRO" })
    );
    let listed = api.get(path).await;
    let body = listed.ok(200);
    assert_eq!(body["subject"], "pay.refunded-value");
    let versions: Vec<_> = body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].as_i64().unwrap(), v["id"].as_i64().unwrap()))
        .collect();
    assert_eq!(versions, [(1, 1), (2, 2)]);

    // Bad schemas and unknown types are problems too.
    api.json(
        Method::POST,
        path,
        Some("admin"),
        &json!({ "schema": "{not avro" }),
    )
    .await
    .problem(422, "unprocessable");
    api.json(
        Method::POST,
        path,
        Some("admin"),
        &json!({ "schema": v1(), "schemaType": "PROTOBUF" }),
    )
    .await
    .invalid("schemaType");
    api.json(
        Method::POST,
        "/v1/event-types/no.such/schemas",
        Some("admin"),
        &json!({ "schema": v1() }),
    )
    .await
    .problem(404, "not_found");
}

pub(crate) async fn incompatible_schemas_list_each_break(fresh: Fresh) {
    let api = fresh.api();
    api.create(json!({ "name": "pay.refunded", "owner": "payments" }))
        .await;
    let path = "/v1/event-types/pay.refunded/schemas";
    api.json(
        Method::POST,
        path,
        Some("admin"),
        &json!({ "schema": v1() }),
    )
    .await
    .ok(201);
    let answer = api
        .json(
            Method::POST,
            path,
            Some("admin"),
            &json!({ "schema": breaking() }),
        )
        .await;
    let body = answer.problem(409, "conflict");
    let found = body["incompatibilities"].as_array().unwrap();
    assert!(!found.is_empty(), "{body}");
    for incompatibility in found {
        assert!(
            incompatibility["path"].as_str().unwrap().starts_with('/'),
            "{body}"
        );
        assert!(
            !incompatibility["kind"].as_str().unwrap().is_empty(),
            "{body}"
        );
        assert!(
            !incompatibility["message"].as_str().unwrap().is_empty(),
            "{body}"
        );
    }
    assert!(
        body["detail"].as_str().unwrap().contains("BACKWARD"),
        "{body}"
    );
}

pub(crate) async fn compatibility_is_the_subject_level(fresh: Fresh) {
    let api = fresh.api();
    let body = api
        .create(json!({ "name": "pay.refunded", "owner": "payments", "compatibility": "none" }))
        .await;
    assert_eq!(body["compatibility"], "NONE");
    assert_eq!(body["effective_compatibility"], "NONE");
    let config = api.get("/config/pay.refunded-value").await;
    assert_eq!(config.ok(200)["compatibilityLevel"], "NONE");

    // With NONE the breaking change goes through.
    let path = "/v1/event-types/pay.refunded/schemas";
    api.json(
        Method::POST,
        path,
        Some("admin"),
        &json!({ "schema": v1() }),
    )
    .await
    .ok(201);
    api.json(
        Method::POST,
        path,
        Some("admin"),
        &json!({ "schema": breaking() }),
    )
    .await
    .ok(201);

    let event_type = "/v1/event-types/pay.refunded";
    let answer = api
        .json(
            Method::PATCH,
            event_type,
            Some("team:payments"),
            &json!({ "compatibility": "FULL_TRANSITIVE" }),
        )
        .await;
    assert_eq!(answer.ok(200)["effective_compatibility"], "FULL_TRANSITIVE");
    let config = api.get("/config/pay.refunded-value").await;
    assert_eq!(config.ok(200)["compatibilityLevel"], "FULL_TRANSITIVE");

    // Cleared: the global level applies again.
    let answer = api
        .json(
            Method::PATCH,
            event_type,
            Some("team:payments"),
            &json!({ "compatibility": null }),
        )
        .await;
    assert_eq!(answer.ok(200)["compatibility"], json!(null));
    assert_eq!(answer.body["effective_compatibility"], "BACKWARD");

    // Set through the Confluent API by the owner: the event type shows it too.
    api.json(
        Method::PUT,
        "/config/pay.refunded-value",
        Some("team:payments"),
        &json!({ "compatibility": "FORWARD" }),
    )
    .await
    .ok(200);
    let got = api.get(event_type).await;
    assert_eq!(got.ok(200)["compatibility"], "FORWARD");
}

pub(crate) async fn schema_changes_are_audited_on_both_apis(fresh: Fresh) {
    let api = fresh.api();
    api.create(json!({ "name": "pay.refunded", "owner": "payments" }))
        .await;
    let subject = "pay.refunded-value";
    api.json(
        Method::POST,
        "/v1/event-types/pay.refunded/schemas",
        Some("team:payments"),
        &json!({ "schema": v1() }),
    )
    .await
    .ok(201);
    // An idempotent re-registration changes nothing and is not audited.
    api.json(
        Method::POST,
        &format!("/subjects/{subject}/versions"),
        Some("team:payments"),
        &json!({ "schema": v1() }),
    )
    .await
    .ok(200);
    api.json(
        Method::POST,
        &format!("/subjects/{subject}/versions"),
        Some("admin"),
        &json!({ "schema": v2() }),
    )
    .await
    .ok(200);
    api.json(
        Method::PUT,
        &format!("/config/{subject}"),
        Some("team:payments"),
        &json!({ "compatibility": "FULL" }),
    )
    .await
    .ok(200);
    api.json(
        Method::PUT,
        &format!("/mode/{subject}"),
        Some("team:payments"),
        &json!({ "mode": "READONLY" }),
    )
    .await
    .ok(200);
    api.delete(&format!("/mode/{subject}"), Some("team:payments"))
        .await
        .ok(200);
    api.delete(
        &format!("/subjects/{subject}/versions/2"),
        Some("team:payments"),
    )
    .await
    .ok(200);
    // A refused change is not audited.
    api.json(
        Method::POST,
        &format!("/subjects/{subject}/versions"),
        Some("team:payments"),
        &json!({ "schema": breaking() }),
    )
    .await
    .confluent_error(409, 409);

    let audit = api.audit("pay.refunded").await;
    let actions: Vec<_> = audit
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("schema.delete", "team:payments"),
            ("mode.delete", "team:payments"),
            ("mode.set", "team:payments"),
            ("config.set", "team:payments"),
            ("schema.register", "admin"),
            ("schema.register", "team:payments"),
            ("event_type.create", "admin"),
        ]
    );
    let register = &audit[4];
    assert_eq!(register["target_kind"], "subject");
    assert_eq!(register["target"], subject);
    assert_eq!(register["before"]["latest"]["version"], 1);
    assert_eq!(register["after"]["latest"]["version"], 2);
    assert_eq!(register["after"]["latest"]["schema"], v2());
    assert_eq!(audit[3]["before"], json!({ "compatibility": null }));
    assert_eq!(audit[3]["after"], json!({ "compatibility": "FULL" }));
    assert_eq!(audit[0]["before"]["versions"], json!([1, 2]));
    assert_eq!(audit[0]["after"]["versions"], json!([1]));
    assert_eq!(audit[0]["after"]["deleted_versions"], json!([2]));

    // The global settings are audited under the registry.
    api.json(
        Method::PUT,
        "/config",
        Some("admin"),
        &json!({ "compatibility": "NONE" }),
    )
    .await
    .ok(200);
    let entries = fresh
        .db
        .audit_for(&[("registry", "global")], 10)
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].entry.action, "config.set");
    assert_eq!(
        entries[0].entry.before,
        Some(json!({ "compatibility": "BACKWARD" }))
    );
    assert_eq!(
        entries[0].entry.after,
        Some(json!({ "compatibility": "NONE" }))
    );
}
