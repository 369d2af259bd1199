//! Only the owning team or an admin changes an event type or its subject, on both APIs.

use axum::http::Method;
use serde_json::json;

use crate::harness::{Fresh, avro};

pub(crate) async fn patch_and_delete_need_the_owner_or_an_admin(fresh: Fresh) {
    let api = fresh.api();
    // A team creates only what it owns; producers create nothing.
    let body = json!({ "name": "pay.refunded", "owner": "payments" });
    for principal in ["team:search", "producer:checkout"] {
        api.json(Method::POST, "/v1/event-types", Some(principal), &body)
            .await
            .problem(403, "forbidden");
    }
    api.json(
        Method::POST,
        "/v1/event-types",
        Some("team:payments"),
        &body,
    )
    .await
    .ok(201);

    let path = "/v1/event-types/pay.refunded";
    let patch = json!({ "description": "refunds" });
    let answer = api
        .json(Method::PATCH, path, Some("team:search"), &patch)
        .await;
    let detail = answer.problem(403, "forbidden")["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        detail.contains("team:search") && detail.contains("payments"),
        "{detail}"
    );
    api.json(Method::PATCH, path, Some("producer:payments"), &patch)
        .await
        .problem(403, "forbidden");
    api.json(Method::PATCH, path, Some("team:payments"), &patch)
        .await
        .ok(200);
    api.json(
        Method::PATCH,
        path,
        Some("admin"),
        &json!({ "description": "by admin" }),
    )
    .await
    .ok(200);
    // No header: the unauthenticated local admin.
    api.json(
        Method::PATCH,
        path,
        None,
        &json!({ "description": "local" }),
    )
    .await
    .ok(200);

    // Handing over: the new owner changes it, the old one no longer does.
    api.json(
        Method::PATCH,
        path,
        Some("team:payments"),
        &json!({ "owner": "billing" }),
    )
    .await
    .ok(200);
    api.json(Method::PATCH, path, Some("team:payments"), &patch)
        .await
        .problem(403, "forbidden");
    api.delete(path, Some("team:payments"))
        .await
        .problem(403, "forbidden");
    assert_eq!(api.delete(path, Some("team:billing")).await.status, 204);

    let audit = api.audit("pay.refunded").await;
    let actors: Vec<_> = audit.iter().map(|e| e["actor"].as_str().unwrap()).collect();
    assert_eq!(
        actors,
        [
            "team:billing",
            "team:payments",
            "local-admin",
            "admin",
            "team:payments",
            "team:payments"
        ]
    );
}

pub(crate) async fn confluent_writes_need_the_owner(fresh: Fresh) {
    let api = fresh.api();
    api.create(json!({ "name": "pay.refunded", "owner": "payments" }))
        .await;
    let subject = "pay.refunded-value";
    let schema = json!({ "schema": avro("Refund", json!([{ "name": "id", "type": "string" }])) });
    let versions = format!("/subjects/{subject}/versions");

    let answer = api
        .json(Method::POST, &versions, Some("team:search"), &schema)
        .await;
    let message = answer.confluent_error(403, 40301);
    assert!(
        message.contains(subject) && message.contains("payments"),
        "{message}"
    );
    assert_eq!(
        answer.content_type,
        "application/vnd.schemaregistry.v1+json"
    );
    let answer = api
        .json(Method::POST, &versions, Some("team:payments"), &schema)
        .await;
    assert_eq!(answer.ok(200)["id"], 1);

    // Every subject-scoped write route is guarded.
    let config = json!({ "compatibility": "NONE" });
    let mode = json!({ "mode": "READONLY" });
    let guarded = [
        (
            Method::PUT,
            format!("/config/{subject}"),
            Some(config.clone()),
        ),
        (Method::DELETE, format!("/config/{subject}"), None),
        (Method::PUT, format!("/mode/{subject}"), Some(mode.clone())),
        (Method::DELETE, format!("/mode/{subject}"), None),
        (
            Method::DELETE,
            format!("/subjects/{subject}/versions/1"),
            None,
        ),
        (Method::DELETE, format!("/subjects/{subject}"), None),
    ];
    for (method, path, body) in &guarded {
        let body = body.clone().unwrap_or(json!({}));
        let answer = api
            .json(method.clone(), path, Some("team:search"), &body)
            .await;
        answer.confluent_error(403, 40301);
    }
    // Reads stay open to anyone.
    let answer = api
        .send(
            Method::GET,
            &versions,
            Some("team:search"),
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(answer.ok(200), &json!([1]));

    // The owner may; a soft-deleted event type still guards its subject.
    api.delete("/v1/event-types/pay.refunded", Some("team:payments"))
        .await;
    api.json(
        Method::PUT,
        &format!("/config/{subject}"),
        Some("team:search"),
        &config,
    )
    .await
    .confluent_error(403, 40301);
    let answer = api
        .json(
            Method::PUT,
            &format!("/config/{subject}"),
            Some("team:payments"),
            &config,
        )
        .await;
    assert_eq!(answer.ok(200)["compatibility"], "NONE");

    // The key subject of the topic belongs to the event type too.
    api.json(
        Method::POST,
        "/subjects/pay.refunded-key/versions",
        Some("team:search"),
        &schema,
    )
    .await
    .confluent_error(403, 40301);

    // A subject of no event type is open to anyone, as in Confluent.
    let answer = api
        .json(
            Method::POST,
            "/subjects/free-value/versions",
            Some("producer:x"),
            &schema,
        )
        .await;
    assert_eq!(answer.ok(200)["id"], 1);
    let answer = api
        .json(
            Method::PUT,
            "/config/free-value",
            Some("team:search"),
            &config,
        )
        .await;
    answer.ok(200);
}

pub(crate) async fn global_settings_need_an_admin(fresh: Fresh) {
    let api = fresh.api();
    let config = json!({ "compatibility": "FULL" });
    for principal in ["team:payments", "producer:x"] {
        api.json(Method::PUT, "/config", Some(principal), &config)
            .await
            .confluent_error(403, 40301);
        api.json(
            Method::PUT,
            "/mode",
            Some(principal),
            &json!({ "mode": "READONLY" }),
        )
        .await
        .confluent_error(403, 40301);
        api.json(Method::DELETE, "/config", Some(principal), &json!({}))
            .await
            .confluent_error(403, 40301);
    }
    api.json(Method::PUT, "/config", Some("admin"), &config)
        .await
        .ok(200);
    let answer = api.get("/config").await;
    assert_eq!(answer.ok(200)["compatibilityLevel"], "FULL");
}

pub(crate) async fn principal_header(fresh: Fresh) {
    let api = fresh.api();
    for bad in ["root", "team:", "team:Bad Name", "user:x"] {
        let answer = api
            .send(Method::GET, "/v1/event-types", Some(bad), None, Vec::new())
            .await;
        let detail = answer.problem(400, "bad_request")["detail"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(detail.contains("tributary-principal"), "{detail}");
        // On the Confluent routes too.
        let answer = api
            .send(Method::GET, "/subjects", Some(bad), None, Vec::new())
            .await;
        answer.problem(400, "bad_request");
    }
}
