//! Compatibility levels, checks, config endpoints and normalization.

use serde_json::{Value, json};

use crate::harness::{Api, Fresh, record};

fn body(schema: &Value) -> Value {
    json!({ "schema": schema.to_string() })
}

pub(crate) async fn compatibility_levels_and_checks(fresh: Fresh) {
    let api = fresh.api();
    let v1 = record("User", json!([{ "name": "name", "type": "string" }]));
    let added_required = record(
        "User",
        json!([{ "name": "name", "type": "string" }, { "name": "age", "type": "int" }]),
    );
    api.register_avro("u", &v1).await;

    // Default BACKWARD: a new field without default cannot read old data.
    let answer = api
        .post("/subjects/u/versions", body(&added_required))
        .await;
    let message = answer.error(409, 409);
    assert!(
        message.contains("READER_FIELD_MISSING_DEFAULT_VALUE"),
        "{message}"
    );
    assert!(
        message.contains("incompatible with an earlier schema"),
        "{message}"
    );

    let answer = api
        .post(
            "/compatibility/subjects/u/versions/latest?verbose=true",
            body(&added_required),
        )
        .await;
    let report = answer.ok();
    assert_eq!(report["is_compatible"], false);
    let messages: Vec<&str> = report["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert!(
        messages[0].contains("READER_FIELD_MISSING_DEFAULT_VALUE"),
        "{messages:?}"
    );
    assert!(
        messages[0].contains("/fields/1"),
        "path shown: {messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("oldSchemaVersion: 1")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("compatibility: 'BACKWARD'")),
        "{messages:?}"
    );

    let answer = api
        .post("/compatibility/subjects/u/versions", body(&added_required))
        .await;
    assert_eq!(
        answer.ok(),
        &json!({ "is_compatible": false }),
        "messages only with verbose"
    );
    let answer = api
        .post("/compatibility/subjects/u/versions/1", body(&v1))
        .await;
    assert_eq!(answer.ok(), &json!({ "is_compatible": true }));
    api.post("/compatibility/subjects/u/versions/7", body(&v1))
        .await
        .error(404, 40402);
    api.post("/compatibility/subjects/nobody/versions/latest", body(&v1))
        .await
        .error(404, 40401);
    let answer = api
        .post("/compatibility/subjects/nobody/versions", body(&v1))
        .await;
    assert_eq!(answer.ok()["is_compatible"], true, "nothing to break");

    // FORWARD: the old schema reads new data, so a new required field is fine.
    api.put("/config/u", json!({ "compatibility": "FORWARD" }))
        .await
        .ok();
    assert_eq!(api.register_avro("u", &added_required).await, 2);
    // NONE: anything goes.
    let unrelated = record("User", json!([{ "name": "name", "type": "int" }]));
    api.post("/subjects/u/versions", body(&unrelated))
        .await
        .error(409, 409);
    api.put("/config/u", json!({ "compatibility": "none" }))
        .await
        .ok();
    assert_eq!(api.register_avro("u", &unrelated).await, 3);
}

/// BACKWARD checks the latest version only; BACKWARD_TRANSITIVE every live version.
pub(crate) async fn transitive_levels_check_every_version(fresh: Fresh) {
    let api = fresh.api();
    let with_a = record("R", json!([{ "name": "a", "type": "int" }]));
    let with_a_b = record(
        "R",
        json!([{ "name": "a", "type": "int" }, { "name": "b", "type": "int", "default": 1 }]),
    );
    let with_b = record("R", json!([{ "name": "b", "type": "int", "default": 1 }]));
    // b without default cannot read v1 (no b) but can read v2's data (has b).
    let b_required = record("R", json!([{ "name": "b", "type": "int" }]));
    api.register_avro("t", &with_a).await;
    api.register_avro("t", &with_a_b).await;
    api.register_avro("t", &with_b).await;

    api.put(
        "/config/t",
        json!({ "compatibility": "BACKWARD_TRANSITIVE" }),
    )
    .await
    .ok();
    let message = api
        .post("/subjects/t/versions", body(&b_required))
        .await
        .error(409, 409);
    assert!(message.contains("oldSchemaVersion: 1"), "{message}");
    let answer = api
        .post(
            "/compatibility/subjects/t/versions?verbose=true",
            body(&b_required),
        )
        .await;
    assert_eq!(answer.ok()["is_compatible"], false);

    api.put("/config/t", json!({ "compatibility": "BACKWARD" }))
        .await
        .ok();
    let answer = api
        .post("/compatibility/subjects/t/versions", body(&b_required))
        .await;
    assert_eq!(answer.ok()["is_compatible"], true, "latest only");
    assert_eq!(api.register_avro("t", &b_required).await, 4);
}

pub(crate) async fn config_endpoints(fresh: Fresh) {
    let api = fresh.api();
    assert_eq!(
        api.get("/config").await.ok(),
        &json!({ "compatibilityLevel": "BACKWARD" })
    );
    for level in [
        "BACKWARD",
        "BACKWARD_TRANSITIVE",
        "FORWARD",
        "FORWARD_TRANSITIVE",
        "FULL",
        "FULL_TRANSITIVE",
        "NONE",
    ] {
        let answer = api.put("/config", json!({ "compatibility": level })).await;
        assert_eq!(answer.ok(), &json!({ "compatibility": level }));
        assert_eq!(api.get("/config").await.ok()["compatibilityLevel"], level);
    }
    let message = api
        .put("/config", json!({ "compatibility": "SIDEWAYS" }))
        .await
        .error(422, 42203);
    assert!(
        message.contains("SIDEWAYS") && message.contains("FULL_TRANSITIVE"),
        "{message}"
    );
    api.put("/config", json!({})).await.error(422, 42203);

    let message = api.get("/config/s").await.error(404, 40408);
    assert_eq!(
        message,
        "Subject 's' does not have subject-level compatibility configured"
    );
    assert_eq!(
        api.get("/config/s?defaultToGlobal=true").await.ok(),
        &json!({ "compatibilityLevel": "NONE" })
    );
    api.put("/config/s", json!({ "compatibility": "FULL" }))
        .await
        .ok();
    assert_eq!(
        api.get("/config/s").await.ok(),
        &json!({ "compatibilityLevel": "FULL" })
    );
    assert_eq!(
        api.delete("/config/s").await.ok(),
        &json!({ "compatibilityLevel": "FULL" })
    );
    api.get("/config/s").await.error(404, 40408);
    api.delete("/config/s").await.error(404, 40401);

    assert_eq!(
        api.delete("/config").await.ok(),
        &json!({ "compatibilityLevel": "NONE" })
    );
    assert_eq!(
        api.get("/config").await.ok(),
        &json!({ "compatibilityLevel": "BACKWARD" })
    );
}

pub(crate) async fn normalize_registers_equivalent_schemas_once(fresh: Fresh) {
    let api: Api = fresh.api();
    let short = record("N", json!([{ "name": "x", "type": "string" }]));
    let long = json!({ "type": "record", "name": "N",
        "fields": [{ "name": "x", "type": { "type": "string" } }] });
    let a = api
        .post("/subjects/n/versions?normalize=true", body(&short))
        .await;
    let b = api
        .post("/subjects/n/versions?normalize=true", body(&long))
        .await;
    assert_eq!(a.ok()["id"], b.ok()["id"]);
    assert_eq!(api.get("/subjects/n/versions").await.ok(), &json!([1]));
    // Without normalize the long spelling is a different schema (same meaning: compatible).
    let c = api.post("/subjects/n/versions", body(&long)).await;
    assert_ne!(c.ok()["id"], a.ok()["id"]);
}
