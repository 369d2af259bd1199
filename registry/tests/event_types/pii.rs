//! PII marks: only the owners or an admin replace the set, pointers are checked, marks that
//! stay keep who marked them, every change is audited on the event type.

use axum::http::Method;
use serde_json::{Value, json};

use crate::harness::Fresh;

fn pointers(body: &Value) -> Vec<&str> {
    body["pointers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["pointer"].as_str().unwrap())
        .collect()
}

pub(crate) async fn pii_marks_are_owned_checked_and_audited(fresh: Fresh) {
    let api = fresh.api();
    api.create(json!({ "name": "orders.placed", "owner": "orders" }))
        .await;
    let path = "/v1/event-types/orders.placed/pii";
    let empty = api.get(path).await;
    assert_eq!(empty.ok(200), &json!({ "pointers": [] }));

    let body = json!({ "pointers": ["/items/*/card", "/email", "/email"] });
    for stranger in ["team:search", "producer:orders"] {
        api.json(Method::PUT, path, Some(stranger), &body)
            .await
            .problem(403, "forbidden");
    }
    let set = api
        .json(Method::PUT, path, Some("team:orders"), &body)
        .await;
    let set = set.ok(200);
    assert_eq!(pointers(set), ["/email", "/items/*/card"]);
    assert_eq!(set["pointers"][0]["marked_by"], "team:orders");
    let first_at = set["pointers"][0]["marked_at_ms"].as_i64().unwrap();
    assert!(first_at > 0);
    assert_eq!(api.get(path).await.ok(200), set);

    // A mark that stays keeps who made it; a new one is the admin's; a dropped one goes.
    let next = json!({ "pointers": ["/email", "/customer/name"] });
    let answer = api.json(Method::PUT, path, Some("admin"), &next).await;
    let changed = answer.ok(200);
    assert_eq!(pointers(changed), ["/customer/name", "/email"]);
    assert_eq!(changed["pointers"][0]["marked_by"], "admin");
    assert_eq!(changed["pointers"][1]["marked_by"], "team:orders");
    assert_eq!(changed["pointers"][1]["marked_at_ms"], first_at);

    // The same set again changes (and audits) nothing.
    api.json(Method::PUT, path, Some("admin"), &next)
        .await
        .ok(200);
    let audit = api.audit("orders.placed").await;
    let pii: Vec<&Value> = audit
        .iter()
        .filter(|e| e["action"] == "event_type.pii")
        .collect();
    assert_eq!(pii.len(), 2, "{audit:?}");
    assert_eq!(pii[0]["target_kind"], "event_type");
    assert_eq!(pii[0]["target"], "orders.placed");
    assert_eq!(pii[0]["actor"], "admin");
    assert_eq!(
        pii[0]["before"],
        json!({ "pii": ["/email", "/items/*/card"] })
    );
    assert_eq!(
        pii[0]["after"],
        json!({ "pii": ["/customer/name", "/email"] })
    );

    // Refusals name the pointer.
    for (bad, field) in [
        (json!({ "pointers": ["/ok", "email"] }), "pointers[1]"),
        (json!({ "pointers": [""] }), "pointers[0]"),
        (json!({ "pointers": ["/a~2"] }), "pointers[0]"),
        (
            json!({ "pointers": [format!("/{}", "x".repeat(1024))] }),
            "pointers[0]",
        ),
        (
            json!({ "pointers": (0..1001).map(|i| format!("/f{i}")).collect::<Vec<_>>() }),
            "pointers",
        ),
    ] {
        api.json(Method::PUT, path, Some("admin"), &bad)
            .await
            .invalid(field);
    }
    api.json(Method::PUT, path, Some("admin"), &json!({ "fields": [] }))
        .await
        .problem(422, "unprocessable");
    api.json(Method::PUT, path, Some("admin"), &json!({ "pointers": [] }))
        .await
        .ok(200);
    assert_eq!(api.get(path).await.ok(200), &json!({ "pointers": [] }));

    // Unknown and deleted types are 404.
    api.get("/v1/event-types/orders.missing/pii")
        .await
        .problem(404, "not_found");
    api.json(
        Method::PUT,
        "/v1/event-types/orders.missing/pii",
        Some("admin"),
        &body,
    )
    .await
    .problem(404, "not_found");
    assert_eq!(
        api.delete("/v1/event-types/orders.placed", Some("admin"))
            .await
            .status,
        204
    );
    api.get(path).await.problem(404, "not_found");
}
