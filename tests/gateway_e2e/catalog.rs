//! Per-type settings from the catalog (shadow candidate, maximum event size) and Avro types.

use std::time::Duration;

use serde_json::json;
use tributary_core::headers;

use crate::common::{Backend, Bed, sample};
use crate::{EventType, record_of, register, results};

/// How long the gateway trusts event-type metadata in these tests, so that changes show soon.
const METADATA_TTL: (&str, &str) = ("TRIBUTARY_GATEWAY__METADATA_TTL", "100ms");

/// A shadow candidate (the version before it stays in force, what the candidate would reject
/// is reported) and a maximum event size (larger events are rejected `too_large` and not
/// dead-lettered).
pub(crate) fn shadow_candidate_and_type_limits(backend: Backend) {
    let mut bed = Bed::start(backend, &[METADATA_TTL]);
    let loose = json!({"type": "object", "properties": {"amount": {"type": "number"}}});
    let strict = json!({"type": "object", "properties": {"amount": {"type": "number", "minimum": 0}},
                        "required": ["amount", "currency"]});
    let shadowed = EventType::json(
        &bed,
        "shadowed",
        json!({"enforcement": "shadow", "compatibility": "NONE"}),
        &loose,
    );
    register(&bed, &shadowed.name, "JSON", &strict.to_string());
    let path = format!("/v1/event-types/{}", shadowed.name);
    let (status, body) = bed.patch(&path, &json!({"shadow_version": 3}));
    assert_eq!(status, 422, "{body}");
    let (status, body) = bed.patch(&path, &json!({"shadow_version": 2}));
    assert_eq!(status, 200, "{body}");
    std::thread::sleep(Duration::from_millis(300));

    let events = shadowed.events();
    let (status, shadow) = bed.post(&events, "application/json", r#"{"amount":-1}"#);
    assert_eq!(status, 200, "version 1 is in force: {shadow}");
    let pointers: Vec<&str> = results(&shadow)[0]["shadow_violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["pointer"].as_str().unwrap())
        .collect();
    assert!(pointers.contains(&"/amount"), "{shadow}");
    let (status, body) = bed.post(&events, "application/json", r#"{"amount":"x"}"#);
    assert_eq!(status, 207, "{body}");
    assert_eq!(results(&body)[0]["reason"], "schema_violation");

    let (status, body) = bed.patch(&path, &json!({"max_event_bytes": 40}));
    assert_eq!(status, 200, "{body}");
    std::thread::sleep(Duration::from_millis(300));
    let long = json!({"amount": 1, "note": "x".repeat(64)}).to_string();
    let (status, sized) = bed.post(
        &events,
        "application/x-ndjson",
        format!("{{\"amount\":2}}\n{long}"),
    );
    assert_eq!(status, 207, "{sized}");
    assert_eq!(results(&sized)[0]["status"], "accepted");
    assert_eq!(results(&sized)[1]["reason"], "too_large");
    assert_eq!(results(&sized)[1]["dead_lettered"], false);

    let metrics = bed.metrics();
    let label = format!("event_type=\"{}\"", shadowed.name);
    assert_eq!(
        sample(
            &metrics,
            "tributary_gateway_shadow_violations_total",
            &[&label]
        ),
        Some(2.0),
        "{metrics}"
    );

    let log = bed.log();
    let records = log.records(&shadowed.name);
    assert_eq!(records.len(), 2, "{records:?}");
    for verdict in [&results(&shadow)[0], &results(&sized)[0]] {
        let record = record_of(&records, verdict);
        assert_eq!(record.header(headers::SCHEMA_VERSION), Some("1"));
        assert_eq!(record.framed().0, shadowed.schema_id);
    }
    let dead = log.dead_letters(&shadowed.name);
    assert_eq!(dead.len(), 1, "too large is not dead-lettered: {dead:?}");
    assert_eq!(dead[0].record.value, r#"{"amount":"x"}"#.as_bytes());
}

/// Avro bodies, plain datums and Confluent-framed ones, are written as Avro binary framed
/// with the schema id; a truncated datum is a 400 and writes nothing.
pub(crate) fn avro_bodies(backend: Backend) {
    let mut bed = Bed::start(backend, &[]);
    let schema = r#"{"type":"record","name":"Click","fields":[{"name":"url","type":"string"},{"name":"n","type":"int"}]}"#;
    let clicks = EventType::create(&bed, "avro_clicks", json!({}), "AVRO", schema);
    let id = clicks.schema_id;
    // {"url": "/a", "n": 1} and {"url": "/bc", "n": -2}, by hand: zig-zag lengths and ints.
    let a = vec![4, b'/', b'a', 2];
    let b = vec![6, b'/', b'b', b'c', 3];
    let events = clicks.events();
    let (status, plain) = bed.post(&events, "application/avro", [a.clone(), b.clone()].concat());
    assert_eq!(status, 200, "{plain}");
    assert_eq!(plain["accepted"], 2);
    let mut framed = vec![0];
    framed.extend_from_slice(&id.to_be_bytes());
    framed.extend_from_slice(&a);
    let (status, confluent) = bed.post(&events, "application/avro; framing=confluent", framed);
    assert_eq!(status, 200, "{confluent}");
    let (status, body) = bed.post(&events, "application/avro", vec![4, b'/']);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "bad_request");

    let log = bed.log();
    let records = log.records(&clicks.name);
    assert_eq!(records.len(), 3, "{records:?}");
    let verdicts = [
        &results(&plain)[0],
        &results(&plain)[1],
        &results(&confluent)[0],
    ];
    for (verdict, datum) in verdicts.into_iter().zip([&a, &b, &a]) {
        let record = record_of(&records, verdict);
        assert_eq!(
            record.framed(),
            (id, datum.as_slice()),
            "Avro binary, framed"
        );
    }
}
