//! CloudEvents in structured, batch and binary mode on `POST /v1/events`.

use reqwest::Method;
use serde_json::{Value, json};
use tributary_core::headers;

use crate::common::{self, Backend, Bed, answer};
use crate::{EventType, record_of, register, results, statuses};

/// 2024-05-01T12:00:00Z in ms.
const NOON: i64 = 1_714_564_800_000;

fn cloudevent(id: &str, kind: &str, source: &str, data: Value) -> Value {
    let mut event = json!({"specversion": "1.0", "id": id, "type": kind, "source": source});
    event["data"] = data;
    event
}

/// Every event goes to its own type's topic; `id` becomes the event id, `time` the record
/// timestamp, `source` the header `tributary.source`, `dataschema` the schema version.
pub(crate) fn cloudevents_are_routed_and_mapped(backend: Backend) {
    let mut bed = Bed::start(backend, &[]);
    let clicks = EventType::json(
        &bed,
        "clicks",
        json!({}),
        &json!({"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}}}),
    );
    let views = EventType::json(
        &bed,
        "views",
        json!({"compatibility": "NONE"}),
        &json!({"type": "object", "required": ["page"]}),
    );
    let views_v2 = register(
        &bed,
        &views.name,
        "JSON",
        &json!({"type": "object", "required": ["page"], "properties": {"page": {"type": "string"}}})
            .to_string(),
    );

    let mut structured = cloudevent("s-1", &clicks.name, "/e2e/structured", json!({"url": "/"}));
    structured["time"] = json!("2024-05-01T12:00:00Z");
    structured["datacontenttype"] = json!("application/json");
    let (status, body) = bed.post(
        "/v1/events",
        "application/cloudevents+json",
        structured.to_string(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(results(&body)[0]["event_id"], "s-1");

    let mut timed = cloudevent("b-1", &clicks.name, "/e2e/batch", json!({"url": "/b1"}));
    timed["time"] = json!("2024-05-01T12:00:01.5Z");
    let mut pinned = cloudevent("b-2", &views.name, "/e2e/batch", json!({"page": "p2"}));
    pinned["dataschema"] = json!(format!(
        "http://registry.example/subjects/{}-value/versions/1",
        views.name
    ));
    let bad_data = cloudevent("b-4", &clicks.name, "/e2e/batch", json!({"url": 5}));
    let unknown = common::fresh_type("unknown");
    let mut old_spec = cloudevent("b-6", &clicks.name, "/e2e/batch", json!({"url": "/b6"}));
    old_spec["specversion"] = json!("0.3");
    let batch = json!([
        timed,
        pinned,
        cloudevent("b-3", &views.name, "/e2e/batch", json!({"page": "p3"})),
        bad_data,
        cloudevent("b-5", &unknown, "/e2e/batch", json!({})),
        old_spec,
    ]);
    let (status, batch_answer) = bed.post(
        "/v1/events",
        "application/cloudevents-batch+json",
        batch.to_string(),
    );
    assert_eq!(status, 207, "{batch_answer}");
    assert_eq!(
        statuses(&batch_answer),
        [
            "accepted", "accepted", "accepted", "rejected", "rejected", "rejected"
        ]
    );
    let reasons: Vec<&Value> = results(&batch_answer)[3..]
        .iter()
        .map(|r| &r["reason"])
        .collect();
    assert_eq!(
        reasons,
        [
            &json!("schema_violation"),
            &json!("unknown_event_type"),
            &json!("malformed")
        ]
    );

    let binary = answer(
        bed.request(Method::POST, "/v1/events")
            .header("content-type", "application/json")
            .header("tributary-producer", "e2e")
            .header("ce-specversion", "1.0")
            .header("ce-id", "bin-1")
            .header("ce-type", &views.name)
            .header("ce-source", "/e2e/binary")
            .header("ce-time", "2024-05-01T12:00:02Z")
            .header("ce-dataschema", "1")
            .body(r#"{"page":"p4"}"#),
    );
    assert_eq!(binary.status, 200, "{:?}", binary.body);

    // Plain events pin a version with the query or the header.
    let (status, pinned_by_query) = bed.post(
        &format!("{}?schema_version=1", views.events()),
        "application/json",
        r#"{"page":"p5"}"#,
    );
    assert_eq!(status, 200, "{pinned_by_query}");
    let missing = answer(
        bed.request(Method::POST, &views.events())
            .header("content-type", "application/json")
            .header("tributary-schema-version", "9")
            .body(r#"{"page":"p6"}"#),
    );
    assert_eq!(missing.status, 422, "no version 9: {:?}", missing.body);

    let log = bed.log();
    let click_records = log.records(&clicks.name);
    let view_records = log.records(&views.name);
    assert_eq!(click_records.len(), 2, "{click_records:?}");
    assert_eq!(view_records.len(), 4, "{view_records:?}");
    let batch_verdicts = results(&batch_answer);
    // (records, verdict, event id, source, timestamp, schema version, schema id, data)
    #[rustfmt::skip]
    let expected = [
        (&click_records, &results(&body)[0], "s-1", "/e2e/structured", Some(NOON), "1", clicks.schema_id, json!({"url": "/"})),
        (&click_records, &batch_verdicts[0], "b-1", "/e2e/batch", Some(NOON + 1_500), "1", clicks.schema_id, json!({"url": "/b1"})),
        (&view_records, &batch_verdicts[1], "b-2", "/e2e/batch", None, "1", views.schema_id, json!({"page": "p2"})),
        (&view_records, &batch_verdicts[2], "b-3", "/e2e/batch", None, "2", views_v2, json!({"page": "p3"})),
        (&view_records, &results(&binary.body)[0], "bin-1", "/e2e/binary", Some(NOON + 2_000), "1", views.schema_id, json!({"page": "p4"})),
        // Not a CloudEvent: no id of its own, no source.
        (&view_records, &results(&pinned_by_query)[0], "", "", None, "1", views.schema_id, json!({"page": "p5"})),
    ];
    for (records, verdict, id, source, time, version, schema_id, data) in expected {
        let record = record_of(records, verdict);
        if id.is_empty() {
            assert_eq!(record.header("tributary.source"), None, "not a CloudEvent");
        } else {
            assert_eq!(record.event_id(), id);
            assert_eq!(record.header("tributary.source"), Some(source), "{id}");
        }
        assert_eq!(record.header(headers::PRODUCER), Some("e2e"), "{id}");
        assert_eq!(
            record.header(headers::SCHEMA_VERSION),
            Some(version),
            "{id}"
        );
        assert_eq!(record.framed_json(), (schema_id, data), "{id}");
        let received: i64 = record
            .header(headers::RECEIVED_AT)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(record.record.timestamp_ms, time.unwrap_or(received), "{id}");
    }

    // Bad data is dead-lettered as the envelope sent; the rest cannot be attributed to a type.
    let dead = log.dead_letters(&clicks.name);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].event_id(), "b-4");
    assert_eq!(dead[0].record.value, batch[3].to_string().as_bytes());
    assert_eq!(
        dead[0].header("tributary.dlq.reason"),
        Some("schema_violation")
    );
    assert_eq!(dead[0].header("tributary.source"), Some("/e2e/batch"));
    assert!(log.dead_letters(&views.name).is_empty());
    assert!(log.dead_letters(&unknown).is_empty());
}
