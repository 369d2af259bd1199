//! READWRITE, READONLY and IMPORT modes.

use serde_json::json;

use crate::harness::{Fresh, record};

pub(crate) async fn readonly_refuses_writes(fresh: Fresh) {
    let api = fresh.api();
    let schema = record("M", json!([{ "name": "a", "type": "int" }]));
    api.put("/config", json!({ "compatibility": "NONE" }))
        .await
        .ok();
    api.register_avro("s", &schema).await;
    assert_eq!(api.get("/mode").await.ok(), &json!({ "mode": "READWRITE" }));
    let message = api.get("/mode/s").await.error(404, 40409);
    assert_eq!(
        message,
        "Subject 's' does not have subject-level mode configured"
    );
    assert_eq!(
        api.get("/mode/s?defaultToGlobal=true").await.ok(),
        &json!({ "mode": "READWRITE" })
    );

    assert_eq!(
        api.put("/mode", json!({ "mode": "READONLY" })).await.ok(),
        &json!({ "mode": "READONLY" })
    );
    let body = json!({ "schema": record("M2", json!([])).to_string() });
    let message = api
        .post("/subjects/s/versions", body.clone())
        .await
        .error(422, 42205);
    assert!(message.contains("read-only"), "{message}");
    api.delete("/subjects/s").await.error(422, 42205);
    api.delete("/subjects/s/versions/1").await.error(422, 42205);
    api.get("/subjects/s/versions/1").await.ok();
    api.post("/subjects/s", json!({ "schema": schema.to_string() }))
        .await
        .ok();

    let message = api
        .put("/mode", json!({ "mode": "SIDEWAYS" }))
        .await
        .error(422, 42204);
    assert!(message.contains("SIDEWAYS"), "{message}");
    api.put("/mode", json!({ "mode": "READWRITE" })).await.ok();

    // Subject-level mode wins over the global one.
    api.put("/mode/s", json!({ "mode": "READONLY" })).await.ok();
    assert_eq!(
        api.get("/mode/s").await.ok(),
        &json!({ "mode": "READONLY" })
    );
    api.post("/subjects/s/versions", body.clone())
        .await
        .error(422, 42205);
    api.post("/subjects/t/versions", body.clone()).await.ok();
    assert_eq!(
        api.delete("/mode/s").await.ok(),
        &json!({ "mode": "READONLY" })
    );
    api.post("/subjects/s/versions", body).await.ok();
    api.delete("/mode/nobody").await.error(404, 40401);
}

pub(crate) async fn import_keeps_ids_and_versions(fresh: Fresh) {
    let api = fresh.api();
    let a = record("I", json!([{ "name": "a", "type": "int" }]));
    let b = record("I", json!([{ "name": "a", "type": "string" }]));
    let c = record("I", json!([{ "name": "c", "type": "long" }]));
    let d = record("I", json!([{ "name": "d", "type": "long" }]));
    api.register_avro("existing", &a).await;

    let message = api
        .put("/mode", json!({ "mode": "IMPORT" }))
        .await
        .error(422, 42205);
    assert!(message.contains("existing subjects"), "{message}");
    api.post(
        "/subjects/imp/versions",
        json!({ "schema": b.to_string(), "id": 100 }),
    )
    .await
    .error(422, 42205);
    api.put("/mode?force=true", json!({ "mode": "IMPORT" }))
        .await
        .ok();

    let answer = api
        .post(
            "/subjects/imp/versions",
            json!({ "schema": b.to_string(), "id": 100, "version": 5 }),
        )
        .await;
    assert_eq!(answer.ok(), &json!({ "id": 100 }));
    let version = api.get("/subjects/imp/versions/5").await;
    assert_eq!(
        (
            version.ok()["id"].as_u64(),
            version.ok()["version"].as_u64()
        ),
        (Some(100), Some(5))
    );
    // Incompatible schemas are imported without checks.
    let answer = api
        .post(
            "/subjects/imp/versions",
            json!({ "schema": c.to_string(), "id": 7, "version": 6 }),
        )
        .await;
    assert_eq!(answer.ok()["id"], 7);

    let message = api
        .post(
            "/subjects/imp/versions",
            json!({ "schema": d.to_string(), "id": 100 }),
        )
        .await
        .error(422, 42205);
    assert!(
        message.contains("Overwrite new schema with id 100"),
        "{message}"
    );
    api.post(
        "/subjects/imp/versions",
        json!({ "schema": b.to_string(), "id": 8 }),
    )
    .await
    .error(422, 42205);
    api.post(
        "/subjects/imp/versions",
        json!({ "schema": d.to_string(), "id": 9, "version": 5 }),
    )
    .await
    .error(422, 42205);

    // Ids allocated later never collide with imported ones.
    api.put("/mode", json!({ "mode": "READWRITE" })).await.ok();
    api.put("/config/fresh", json!({ "compatibility": "NONE" }))
        .await
        .ok();
    assert_eq!(api.register_avro("fresh", &d).await, 101);
    assert_eq!(api.get("/subjects/fresh/versions").await.ok(), &json!([1]));
}
