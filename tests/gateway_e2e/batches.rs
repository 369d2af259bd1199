//! Batches of good, bad and repeated events; compressed bodies; the dry run.

use std::io::Write;

use reqwest::Method;
use serde_json::{Value, json};
use tributary_core::headers;

use crate::common::{Answer, Backend, Bed, answer, now_ms, sample};
use crate::{EventType, TRACEPARENT, accepted, record_of, results, statuses};

fn order_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"order_id": {"type": "string"}, "amount": {"type": "number", "minimum": 0}},
        "required": ["order_id", "amount"]
    })
}

/// Publishes `body` as the producer `e2e` with an `Idempotency-Key` and a trace context.
fn publish(bed: &Bed, path: &str, content_type: &str, key: &str, body: String) -> Answer {
    answer(
        bed.request(Method::POST, path)
            .header("content-type", content_type)
            .header("tributary-producer", "e2e")
            .header("idempotency-key", key)
            .header("traceparent", TRACEPARENT)
            .body(body),
    )
}

/// A JSON array and an NDJSON body, each sent twice under one `Idempotency-Key`: 207 with a
/// verdict per event; the good events land in the type's topic once each, enriched; every
/// rejection (both times) lands in the dead-letter topic with the bytes as sent.
pub(crate) fn good_bad_and_duplicate_events(backend: Backend) {
    let mut bed = Bed::start(backend, &[]);
    let orders = EventType::json(
        &bed,
        "orders",
        json!({"partition_key": "/order_id", "partitions": 2}),
        &order_schema(),
    );
    let path = orders.events();
    let start = now_ms();

    // Spaces are kept in dead letters (the bytes as sent), not in records (compact JSON).
    let array = [
        r#"{"order_id": "a", "amount": 1}"#,
        r#"{"order_id": "b", "amount": -1}"#,
        r#"{"order_id": "c", "amount": 3}"#,
        "5",
    ];
    let first = publish(
        &bed,
        &path,
        "application/json",
        "array",
        format!("[{}]", array.join(", ")),
    );
    assert_eq!(first.status, 207, "{:?}", first.body);
    assert_eq!(
        statuses(&first.body),
        ["accepted", "rejected", "accepted", "rejected"]
    );
    assert_eq!(
        (&first.body["accepted"], &first.body["rejected"]),
        (&json!(2), &json!(2))
    );
    let verdicts = results(&first.body);
    assert_eq!(verdicts[1]["reason"], "schema_violation");
    assert_eq!(verdicts[1]["violations"][0]["pointer"], "/amount");
    assert_eq!(verdicts[3]["reason"], "not_an_object");
    assert!(verdicts[1]["dead_lettered"] == true && verdicts[3]["dead_lettered"] == true);

    // The retry adds an event: those accepted before are duplicates at their first position,
    // the rejected ones are checked (and dead-lettered) again.
    let retry = publish(
        &bed,
        &path,
        "application/json",
        "array",
        format!(
            "[{}, {}]",
            array.join(", "),
            r#"{"order_id": "d", "amount": 4}"#
        ),
    );
    assert_eq!(retry.status, 207, "{:?}", retry.body);
    assert_eq!(
        statuses(&retry.body),
        ["duplicate", "rejected", "duplicate", "rejected", "accepted"]
    );
    assert_eq!(retry.body["accepted"], 3, "duplicates count as accepted");
    assert_eq!(retry.body["duplicates"], 2);
    for index in [0, 2] {
        for field in ["event_id", "partition", "offset"] {
            assert_eq!(
                results(&retry.body)[index][field],
                verdicts[index][field],
                "{field} of the original"
            );
        }
    }

    let lines = [
        r#"{"order_id":"e","amount":5}"#,
        r#"{"order_id":"f""#,
        r#"{"order_id":"g","amount":7}"#,
        r#"{"order_id":"h","amount":"x"}"#,
    ];
    let ndjson = format!("{}\n\n", lines.join("\n"));
    let third = publish(
        &bed,
        &path,
        "application/x-ndjson",
        "ndjson",
        ndjson.clone(),
    );
    assert_eq!(third.status, 207, "{:?}", third.body);
    assert_eq!(
        statuses(&third.body),
        ["accepted", "rejected", "accepted", "rejected"]
    );
    assert_eq!(results(&third.body)[1]["reason"], "malformed");
    assert_eq!(results(&third.body)[3]["reason"], "schema_violation");
    let fourth = publish(&bed, &path, "application/x-ndjson", "ndjson", ndjson);
    assert_eq!(
        statuses(&fourth.body),
        ["duplicate", "rejected", "duplicate", "rejected"]
    );

    let metrics = bed.metrics();
    let label = format!("event_type=\"{}\"", orders.name);
    let count = |outcome: &str| {
        let outcome = format!("outcome=\"{outcome}\"");
        sample(
            &metrics,
            "tributary_gateway_events_total",
            &[&label, "producer=\"e2e\"", &outcome],
        )
    };
    assert_eq!(count("accepted"), Some(5.0), "{metrics}");
    assert_eq!(count("duplicate"), Some(4.0), "{metrics}");
    assert_eq!(count("dead_lettered"), Some(8.0), "{metrics}");
    // Every request here went through every stage, and each stage is timed once per request
    // (resolving comes in two parts, around the read).
    let timed = ["read", "resolve", "check", "append"].map(|stage| {
        let stage = format!("stage=\"{stage}\"");
        sample(
            &metrics,
            "tributary_gateway_stage_duration_seconds_count",
            &[&stage],
        )
    });
    assert!(timed[0].is_some_and(|n| n >= 4.0), "{metrics}");
    assert_eq!(
        timed, [timed[0]; 4],
        "read, resolve, check, append: {metrics}"
    );
    assert_eq!(
        sample(&metrics, "tributary_gateway_in_flight_requests", &[]),
        Some(0.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "tributary_gateway_in_flight_bytes", &[]),
        Some(0.0),
        "{metrics}"
    );
    // The event log counted its appends: the 5 accepted events and the 8 dead letters.
    let appended = sample(
        &metrics,
        "tributary_eventlog_append_records_total",
        &["outcome=\"ok\""],
    );
    assert_eq!(appended, Some(13.0), "{metrics}");
    let appends = sample(
        &metrics,
        "tributary_eventlog_append_duration_seconds_count",
        &[],
    );
    assert!(appends.is_some_and(|n| n >= 4.0), "{metrics}");
    let end = now_ms();

    let log = bed.log();
    let records = log.records(&orders.name);
    let accepted = accepted(&[&first, &retry, &third, &fourth]);
    assert_eq!(accepted.len(), 5);
    assert_eq!(records.len(), 5, "each good event once: {records:?}");
    let mut order_ids = Vec::new();
    for verdict in accepted {
        let record = record_of(&records, verdict);
        let (schema_id, event) = record.framed_json();
        assert_eq!(schema_id, orders.schema_id);
        let order_id = event["order_id"].as_str().unwrap();
        assert_eq!(record.key(), Some(order_id), "keyed by /order_id");
        order_ids.push(order_id.to_owned());
        assert_eq!(record.header(headers::PRODUCER), Some("e2e"));
        assert_eq!(
            record.header(headers::PRODUCER_AUTHENTICATED),
            Some("false")
        );
        assert_eq!(record.header(headers::SCHEMA_VERSION), Some("1"));
        assert_eq!(record.header(headers::TRACEPARENT), Some(TRACEPARENT));
        let received: i64 = record
            .header(headers::RECEIVED_AT)
            .unwrap()
            .parse()
            .unwrap();
        assert!((start..=end).contains(&received), "received_at {received}");
        assert_eq!(
            record.record.timestamp_ms, received,
            "no event time: the receive time"
        );
    }
    order_ids.sort();
    assert_eq!(order_ids, ["a", "c", "d", "e", "g"]);

    // Every rejection, both times, as sent: the element of the array, the line of NDJSON.
    let dead = log.dead_letters(&orders.name);
    assert_eq!(dead.len(), 8, "{dead:?}");
    let sent: [(&Answer, &[&str]); 4] = [
        (&first, &array),
        (&retry, &array),
        (&third, &lines),
        (&fourth, &lines),
    ];
    for (answer, events) in sent {
        for verdict in results(&answer.body) {
            if verdict["status"] != "rejected" {
                continue;
            }
            let event_id = verdict["event_id"].as_str().unwrap();
            let letter = dead
                .iter()
                .find(|r| r.event_id() == event_id)
                .unwrap_or_else(|| panic!("no dead letter for {verdict}"));
            let index = verdict["index"].as_u64().unwrap() as usize;
            assert_eq!(
                letter.record.value,
                events[index].as_bytes(),
                "the original bytes"
            );
            assert_eq!(
                letter.header("tributary.dlq.reason"),
                verdict["reason"].as_str()
            );
            let violations: Value =
                serde_json::from_str(letter.header("tributary.dlq.violations").unwrap()).unwrap();
            assert_eq!(
                violations, verdict["violations"],
                "the verdict's violations"
            );
            assert_eq!(letter.header(headers::PRODUCER), Some("e2e"));
            assert_eq!(letter.header(headers::SCHEMA_VERSION), Some("1"));
            assert_eq!(letter.header(headers::TRACEPARENT), Some(TRACEPARENT));
            assert_eq!(letter.record.key, None);
        }
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// gzip and zstd bodies are written like plain ones (the keyless events of a request go to
/// one partition at consecutive offsets); `POST /v1/validate` answers verdicts and writes
/// nothing, not even dead letters.
pub(crate) fn compressed_bodies_and_dry_runs(backend: Backend) {
    let mut bed = Bed::start(backend, &[]);
    let schema =
        json!({"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}});
    let counts = EventType::json(&bed, "counts", json!({"partitions": 2}), &schema);

    let validate = format!("/v1/validate/{}", counts.name);
    let (status, body) = bed.post(
        &validate,
        "application/x-ndjson",
        "{\"n\":100}\n{\"n\":\"x\"}\n",
    );
    assert_eq!(status, 207, "{body}");
    assert_eq!(statuses(&body), ["valid", "invalid"]);
    assert_eq!(results(&body)[1]["reason"], "schema_violation");
    let (status, body) = bed.post(&validate, "application/json", r#"{"n":101}"#);
    assert_eq!(status, 200, "{body}");

    // Event times from the header, as RFC 3339 or epoch ms: the records' timestamps.
    let send = |encoding: &str, content_type: &str, body: Vec<u8>| {
        let time = if encoding == "gzip" {
            "2024-05-01T12:00:00Z"
        } else {
            "1714564801000"
        };
        answer(
            bed.request(Method::POST, &counts.events())
                .header("content-type", content_type)
                .header("content-encoding", encoding)
                .header("tributary-event-time", time)
                .body(body),
        )
    };
    let ndjson = gzip(b"{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n");
    let gzipped = send("gzip", "application/x-ndjson", ndjson);
    assert_eq!(gzipped.status, 200, "{:?}", gzipped.body);
    let array = zstd::encode_all(&b"[{\"n\":3},{\"n\":4}]"[..], 3).unwrap();
    let zstded = send("zstd", "application/json", array);
    assert_eq!(zstded.status, 200, "{:?}", zstded.body);
    let broken = send("gzip", "application/json", b"{\"n\":5}".to_vec());
    assert_eq!(broken.status, 400, "not gzip: {:?}", broken.body);
    for answer in [&gzipped, &zstded] {
        let verdicts = results(&answer.body);
        let first = verdicts[0]["offset"].as_i64().unwrap();
        for (i, verdict) in verdicts.iter().enumerate() {
            assert_eq!(verdict["partition"], verdicts[0]["partition"]);
            assert_eq!(verdict["offset"].as_i64().unwrap(), first + i as i64);
        }
    }

    let log = bed.log();
    let records = log.records(&counts.name);
    let mut written: Vec<i64> = records
        .iter()
        .map(|r| r.framed_json().1["n"].as_i64().unwrap())
        .collect();
    written.sort_unstable();
    assert_eq!(written, [0, 1, 2, 3, 4], "nothing of the dry runs");
    for (answer, time) in [(&gzipped, 1_714_564_800_000), (&zstded, 1_714_564_801_000)] {
        for verdict in results(&answer.body) {
            let record = record_of(&records, verdict);
            assert_eq!(record.key(), None);
            assert_eq!(record.record.timestamp_ms, time, "Tributary-Event-Time");
        }
    }
    assert!(log.dead_letters(&counts.name).is_empty());
}
