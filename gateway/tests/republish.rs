//! `Gateway::republish` on the embedded log: a dead letter fixed and published again under
//! its original id goes through the whole pipeline — validation, dead letters, idempotency,
//! durability — and carries the replay job.

mod common;

use bytes::Bytes;
use common::{Harness, ORDER_SCHEMA, Reply, header, register};
use tributary_core::headers;
use tributary_eventlog::StoredRecord;
use tributary_gateway::{
    DLQ_EVENT_TYPE, DLQ_REASON, GatewayError, GatewayLimits, GatewayOptions, RateLimit, Reason,
    Republish, Verdict,
};
use tributary_registry::{SchemaType, split_confluent_frame};

const TYPE: &str = "orders.order_placed";
const SUBJECT: &str = "orders.order_placed-value";
const EVENTS: &str = "/v1/events/orders.order_placed";
const DLQ: &str = "tributary.dlq";
const ID: &str = "0190a5b4-7c1e-7000-8000-000000000001";
const JOB: &str = "job-42";

async fn orders(options: GatewayOptions) -> Harness {
    let h = Harness::embedded(options).await;
    register(&h.registry, SUBJECT, SchemaType::Json, ORDER_SCHEMA).await;
    h
}

/// Publishes `body` over HTTP as `checkout`, with `event_id` when given.
async fn publish(h: &Harness, event_id: Option<&str>, body: &str) -> Reply {
    let mut headers = vec![("tributary-producer", "checkout")];
    if let Some(id) = event_id {
        headers.push(("tributary-event-id", id));
    }
    h.post(EVENTS, "application/json", &headers, body.to_owned())
        .await
}

/// Publishes an order the schema refuses (a negative amount) over HTTP; its dead letter.
async fn dead_letter(h: &Harness) -> StoredRecord {
    let reply = publish(h, Some(ID), r#"{"order_id":"o-1","amount":-5}"#).await;
    assert_eq!(reply.status, 207, "{reply:?}");
    assert_eq!(reply.body["results"][0]["dead_lettered"], true);
    let mut dead = h.read_all(DLQ).await;
    assert_eq!(dead.len(), 1);
    dead.remove(0).1
}

/// What a dead-letter recovery job sends for `record` with `body` as the fix.
fn republish_of(record: &StoredRecord, body: &str) -> Republish {
    Republish {
        event_type: header(record, DLQ_EVENT_TYPE).to_owned(),
        producer: header(record, headers::PRODUCER).to_owned(),
        authenticated: header(record, headers::PRODUCER_AUTHENTICATED) == "true",
        event_id: header(record, headers::EVENT_ID).to_owned(),
        event_time_ms: Some(record.timestamp_ms),
        body: Bytes::copy_from_slice(body.as_bytes()),
        replay_job: Some(JOB.to_owned()),
        validate_only: false,
    }
}

fn only(answer: tributary_gateway::Answer) -> Verdict {
    assert_eq!(answer.results.len(), 1, "{answer:?}");
    answer.results.into_iter().next().unwrap()
}

#[tokio::test]
async fn a_fixed_dead_letter_is_accepted_once_under_its_original_id() {
    let h = orders(GatewayOptions::default()).await;
    let dead = dead_letter(&h).await;
    let fixed = republish_of(&dead, r#"{"order_id":"o-1","amount":5}"#);

    let verdict = only(h.gateway.republish(fixed.clone()).await.unwrap());
    let Verdict::Accepted {
        event_id,
        partition,
        offset,
        ..
    } = verdict
    else {
        panic!("expected accepted, got {verdict:?}");
    };
    assert_eq!(event_id, ID);
    let record = h.record_at(TYPE, partition, offset).await;
    let (_, payload) = split_confluent_frame(&record.value).unwrap();
    assert_eq!(payload, br#"{"order_id":"o-1","amount":5}"#);
    assert_eq!(header(&record, headers::REPLAY_JOB), JOB);
    assert_eq!(header(&record, headers::EVENT_ID), ID);
    assert_eq!(header(&record, headers::PRODUCER), "checkout");
    assert_eq!(header(&record, headers::PRODUCER_AUTHENTICATED), "false");
    assert_eq!(header(&record, headers::SCHEMA_VERSION), "1");
    assert_eq!(
        record.timestamp_ms, dead.timestamp_ms,
        "the time the event first arrived"
    );

    // The same fix again (a job resumed past its checkpoint): a duplicate, written once.
    let again = h.gateway.republish(fixed.clone()).await.unwrap();
    assert_eq!((again.accepted, again.duplicates), (1, 1));
    assert_eq!(
        only(again),
        Verdict::Duplicate {
            index: 0,
            event_id: ID.to_owned(),
            partition,
            offset,
        }
    );
    // So is the producer sending the fixed event itself with the same id.
    let reply = publish(&h, Some(ID), r#"{"order_id":"o-1","amount":5}"#).await;
    assert_eq!(reply.body["results"][0]["status"], "duplicate", "{reply:?}");
    assert_eq!(h.read_all(TYPE).await.len(), 1);
    assert_eq!(h.read_all(DLQ).await.len(), 1, "no new dead letter");
}

#[tokio::test]
async fn a_fix_that_still_fails_is_dead_lettered_again() {
    let h = orders(GatewayOptions::default()).await;
    let dead = dead_letter(&h).await;
    let still_bad = republish_of(&dead, r#"{"order_id":"o-1","amount":-1}"#);

    let verdict = only(h.gateway.republish(still_bad).await.unwrap());
    let Verdict::Rejected {
        event_id,
        reason,
        violations,
        dead_lettered,
        ..
    } = verdict
    else {
        panic!("expected rejected, got {verdict:?}");
    };
    assert_eq!(event_id, ID);
    assert_eq!(reason, Reason::SchemaViolation);
    assert_eq!(violations[0].pointer, "/amount");
    assert!(dead_lettered);
    assert!(h.read_all(TYPE).await.is_empty());

    let dead_letters = h.read_all(DLQ).await;
    assert_eq!(dead_letters.len(), 2);
    let again = dead_letters
        .iter()
        .map(|(_, r)| r)
        .find(|r| r.header(headers::REPLAY_JOB).is_some())
        .expect("the new dead letter names the job");
    assert_eq!(header(again, headers::EVENT_ID), ID);
    assert_eq!(header(again, DLQ_REASON), "schema_violation");
    assert_eq!(&again.value[..], br#"{"order_id":"o-1","amount":-1}"#);

    // Rejections are not remembered: a better fix still goes through.
    let fixed = republish_of(&dead, r#"{"order_id":"o-1","amount":1}"#);
    let verdict = only(h.gateway.republish(fixed).await.unwrap());
    assert!(
        matches!(verdict, Verdict::Accepted { .. }),
        "expected accepted, got {verdict:?}"
    );
}

#[tokio::test]
async fn validate_only_writes_nothing() {
    let h = orders(GatewayOptions::default()).await;
    let dead = dead_letter(&h).await;

    let mut good = republish_of(&dead, r#"{"order_id":"o-1","amount":5}"#);
    good.validate_only = true;
    let verdict = only(h.gateway.republish(good.clone()).await.unwrap());
    assert!(matches!(verdict, Verdict::Valid { .. }), "{verdict:?}");

    let mut bad = republish_of(&dead, r#"{"order_id":"o-1"}"#);
    bad.validate_only = true;
    let verdict = only(h.gateway.republish(bad).await.unwrap());
    let Verdict::Invalid {
        reason, violations, ..
    } = verdict
    else {
        panic!("expected invalid, got {verdict:?}");
    };
    assert_eq!(reason, Reason::SchemaViolation);
    assert!(!violations.is_empty());

    assert!(h.read_all(TYPE).await.is_empty());
    assert_eq!(
        h.read_all(DLQ).await.len(),
        1,
        "only the original dead letter"
    );
    // Nothing remembered either: the real republish is accepted, not a duplicate.
    good.validate_only = false;
    let verdict = only(h.gateway.republish(good).await.unwrap());
    assert!(matches!(verdict, Verdict::Accepted { .. }), "{verdict:?}");
}

#[tokio::test]
async fn any_original_id_and_no_rate_charge() {
    // A producer allowed one event in its burst: republishing is not charged to it.
    let options = GatewayOptions {
        limits: GatewayLimits {
            producer_rate: Some(RateLimit {
                events_per_second: 0.001,
                burst: 1.0,
            }),
            ..GatewayLimits::default()
        },
        ..GatewayOptions::default()
    };
    let h = orders(options).await;
    let first = publish(&h, None, r#"{"order_id":"o-0","amount":1}"#).await;
    assert_eq!(first.status, 200, "{first:?}");

    // CloudEvents ids are any string; a dead letter keeps the one it came with.
    for (i, id) in ["shop-7/order-1", "shop-7/order-2", "shop-7/order-3"]
        .into_iter()
        .enumerate()
    {
        let verdict = only(
            h.gateway
                .republish(Republish {
                    event_type: TYPE.to_owned(),
                    producer: "checkout".to_owned(),
                    authenticated: true,
                    event_id: id.to_owned(),
                    event_time_ms: None,
                    body: Bytes::from(format!(r#"{{"order_id":"o-{i}","amount":2}}"#)),
                    replay_job: None,
                    validate_only: false,
                })
                .await
                .unwrap(),
        );
        let Verdict::Accepted {
            partition, offset, ..
        } = verdict
        else {
            panic!("expected accepted, got {verdict:?}");
        };
        let record = h.record_at(TYPE, partition, offset).await;
        assert_eq!(header(&record, headers::EVENT_ID), id);
        assert_eq!(header(&record, headers::PRODUCER_AUTHENTICATED), "true");
        assert!(record.header(headers::REPLAY_JOB).is_none());
    }
    // The producer's own traffic is still limited.
    let limited = publish(&h, None, r#"{"order_id":"o-9","amount":1}"#).await;
    assert_eq!(limited.status, 429, "{limited:?}");
}

#[tokio::test]
async fn requests_a_producer_could_not_make_are_refused() {
    let h = orders(GatewayOptions::default()).await;
    let event = |body: &str| Republish {
        event_type: TYPE.to_owned(),
        producer: "checkout".to_owned(),
        authenticated: false,
        event_id: ID.to_owned(),
        event_time_ms: None,
        body: Bytes::copy_from_slice(body.as_bytes()),
        replay_job: Some(JOB.to_owned()),
        validate_only: false,
    };
    let ok = r#"{"order_id":"o-1","amount":1}"#;
    let cases = [
        (
            Republish {
                event_type: "orders.nope".into(),
                ..event(ok)
            },
            "does not exist",
        ),
        (
            Republish {
                producer: "two words".into(),
                ..event(ok)
            },
            "tributary-producer must be",
        ),
        (
            Republish {
                event_id: String::new(),
                ..event(ok)
            },
            "original event id",
        ),
        (
            Republish {
                event_time_ms: Some(-1),
                ..event(ok)
            },
            "before 1970",
        ),
        (
            Republish {
                replay_job: Some(String::new()),
                ..event(ok)
            },
            "replay job id is empty",
        ),
        (event(&format!("  [{ok}]")), "not an array"),
        (event("{not json"), "not valid json"),
    ];
    for (republish, message) in cases {
        let error = h.gateway.republish(republish).await.unwrap_err();
        assert!(
            matches!(
                error,
                GatewayError::BadRequest(_) | GatewayError::UnknownEventType(_)
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains(message), "{error}");
    }
    assert!(h.read_all(TYPE).await.is_empty());
    assert!(h.read_all(DLQ).await.is_empty());
}
