//! `[auth] mode = "keys"`: a producer's key publishes the types its grants match, as that
//! producer; anything else is refused before a byte is written.

use reqwest::Method;
use serde_json::{Value, json};
use tributary_core::headers;

use crate::common::{Backend, Bed, answer, unique};
use crate::{EventType, post_json, record_of, results, statuses};

const ADMIN_KEY: &str = "admin-key-for-e2e-tests-0123456789abcdef01234567";

pub(crate) fn keys_mode_publishes_only_granted_types(backend: Backend) {
    let mut bed = Bed::start(
        backend,
        &[
            ("TRIBUTARY_AUTH__MODE", "keys"),
            ("TRIBUTARY_AUTH__ADMIN_KEY", ADMIN_KEY),
        ],
    );
    let domain = format!("e2e_{}", unique());
    let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}}}).to_string();
    let create = |name: String| {
        EventType::create_named(&bed, Some(ADMIN_KEY), name, json!({}), "JSON", &schema)
    };
    let granted = create(format!("{domain}_orders.placed"));
    let ungranted = create(format!("{domain}_payments.charged"));

    let producer =
        json!({"name": "checkout", "owner": "e2e", "grants": [format!("{domain}_orders.*")]});
    let (status, body) = post_json(&bed, Some(ADMIN_KEY), "/v1/producers", &producer);
    assert_eq!(status, 201, "{body}");
    let (status, key) = post_json(
        &bed,
        Some(ADMIN_KEY),
        "/v1/producers/checkout/keys",
        &json!({}),
    );
    assert_eq!(status, 201, "{key}");
    let secret = key["key"]
        .as_str()
        .expect("the key is shown once")
        .to_owned();

    // The key's producer is recorded; the header naming another one is ignored.
    let publish = |event_type: &EventType, n: i64| {
        answer(
            bed.request(Method::POST, &event_type.events())
                .bearer_auth(&secret)
                .header("content-type", "application/json")
                .header("tributary-producer", "someone-else")
                .body(json!({"n": n}).to_string()),
        )
    };
    let accepted = publish(&granted, 1);
    assert_eq!(accepted.status, 200, "a granted type: {:?}", accepted.body);
    let refused = publish(&ungranted, 2);
    assert_eq!(refused.status, 403, "not granted: {:?}", refused.body);
    assert_eq!(refused.header("content-type"), "application/problem+json");
    assert_eq!(refused.body["code"], "forbidden");

    // CloudEvents name their types in the events: an ungranted one is refused on its own.
    let cloudevent = |id: &str, kind: &str| json!({"specversion": "1.0", "id": id, "source": "/checkout", "type": kind, "data": {"n": 5}});
    let batch = json!([
        cloudevent("ce-1", &granted.name),
        cloudevent("ce-2", &ungranted.name)
    ]);
    let mixed = answer(
        bed.request(Method::POST, "/v1/events")
            .bearer_auth(&secret)
            .header("content-type", "application/cloudevents-batch+json")
            .body(batch.to_string()),
    );
    assert_eq!(mixed.status, 207, "{:?}", mixed.body);
    assert_eq!(statuses(&mixed.body), ["accepted", "rejected"]);
    assert_eq!(results(&mixed.body)[1]["reason"], "forbidden");

    let key_id = match &key["id"] {
        Value::String(id) => id.clone(),
        id => id.to_string(),
    };
    let revoke = answer(
        bed.request(
            Method::DELETE,
            &format!("/v1/producers/checkout/keys/{key_id}"),
        )
        .bearer_auth(ADMIN_KEY),
    );
    assert_eq!(revoke.status, 204, "{:?}", revoke.body);
    let revoked = publish(&granted, 3);
    assert_eq!(revoked.status, 401, "a revoked key: {:?}", revoked.body);
    assert_eq!(revoked.body["code"], "unauthenticated");

    // The admin key publishes anything, as the producer it names (it is trusted).
    let admin = answer(
        bed.request(Method::POST, &ungranted.events())
            .bearer_auth(ADMIN_KEY)
            .header("content-type", "application/json")
            .header("tributary-producer", "ops")
            .body(r#"{"n":4}"#),
    );
    assert_eq!(admin.status, 200, "{:?}", admin.body);

    let log = bed.log();
    let records = log.records(&granted.name);
    assert_eq!(records.len(), 2, "only the accepted events: {records:?}");
    let verdicts = [&results(&accepted.body)[0], &results(&mixed.body)[0]];
    for (verdict, n) in verdicts.into_iter().zip([1, 5]) {
        let record = record_of(&records, verdict);
        assert_eq!(record.framed_json(), (granted.schema_id, json!({ "n": n })));
        assert_eq!(record.header(headers::PRODUCER), Some("checkout"));
        assert_eq!(record.header(headers::PRODUCER_AUTHENTICATED), Some("true"));
    }
    let ungranted_records = log.records(&ungranted.name);
    assert_eq!(
        ungranted_records.len(),
        1,
        "a 403 writes nothing: {ungranted_records:?}"
    );
    let record = record_of(&ungranted_records, &results(&admin.body)[0]);
    assert_eq!(record.framed_json().1, json!({"n": 4}));
    assert_eq!(record.header(headers::PRODUCER), Some("ops"));
    assert_eq!(record.header(headers::PRODUCER_AUTHENTICATED), Some("true"));
    assert!(log.dead_letters(&granted.name).is_empty());
    assert!(log.dead_letters(&ungranted.name).is_empty());
}
