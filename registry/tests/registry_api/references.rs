//! Schema references: Avro named types and JSON Schema `$ref` to other subjects.

use serde_json::json;
use tributary_registry::Registry;

use crate::harness::{Fresh, record};

pub(crate) async fn avro_named_type_references(fresh: Fresh) {
    let api = fresh.api();
    let address = json!({ "type": "record", "name": "Address", "namespace": "shop",
        "fields": [{ "name": "street", "type": "string" }] });
    let address_id = api.register_avro("address", &address).await;
    let person = json!({ "type": "record", "name": "Person", "namespace": "shop",
        "fields": [{ "name": "name", "type": "string" }, { "name": "home", "type": "shop.Address" }] });
    let reference = json!([{ "name": "shop.Address", "subject": "address", "version": -1 }]);
    let answer = api
        .post(
            "/subjects/person/versions",
            json!({ "schema": person.to_string(), "references": reference }),
        )
        .await;
    let person_id = answer.ok()["id"].as_u64().unwrap();
    assert_ne!(person_id, address_id);

    let version = api.get("/subjects/person/versions/1").await;
    assert_eq!(
        version.ok()["references"],
        json!([{ "name": "shop.Address", "subject": "address", "version": 1 }]),
        "latest is stored as a concrete version"
    );
    let by_id = api.get(&format!("/schemas/ids/{person_id}")).await;
    assert_eq!(by_id.ok()["references"][0]["subject"], "address");
    assert_eq!(
        api.get("/subjects/address/versions/1/referencedby")
            .await
            .ok(),
        &json!([person_id])
    );
    assert_eq!(
        api.get("/subjects/person/versions/1/referencedby")
            .await
            .ok(),
        &json!([])
    );

    // Lookup with references finds it; a fresh instance compiles it, loading the reference.
    let concrete = json!([{ "name": "shop.Address", "subject": "address", "version": 1 }]);
    let answer = api
        .post(
            "/subjects/person",
            json!({ "schema": person.to_string(), "references": concrete }),
        )
        .await;
    assert_eq!(answer.ok()["id"], person_id);
    let other = Registry::new(fresh.connect().await);
    let compiled = other.compiled_by_id(person_id as u32).await.unwrap();
    assert!(
        compiled
            .validate_json(&json!({ "name": "n", "home": { "street": "s" } }))
            .is_empty()
    );

    // A referenced version cannot be deleted.
    let message = api
        .delete("/subjects/address/versions/1")
        .await
        .error(422, 42206);
    assert!(message.contains("references exist"), "{message}");
    api.delete("/subjects/address").await.error(422, 42206);
    api.delete("/subjects/person").await.ok();
    api.delete("/subjects/address/versions/1").await.ok();

    // References to nowhere, or without the reference at all.
    let missing = json!([{ "name": "shop.Address", "subject": "nowhere", "version": 1 }]);
    let message = api
        .post(
            "/subjects/p2/versions",
            json!({ "schema": person.to_string(), "references": missing }),
        )
        .await
        .error(422, 42201);
    assert!(
        message.contains("nowhere") && message.contains("not found"),
        "{message}"
    );
    let message = api
        .post(
            "/subjects/p2/versions",
            json!({ "schema": person.to_string() }),
        )
        .await
        .error(422, 42201);
    assert!(message.contains("shop.Address"), "{message}");
}

pub(crate) async fn json_schema_references(fresh: Fresh) {
    let api = fresh.api();
    let address = json!({ "type": "object", "properties": { "street": { "type": "string" } },
        "required": ["street"] });
    api.post(
        "/subjects/addr/versions",
        json!({ "schemaType": "JSON", "schema": address.to_string() }),
    )
    .await
    .ok();
    let customer = json!({ "type": "object", "properties": { "to": { "$ref": "address.json" } } });
    let references = json!([{ "name": "address.json", "subject": "addr", "version": 1 }]);
    let answer = api
        .post(
            "/subjects/customer/versions",
            json!({ "schemaType": "JSON", "schema": customer.to_string(), "references": references }),
        )
        .await;
    let id = answer.ok()["id"].as_u64().unwrap() as u32;
    let compiled = api.registry.compiled_by_id(id).await.unwrap();
    assert!(
        compiled
            .validate_json(&json!({ "to": { "street": "x" } }))
            .is_empty()
    );
    assert!(!compiled.validate_json(&json!({ "to": {} })).is_empty());

    let nowhere = json!({ "type": "object", "properties": { "to": { "$ref": "other.json" } } });
    let message = api
        .post(
            "/subjects/c2/versions",
            json!({ "schemaType": "JSON", "schema": nowhere.to_string() }),
        )
        .await
        .error(422, 42201);
    assert!(message.contains("other.json"), "{message}");
    // A JSON schema cannot reference an Avro one.
    api.register_avro("avro-thing", &record("T", json!([])))
        .await;
    let wrong = json!([{ "name": "t.json", "subject": "avro-thing", "version": 1 }]);
    api.post(
        "/subjects/c3/versions",
        json!({ "schemaType": "JSON", "schema": "{}", "references": wrong }),
    )
    .await
    .error(422, 42201);
}

/// The API cannot create a cycle (references name existing versions), but stored data
/// might hold one; loading it is an error, not a hang.
pub(crate) async fn stored_reference_cycle_is_an_error(fresh: Fresh) {
    let api = fresh.api();
    for (id, refers_to, fingerprint) in [(50i64, "b", "fa"), (51, "a", "fb")] {
        let references =
            format!(r#"[{{"name":"{refers_to}.json","subject":"{refers_to}","version":1}}]"#);
        sqlx::query(
            "INSERT INTO registry_schemas (id, schema_type, schema_text, canonical_text, \
             references_json, fingerprint, normalized_fingerprint, created_at_ms) \
             VALUES ($1, 'JSON', '{}', '{}', $2, $3, $3, 0)",
        )
        .bind(id)
        .bind(references)
        .bind(fingerprint)
        .execute(fresh.db.pool())
        .await
        .unwrap();
    }
    for (subject, id) in [("a", 51i64), ("b", 50)] {
        sqlx::query(
            "INSERT INTO registry_subject_versions (subject, version, schema_id, deleted, created_at_ms) \
             VALUES ($1, 1, $2, 0, 0)",
        )
        .bind(subject)
        .bind(id)
        .execute(fresh.db.pool())
        .await
        .unwrap();
    }
    let error = api.registry.compiled_by_id(50).await.unwrap_err();
    assert_eq!(error.confluent_code(), 42201);
    assert!(error.to_string().contains("cycle"), "{error}");
    let references = json!([{ "name": "a.json", "subject": "a", "version": 1 }]);
    let message = api
        .post(
            "/subjects/c/versions",
            json!({ "schemaType": "JSON", "schema": "{}", "references": references }),
        )
        .await
        .error(422, 42201);
    assert!(message.contains("reference cycle"), "{message}");
}
