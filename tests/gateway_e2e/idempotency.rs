//! Retries with a producer-supplied id (`Tributary-Event-Id`, CloudEvents `id`) or an
//! `Idempotency-Key`: answered `duplicate` at the original position, written once.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Answer, Backend, Bed, answer};
use crate::{EventType, accepted, record_of, results, statuses};

const EVENT_ID: &str = "0192f0c4-5d6e-7f80-9a1b-2c3d4e5f6a7b";

/// The verdict of a single-event answer.
fn only(answer: &Answer) -> &Value {
    let verdicts = results(&answer.body);
    assert_eq!(verdicts.len(), 1, "{:?}", answer.body);
    &verdicts[0]
}

/// `duplicate` of `original`: the same event id, partition and offset.
fn assert_duplicate_of(duplicate: &Value, original: &Value) {
    assert_eq!(duplicate["status"], "duplicate", "{duplicate}");
    for field in ["event_id", "partition", "offset"] {
        assert_eq!(duplicate[field], original[field], "{field}: {duplicate}");
    }
}

pub(crate) fn retries_are_not_written_twice(backend: Backend) {
    let mut bed = Bed::start(backend, &[]);
    let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}}});
    let events = EventType::json(&bed, "retries", json!({"partitions": 2}), &schema);
    let path = events.events();
    let send = |content_type: &str, headers: &[(&str, &str)], body: &str| {
        let mut request = bed
            .request(Method::POST, &path)
            .header("content-type", content_type)
            .header("tributary-producer", "e2e");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        answer(request.body(body.to_owned()))
    };

    // Tributary-Event-Id: the retry (even with another body) is the same event.
    let first = send(
        "application/json",
        &[("tributary-event-id", EVENT_ID)],
        r#"{"n":1}"#,
    );
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(only(&first)["event_id"], EVENT_ID);
    for body in [r#"{"n":1}"#, r#"{"n":99}"#] {
        let retry = send(
            "application/json",
            &[("tributary-event-id", EVENT_ID)],
            body,
        );
        assert_eq!(retry.status, 200, "only duplicates: {:?}", retry.body);
        assert_eq!(retry.body["duplicates"], 1);
        assert_duplicate_of(only(&retry), only(&first));
    }

    // CloudEvents ids, across requests and inside one batch.
    let cloudevent = |id: &str, n: i64| json!({"specversion": "1.0", "id": id, "type": events.name, "source": "/e2e", "data": {"n": n}});
    let structured = |event: &Value| send("application/cloudevents+json", &[], &event.to_string());
    let ce_first = structured(&cloudevent("ce-1", 2));
    assert_eq!(ce_first.status, 200, "{:?}", ce_first.body);
    let ce_retry = structured(&cloudevent("ce-1", 2));
    assert_duplicate_of(only(&ce_retry), only(&ce_first));
    let batch = json!([
        cloudevent("ce-2", 3),
        cloudevent("ce-2", 3),
        cloudevent("ce-1", 2)
    ]);
    let ce_batch = send(
        "application/cloudevents-batch+json",
        &[],
        &batch.to_string(),
    );
    assert_eq!(ce_batch.status, 200, "{:?}", ce_batch.body);
    assert_eq!(
        statuses(&ce_batch.body),
        ["accepted", "duplicate", "duplicate"]
    );
    let verdicts = results(&ce_batch.body);
    assert_duplicate_of(&verdicts[1], &verdicts[0]);
    assert_duplicate_of(&verdicts[2], only(&ce_first));

    // Idempotency-Key: the events of the request, by index.
    let ndjson = "{\"n\":4}\n{\"n\":5}\n{\"n\":6}\n";
    let keyed = send(
        "application/x-ndjson",
        &[("idempotency-key", "order-batch-7")],
        ndjson,
    );
    assert_eq!(statuses(&keyed.body), ["accepted"; 3]);
    let keyed_retry = send(
        "application/x-ndjson",
        &[("idempotency-key", "order-batch-7")],
        ndjson,
    );
    assert_eq!(keyed_retry.status, 200, "{:?}", keyed_retry.body);
    assert_eq!(keyed_retry.body["duplicates"], 3);
    for (retry, original) in results(&keyed_retry.body).iter().zip(results(&keyed.body)) {
        assert_duplicate_of(retry, original);
    }
    // Another key is another request.
    let other_key = send(
        "application/x-ndjson",
        &[("idempotency-key", "order-batch-8")],
        ndjson,
    );
    assert_eq!(statuses(&other_key.body), ["accepted"; 3]);

    let log = bed.log();
    let records = log.records(&events.name);
    let originals = accepted(&[&first, &ce_first, &ce_batch, &keyed, &other_key]);
    assert_eq!(originals.len(), 9);
    assert_eq!(records.len(), 9, "every retry was left out: {records:?}");
    for verdict in originals {
        record_of(&records, verdict);
    }
    let first_record = record_of(&records, only(&first));
    assert_eq!(
        first_record.framed_json().1,
        json!({"n": 1}),
        "the first body wins"
    );
}
