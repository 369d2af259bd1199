//! Soft and permanent deletes of versions and subjects.

use serde_json::json;

use crate::harness::{Fresh, record};

pub(crate) async fn soft_and_permanent_version_deletes(fresh: Fresh) {
    let api = fresh.api();
    api.put("/config", json!({ "compatibility": "NONE" }))
        .await
        .ok();
    let s1 = record("A", json!([{ "name": "a", "type": "int" }]));
    let s2 = record("A", json!([{ "name": "a", "type": "string" }]));
    let s3 = record("A", json!([{ "name": "a", "type": "long" }]));
    assert_eq!(api.register_avro("s", &s1).await, 1);
    assert_eq!(api.register_avro("s", &s2).await, 2);

    assert_eq!(api.delete("/subjects/s/versions/1").await.ok(), &json!(1));
    assert_eq!(api.get("/subjects/s/versions").await.ok(), &json!([2]));
    assert_eq!(
        api.get("/subjects/s/versions?deleted=true").await.ok(),
        &json!([1, 2])
    );
    assert_eq!(
        api.get("/subjects/s/versions?deletedOnly=true").await.ok(),
        &json!([1])
    );
    api.get("/subjects/s/versions/1").await.error(404, 40402);
    let answer = api.get("/subjects/s/versions/1?deleted=true").await;
    assert_eq!(answer.ok()["id"], 1);
    assert_eq!(
        api.get("/schemas/ids/1").await.status,
        200,
        "soft-deleted ids stay readable"
    );
    api.get("/schemas/ids/1/versions").await.ok();
    assert_eq!(api.get("/schemas/ids/1/subjects").await.ok(), &json!([]));
    assert_eq!(
        api.get("/schemas/ids/1/subjects?deleted=true").await.ok(),
        &json!(["s"])
    );

    let message = api.delete("/subjects/s/versions/1").await.error(404, 40406);
    assert!(message.contains("soft deleted"), "{message}");
    let message = api
        .delete("/subjects/s/versions/2?permanent=true")
        .await
        .error(404, 40407);
    assert!(message.contains("not deleted first"), "{message}");
    assert_eq!(
        api.delete("/subjects/s/versions/1?permanent=true")
            .await
            .ok(),
        &json!(1)
    );
    assert_eq!(
        api.get("/subjects/s/versions?deleted=true").await.ok(),
        &json!([2])
    );
    api.get("/schemas/ids/1").await.error(404, 40403);

    // Numbers are never reused while a higher one exists.
    assert_eq!(api.register_avro("s", &s3).await, 3);
    assert_eq!(api.get("/subjects/s/versions").await.ok(), &json!([2, 3]));
    assert_eq!(
        api.delete("/subjects/s/versions/latest").await.ok(),
        &json!(3)
    );
    api.delete("/subjects/s/versions/9").await.error(404, 40402);
    api.delete("/subjects/nobody/versions/1")
        .await
        .error(404, 40401);
    api.delete("/subjects/s/versions/zero")
        .await
        .error(422, 42202);

    // Re-registering a schema whose version was soft-deleted makes a new version, same id.
    assert_eq!(api.register_avro("s", &s3).await, 3);
    assert_eq!(api.get("/subjects/s/versions").await.ok(), &json!([2, 4]));
}

pub(crate) async fn soft_and_permanent_subject_deletes(fresh: Fresh) {
    let api = fresh.api();
    let s1 = record("B", json!([{ "name": "a", "type": "int" }]));
    let s2 = record(
        "B",
        json!([{ "name": "a", "type": "int" }, { "name": "b", "type": "int", "default": 0 }]),
    );
    api.register_avro("s", &s1).await;
    api.register_avro("s", &s2).await;
    api.register_avro("keep", &s2).await;
    api.put("/config/s", json!({ "compatibility": "FULL" }))
        .await
        .ok();

    let message = api
        .delete("/subjects/s?permanent=true")
        .await
        .error(404, 40405);
    assert!(message.contains("not deleted first"), "{message}");
    assert_eq!(api.delete("/subjects/s").await.ok(), &json!([1, 2]));
    assert_eq!(api.get("/subjects").await.ok(), &json!(["keep"]));
    assert_eq!(
        api.get("/subjects?deleted=true").await.ok(),
        &json!(["keep", "s"])
    );
    assert_eq!(
        api.get("/subjects?deletedOnly=true").await.ok(),
        &json!(["s"])
    );
    let message = api.delete("/subjects/s").await.error(404, 40404);
    assert_eq!(
        message,
        "Subject 's' was soft deleted. Set permanent=true to delete permanently"
    );
    api.get("/subjects/s/versions").await.error(404, 40401);
    api.get("/subjects/s/versions/latest")
        .await
        .error(404, 40401);
    api.delete("/subjects/nobody").await.error(404, 40401);

    // Back after a soft delete: numbering goes on, the schema keeps its id.
    assert_eq!(api.register_avro("s", &s1).await, 1);
    assert_eq!(api.get("/subjects/s/versions").await.ok(), &json!([3]));
    assert_eq!(api.delete("/subjects/s").await.ok(), &json!([3]));
    assert_eq!(
        api.delete("/subjects/s?permanent=true").await.ok(),
        &json!([1, 2, 3])
    );
    assert_eq!(
        api.get("/subjects?deleted=true").await.ok(),
        &json!(["keep"])
    );
    api.get("/config/s").await.error(404, 40408);
    api.get("/schemas/ids/1").await.error(404, 40403);
    assert_eq!(
        api.get("/schemas/ids/2").await.status,
        200,
        "still used by keep"
    );

    // After a permanent delete numbering restarts, as in Confluent; ids stay stable.
    assert_eq!(api.register_avro("s", &s1).await, 1);
    assert_eq!(api.get("/subjects/s/versions").await.ok(), &json!([1]));
}
