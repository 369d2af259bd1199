//! Service routes, registration, reads, listings and lookups.

use std::sync::Arc;

use axum::http::Method;
use serde_json::{Value, json};
use tributary_registry::{Registry, ValidatorCache};

use crate::harness::{Fresh, record};

pub(crate) async fn service_routes_and_unknown_paths(fresh: Fresh) {
    let api = fresh.api();
    assert_eq!(api.get("/").await.ok(), &json!({}));
    assert_eq!(
        api.get("/schemas/types").await.ok(),
        &json!(["JSON", "AVRO"])
    );
    assert_eq!(api.get("/contexts").await.ok(), &json!(["."]));
    assert_eq!(api.get("/subjects").await.ok(), &json!([]));
    assert_eq!(api.get("/schemas").await.ok(), &json!([]));

    for path in [
        "/no/such/route",
        "/v1/metadata/id",
        "/dek-registry/v1/keks",
        "/subjects/a/b/c/d",
    ] {
        let answer = api.get(path).await;
        assert_eq!(answer.error(404, 404), "HTTP 404 Not Found", "{path}");
    }
    let answer = api.send(Method::PATCH, "/subjects", None, Vec::new()).await;
    answer.error(405, 405);
    let answer = api.get("/schemas/ids/abc").await;
    answer.error(404, 40403);
}

pub(crate) async fn register_read_and_list(fresh: Fresh) {
    let api = fresh.api();
    let v1 = record("User", json!([{ "name": "name", "type": "string" }]));
    let id = api.register_avro("users-value", &v1).await;
    assert_eq!(id, 1, "ids start at 1");

    // Idempotent, also across formatting; another subject reuses the id.
    assert_eq!(api.register_avro("users-value", &v1).await, 1);
    let spaced = serde_json::to_string_pretty(&v1).unwrap();
    let answer = api
        .post(
            "/subjects/users-value/versions",
            json!({ "schema": spaced }),
        )
        .await;
    assert_eq!(answer.ok()["id"], 1);
    assert_eq!(api.register_avro("other-value", &v1).await, 1);

    let v2 = record(
        "User",
        json!([{ "name": "name", "type": "string" }, { "name": "age", "type": "int", "default": 0 }]),
    );
    assert_eq!(api.register_avro("users-value", &v2).await, 2);

    assert_eq!(
        api.get("/subjects").await.ok(),
        &json!(["other-value", "users-value"])
    );
    assert_eq!(
        api.get("/subjects?subjectPrefix=us").await.ok(),
        &json!(["users-value"])
    );
    assert_eq!(
        api.get("/subjects/users-value/versions").await.ok(),
        &json!([1, 2])
    );

    for version in ["latest", "-1", "2"] {
        let body = api
            .get(&format!("/subjects/users-value/versions/{version}"))
            .await;
        let body = body.ok();
        assert_eq!(body["subject"], "users-value");
        assert_eq!(body["version"], 2);
        assert_eq!(body["id"], 2);
        assert!(body.get("schemaType").is_none(), "omitted for AVRO: {body}");
        assert!(
            body.get("references").is_none(),
            "omitted when empty: {body}"
        );
        let text: Value = serde_json::from_str(body["schema"].as_str().unwrap()).unwrap();
        assert_eq!(text, v2);
    }
    let raw = api.get("/subjects/users-value/versions/1/schema").await;
    assert_eq!(raw.ok(), &v1);

    for bad in ["0", "-2", "abc", "2147483648", "1.5"] {
        let answer = api
            .get(&format!("/subjects/users-value/versions/{bad}"))
            .await;
        let message = answer.error(422, 42202);
        assert!(message.contains(bad), "{message}");
    }
    let message = api
        .get("/subjects/nobody/versions/1")
        .await
        .error(404, 40401);
    assert_eq!(message, "Subject 'nobody' not found.");
    api.get("/subjects/nobody/versions").await.error(404, 40401);
    let message = api
        .get("/subjects/users-value/versions/9")
        .await
        .error(404, 40402);
    assert_eq!(message, "Version 9 not found.");

    let by_id = api.get("/schemas/ids/1").await;
    let by_id = by_id.ok();
    assert_eq!(
        serde_json::from_str::<Value>(by_id["schema"].as_str().unwrap()).unwrap(),
        v1
    );
    assert!(by_id.get("schemaType").is_none());
    assert_eq!(api.get("/schemas/ids/1/schema").await.ok(), &v1);
    assert_eq!(
        api.get("/schemas/ids/1/subjects").await.ok(),
        &json!(["other-value", "users-value"])
    );
    assert_eq!(
        api.get("/schemas/ids/1/versions").await.ok(),
        &json!([{ "subject": "other-value", "version": 1 }, { "subject": "users-value", "version": 1 }])
    );
    let message = api.get("/schemas/ids/99").await.error(404, 40403);
    assert_eq!(message, "Schema 99 not found.");
    api.get("/schemas/ids/99/subjects").await.error(404, 40403);

    let all = api.get("/schemas").await;
    assert_eq!(all.ok().as_array().unwrap().len(), 3);
    let latest = api
        .get("/schemas?latestOnly=true&subjectPrefix=users")
        .await;
    let latest = latest.ok().as_array().unwrap().clone();
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0]["version"], 2);

    // JSON Schema: schemaType is shown.
    let json_schema = json!({ "type": "object", "properties": { "a": { "type": "string" } } });
    let answer = api
        .post(
            "/subjects/json-value/versions",
            json!({ "schemaType": "JSON", "schema": json_schema.to_string() }),
        )
        .await;
    assert_eq!(answer.ok()["id"], 3);
    let answer = api.get("/schemas/ids/3").await;
    assert_eq!(answer.ok()["schemaType"], "JSON");
    let answer = api.get("/subjects/json-value/versions/1").await;
    assert_eq!(answer.ok()["schemaType"], "JSON");
}

pub(crate) async fn lookup_by_schema(fresh: Fresh) {
    let api = fresh.api();
    let v1 = record("Order", json!([{ "name": "id", "type": "long" }]));
    api.register_avro("orders-value", &v1).await;

    let answer = api
        .post(
            "/subjects/orders-value",
            json!({ "schema": v1.to_string() }),
        )
        .await;
    let body = answer.ok();
    assert_eq!(body["subject"], "orders-value");
    assert_eq!(
        (body["id"].as_u64(), body["version"].as_u64()),
        (Some(1), Some(1))
    );

    let other = record("Order", json!([{ "name": "id", "type": "string" }]));
    let message = api
        .post(
            "/subjects/orders-value",
            json!({ "schema": other.to_string() }),
        )
        .await
        .error(404, 40403);
    assert_eq!(message, "Schema not found");
    api.post("/subjects/nobody", json!({ "schema": v1.to_string() }))
        .await
        .error(404, 40401);

    // Equivalent spelling is found only when normalizing.
    let long_form = json!({ "type": "record", "name": "Order",
        "fields": [{ "name": "id", "type": { "type": "long" } }] });
    api.post(
        "/subjects/orders-value",
        json!({ "schema": long_form.to_string() }),
    )
    .await
    .error(404, 40403);
    let answer = api
        .post(
            "/subjects/orders-value?normalize=true",
            json!({ "schema": long_form.to_string() }),
        )
        .await;
    assert_eq!(answer.ok()["id"], 1);
}

pub(crate) async fn validator_cache_serves_compiled_schemas(fresh: Fresh) {
    let api = fresh.api();
    let schema = record("Click", json!([{ "name": "url", "type": "string" }]));
    let id = api.register_avro("clicks-value", &schema).await as u32;
    let cache = api.registry.cache();
    let compiled = api.registry.compiled_by_id(id).await.unwrap();
    assert_eq!(cache.compilations(), 0, "registration filled the cache");
    assert!(compiled.validate_json(&json!({ "url": "x" })).is_empty());

    // Another instance loads from the database once, then serves from its cache.
    let cache = Arc::new(ValidatorCache::new(16));
    let db = fresh.connect().await;
    let other = Registry::with_cache(db.clone(), Arc::clone(&cache));
    other.compiled_by_id(id).await.unwrap();
    other.compiled_by_id(id).await.unwrap();
    assert_eq!(cache.compilations(), 1);
    let missing = other.compiled_by_id(999).await.unwrap_err();
    assert_eq!(missing.confluent_code(), 40403);
    db.close().await;
    let hit = other.compiled_by_id(id).await;
    assert!(hit.is_ok(), "a cached id needs no database");
    let down = other.compiled_by_id(998).await.unwrap_err();
    assert_eq!(down.confluent_code(), 50001, "{down}");
}
