//! Dead-letter recovery on the embedded log: fixes checked up front and applied to each dead
//! letter, the dry-run preview, the counts a recovery job reports, and a job that fails
//! mid-batch and resumes without writing anything twice — against a fake gateway that
//! remembers acceptances by (event type, producer, event id) as the real one does.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::watch;
use tributary_core::headers;
use tributary_eventlog::{EmbeddedLog, EmbeddedOptions, EventLog, Record, TopicSpec};
use tributary_replay::{
    BoxError, BoxFuture, Control, Fix, FixPreview, JobRun, MAX_FIX_OPERATIONS, MemoryCheckpoints,
    Outcome, Progress, Reingest, ReingestCounts, ReingestSink, ReingestVerdict, ReplayError,
    Resubmission, Selection, Sink, plan, preview, run,
};

const DLQ: &str = "tributary.dlq";
const ORDERS: &str = "orders.placed";
/// Producers sent `total` where the schema wants `amount`.
const MOVE_TOTAL: &str = r#"[{"op": "move", "from": "/total", "path": "/amount"}]"#;

/// A gateway in miniature: an order is valid when `order_id` is a string and `amount` a
/// number at least 0; acceptances are remembered by (type, producer, id), as the gateway's
/// idempotency does, and nothing is written for `validate_only`.
#[derive(Debug, Default)]
struct FakeGateway {
    state: Mutex<FakeState>,
}

#[derive(Debug, Default)]
struct FakeState {
    /// Every call, in order.
    calls: Vec<Resubmission>,
    /// Accepted and "written": (type, producer, id) → offset.
    accepted: HashMap<(String, String, String), i64>,
    /// The events written, in order.
    written: Vec<Resubmission>,
    /// Dead-lettered again.
    dead_lettered: Vec<Resubmission>,
    /// The call (1-based) that fails with a transport error, once.
    fail_call: Option<usize>,
}

impl FakeGateway {
    fn failing_at(call: usize) -> FakeGateway {
        let fake = FakeGateway::default();
        fake.state().fail_call = Some(call);
        fake
    }

    fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn judge(&self, event: Resubmission) -> Result<ReingestVerdict, BoxError> {
        let mut state = self.state();
        state.calls.push(event.clone());
        if state.fail_call == Some(state.calls.len()) {
            state.fail_call = None;
            return Err("the event log cannot take writes".into());
        }
        let value: Value = serde_json::from_slice(&event.body)?;
        let mut violations = Vec::new();
        if !value["order_id"].is_string() {
            violations.push("/order_id: required string".to_owned());
        }
        if !value["amount"].as_f64().is_some_and(|a| a >= 0.0) {
            violations.push("/amount: a number at least 0".to_owned());
        }
        if event.validate_only {
            return Ok(if violations.is_empty() {
                ReingestVerdict::Valid
            } else {
                rejected(violations)
            });
        }
        let key = (
            event.event_type.clone(),
            event.producer.clone(),
            event.event_id.clone(),
        );
        if state.accepted.contains_key(&key) {
            return Ok(ReingestVerdict::Duplicate);
        }
        if !violations.is_empty() {
            state.dead_lettered.push(event);
            return Ok(rejected(violations));
        }
        let offset = state.written.len() as i64;
        state.accepted.insert(key, offset);
        state.written.push(event);
        Ok(ReingestVerdict::Accepted {
            partition: 0,
            offset,
        })
    }
}

fn rejected(violations: Vec<String>) -> ReingestVerdict {
    ReingestVerdict::Rejected {
        reason: "schema_violation".to_owned(),
        violations,
    }
}

impl Reingest for FakeGateway {
    fn resubmit<'a>(
        &'a self,
        event: Resubmission,
    ) -> BoxFuture<'a, Result<ReingestVerdict, BoxError>> {
        let verdict = self.judge(event);
        Box::pin(async move { verdict })
    }
}

/// An hour ago, whole seconds.
fn base_ms() -> i64 {
    let now = tributary_core::now_ms();
    now - now % 1000 - 3_600_000
}

struct Dlq {
    log: Arc<dyn EventLog>,
    _dir: tempfile::TempDir,
}

async fn dlq(partitions: u32) -> Dlq {
    let dir = tempfile::tempdir().expect("temp dir");
    let log: Arc<dyn EventLog> = Arc::new(
        EmbeddedLog::open(EmbeddedOptions::new(dir.path()))
            .await
            .expect("open embedded log"),
    );
    log.create_topic(&TopicSpec::new(DLQ, partitions))
        .await
        .expect("create the dead-letter topic");
    Dlq { log, _dir: dir }
}

/// A dead letter as the gateway writes one.
fn dead_letter(
    value: impl Into<Bytes>,
    ts: i64,
    event_type: &str,
    reason: &str,
    id: Option<&str>,
) -> Record {
    let record = Record::new(value, ts)
        .with_header(headers::DLQ_REASON, reason.to_owned())
        .with_header(headers::DLQ_EVENT_TYPE, event_type.to_owned())
        .with_header(headers::DLQ_VIOLATIONS, "[]")
        .with_header(headers::PRODUCER, "checkout")
        .with_header(headers::PRODUCER_AUTHENTICATED, "true")
        .with_header(headers::RECEIVED_AT, ts.to_string());
    match id {
        Some(id) => record.with_header(headers::EVENT_ID, id.to_owned()),
        None => record,
    }
}

async fn append(log: &dyn EventLog, records: Vec<Record>) {
    for result in log.append(DLQ, records).await.expect("append") {
        result.expect("record appended");
    }
}

/// Schema violations of `orders.placed` in the last two hours.
fn selection() -> Selection {
    Selection {
        topics: vec![DLQ.to_owned()],
        from_ms: base_ms() - 3_600_000,
        to_ms: base_ms() + 3_600_000,
        keys: vec![],
        producers: vec![],
        schema_versions: vec![],
        predicate: None,
        dead_letter_reasons: vec!["schema_violation".to_owned()],
        dead_letter_types: vec![ORDERS.to_owned()],
    }
}

fn fix(patch: &str) -> Fix {
    Fix::new(serde_json::from_str(patch).expect("json")).expect("a valid fix")
}

/// One partition of dead letters of every kind, in this order: a fixable one, one that still
/// fails, one the fix does not apply to, one that is not JSON, a fixable one in Confluent's
/// wire format, one without an event id; and two the selection leaves out.
async fn mixed_dead_letters(log: &dyn EventLog) -> i64 {
    let t = base_ms();
    let mut framed = vec![0, 0, 0, 0, 7];
    framed.extend_from_slice(br#"{"order_id":"o-5","total":7}"#);
    append(
        log,
        vec![
            dead_letter(
                r#"{"order_id":"o-1","total":5}"#,
                t,
                ORDERS,
                "schema_violation",
                Some("id-1"),
            ),
            dead_letter(
                r#"{"order_id":"o-2","total":-1}"#,
                t + 1,
                ORDERS,
                "schema_violation",
                Some("id-2"),
            ),
            dead_letter(
                r#"{"order_id":"o-3","amount":-3}"#,
                t + 2,
                ORDERS,
                "schema_violation",
                Some("id-3"),
            ),
            dead_letter("not json", t + 3, ORDERS, "schema_violation", Some("id-4")),
            dead_letter(framed, t + 4, ORDERS, "schema_violation", Some("id-5")),
            dead_letter(
                r#"{"order_id":"o-6","total":6}"#,
                t + 5,
                ORDERS,
                "schema_violation",
                None,
            ),
            dead_letter(
                r#"{"order_id":"o-7","total":7}"#,
                t + 6,
                "orders.shipped",
                "schema_violation",
                Some("id-7"),
            ),
            dead_letter(
                r#"{"order_id":"o-8","total":8}"#,
                t + 7,
                ORDERS,
                "not_an_object",
                Some("id-8"),
            ),
        ],
    )
    .await;
    t
}

fn job(id: &str) -> JobRun {
    JobRun::new(id, selection())
}

/// Runs `job` into `sink` with `checkpoints`.
async fn run_job(
    log: &Arc<dyn EventLog>,
    job: &JobRun,
    sink: &mut ReingestSink,
    checkpoints: &MemoryCheckpoints,
) -> Result<Outcome, ReplayError> {
    let plan = plan(log.as_ref(), &job.selection).await.expect("plan");
    let (progress, _) = watch::channel(Progress::default());
    run(
        log.clone(),
        job,
        &plan,
        sink,
        checkpoints,
        Control::new(),
        progress,
    )
    .await
}

fn bad_fix(patch: Value) -> String {
    match Fix::new(patch) {
        Err(ReplayError::BadRequest(message)) => message,
        other => panic!("expected a bad request, got {other:?}"),
    }
}

#[test]
fn fixes_are_checked_up_front() {
    assert!(bad_fix(json!({"op": "add", "path": "/a", "value": 1})).contains("json array"));
    assert!(bad_fix(json!([{"op": "rename", "path": "/a"}])).contains("operation 0"));
    assert!(
        bad_fix(json!([{"op": "remove", "path": "/a"}, {"op": "add", "path": "/b"}]))
            .contains("operation 1")
    );
    assert!(bad_fix(json!([{"op": "remove", "path": "a/b"}])).contains("operation 0"));
    assert!(bad_fix(json!([{"op": "test", "path": "/a~2", "value": 1}])).contains("operation 0"));
    assert!(bad_fix(json!([{"op": "move", "from": "/a", "path": "/a/b"}])).contains("into itself"));
    let too_many = vec![json!({"op": "remove", "path": "/a"}); MAX_FIX_OPERATIONS + 1];
    assert!(bad_fix(Value::Array(too_many)).contains("at most"));

    // Sound patches, and their stored form: the patch itself, checked again when read.
    let patch = json!([
        {"op": "move", "from": "/a", "path": "/a"},
        {"op": "move", "from": "/a", "path": "/ab"},
        {"op": "add", "path": "", "value": {}},
    ]);
    let fix = Fix::new(patch.clone()).expect("valid");
    assert_eq!(serde_json::to_value(&fix).unwrap(), patch);
    assert_eq!(serde_json::from_value::<Fix>(patch).unwrap(), fix);
    assert!(serde_json::from_value::<Fix>(json!([{"op": "nope"}])).is_err());
    assert!(Fix::new(json!([])).expect("empty").is_empty());
}

#[test]
fn every_operation_applies_and_failures_change_nothing() {
    let before = json!({"order_id": "o-1", "total": 5, "tags": ["a"], "meta": {"v": 1}});
    let fix = fix(r#"[
        {"op": "test", "path": "/meta/v", "value": 1},
        {"op": "move", "from": "/total", "path": "/amount"},
        {"op": "copy", "from": "/order_id", "path": "/ref"},
        {"op": "add", "path": "/tags/-", "value": "b"},
        {"op": "replace", "path": "/meta/v", "value": 2},
        {"op": "remove", "path": "/tags/0"}
    ]"#);
    assert_eq!(
        fix.apply(&before).unwrap(),
        json!({"order_id": "o-1", "amount": 5, "ref": "o-1", "tags": ["b"], "meta": {"v": 2}})
    );

    let failing_test = self::fix(r#"[{"op": "test", "path": "/meta/v", "value": 9}]"#);
    assert!(failing_test.apply(&before).unwrap_err().contains("/meta/v"));
    let missing = self::fix(r#"[{"op": "replace", "path": "/nope", "value": 1}]"#);
    assert!(missing.apply(&before).is_err());
    // A CloudEvents envelope's event, as the whole value.
    let unwrap = self::fix(r#"[{"op": "move", "from": "/data", "path": ""}]"#);
    let envelope = json!({"specversion": "1.0", "id": "e-1", "data": {"order_id": "o-1"}});
    assert_eq!(unwrap.apply(&envelope).unwrap(), json!({"order_id": "o-1"}));

    let from_missing = self::fix(MOVE_TOTAL);
    assert!(
        from_missing
            .apply(&json!({"order_id": "o-1"}))
            .unwrap_err()
            .contains("from")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_shows_each_dead_letter_before_and_after_and_writes_nothing() {
    let dlq = dlq(1).await;
    let t = mixed_dead_letters(dlq.log.as_ref()).await;
    let gateway = FakeGateway::default();
    let selection = selection();
    let plan = plan(dlq.log.as_ref(), &selection).await.expect("plan");
    let move_total = fix(MOVE_TOTAL);
    let (log, selection, plan, fix, fake) =
        (dlq.log.as_ref(), &selection, &plan, &move_total, &gateway);
    let preview_first = move |limit| preview(log, selection, plan, fix, fake, limit);

    let previews = preview_first(100).await.expect("preview");
    let offsets: Vec<i64> = previews.iter().map(|p| p.offset).collect();
    assert_eq!(offsets, [0, 1, 2, 3, 4, 5], "the others are not selected");

    assert_eq!(
        previews[0],
        FixPreview {
            topic: DLQ.to_owned(),
            partition: 0,
            offset: 0,
            event_id: Some("id-1".to_owned()),
            event_type: Some(ORDERS.to_owned()),
            reason: Some("schema_violation".to_owned()),
            before: json!({"order_id": "o-1", "total": 5}),
            after: Some(json!({"order_id": "o-1", "amount": 5})),
            patch_error: None,
            unreadable: None,
            verdict: Some(ReingestVerdict::Valid),
        }
    );
    assert_eq!(
        previews[1].verdict,
        Some(rejected(vec!["/amount: a number at least 0".to_owned()]))
    );
    assert_eq!(
        previews[1].after,
        Some(json!({"order_id": "o-2", "amount": -1}))
    );

    let no_total = &previews[2];
    assert_eq!(no_total.before, json!({"order_id": "o-3", "amount": -3}));
    assert!(no_total.patch_error.as_deref().unwrap().contains("from"));
    assert_eq!((&no_total.after, &no_total.verdict), (&None, &None));

    let not_json = &previews[3];
    assert_eq!(not_json.before, Value::Null);
    assert!(not_json.unreadable.as_deref().unwrap().contains("not json"));
    assert_eq!(not_json.event_id.as_deref(), Some("id-4"));
    assert_eq!((&not_json.after, &not_json.verdict), (&None, &None));

    let framed = &previews[4];
    assert_eq!(framed.before, json!({"order_id": "o-5", "total": 7}));
    assert_eq!(framed.verdict, Some(ReingestVerdict::Valid));

    let no_id = &previews[5];
    assert!(
        no_id
            .unreadable
            .as_deref()
            .unwrap()
            .contains(headers::EVENT_ID)
    );
    assert_eq!(no_id.before, json!({"order_id": "o-6", "total": 6}));

    // Re-validated as the producer: its identity, the time it first arrived, no job.
    {
        let state = gateway.state();
        assert_eq!(state.calls.len(), 3, "only the ones the fix applies to");
        let first = &state.calls[0];
        assert_eq!(
            (first.event_type.as_str(), first.producer.as_str()),
            (ORDERS, "checkout")
        );
        assert!(first.authenticated);
        assert_eq!(first.event_id, "id-1");
        assert_eq!(first.event_time_ms, Some(t));
        assert_eq!(first.replay_job, None);
        assert!(state.calls.iter().all(|c| c.validate_only));
        assert!(state.written.is_empty() && state.dead_lettered.is_empty());
    }

    let first_two = preview_first(2).await.expect("preview");
    assert_eq!(first_two, previews[..2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_job_counts_what_happened_to_each_dead_letter() {
    let dlq = dlq(1).await;
    let t = mixed_dead_letters(dlq.log.as_ref()).await;
    let gateway = Arc::new(FakeGateway::default());
    let checkpoints = MemoryCheckpoints::new();

    let mut sink = ReingestSink::new(gateway.clone(), fix(MOVE_TOTAL), "fix-1");
    let outcome = run_job(&dlq.log, &job("fix-1"), &mut sink, &checkpoints)
        .await
        .expect("run");
    assert_eq!(outcome.totals().emitted, 6);
    let report = Box::new(sink).finish().await.expect("finish");
    assert_eq!(report.manifest, None);
    assert_eq!(
        report.reingest,
        Some(ReingestCounts {
            accepted: 2,
            duplicates: 0,
            rejected: 1,
            unreadable: 2,
            patch_failed: 1,
        })
    );
    // The report as stored: the counts beside the manifest; older reports still read.
    let stored = serde_json::to_value(&report).unwrap();
    assert_eq!(stored["reingest"]["patch_failed"], 1);
    let old: tributary_replay::SinkReport =
        serde_json::from_value(json!({"manifest": null})).unwrap();
    assert_eq!(old.reingest, None);

    {
        let state = gateway.state();
        let written: Vec<(&str, Value, Option<i64>)> = state
            .written
            .iter()
            .map(|w| {
                (
                    w.event_id.as_str(),
                    serde_json::from_slice(&w.body).unwrap(),
                    w.event_time_ms,
                )
            })
            .collect();
        assert_eq!(
            written,
            [
                ("id-1", json!({"order_id": "o-1", "amount": 5}), Some(t)),
                ("id-5", json!({"order_id": "o-5", "amount": 7}), Some(t + 4)),
            ]
        );
        assert!(state.written.iter().all(|w| {
            w.replay_job.as_deref() == Some("fix-1") && !w.validate_only && w.authenticated
        }));
        assert_eq!(state.dead_lettered.len(), 1);
        assert_eq!(state.dead_lettered[0].event_id, "id-2");
    }

    // A second job over the same dead letters: what went through is a duplicate now.
    let mut again = ReingestSink::new(gateway.clone(), fix(MOVE_TOTAL), "fix-2");
    run_job(&dlq.log, &job("fix-2"), &mut again, &checkpoints)
        .await
        .expect("run");
    assert_eq!(
        again.counts(),
        ReingestCounts {
            accepted: 0,
            duplicates: 2,
            rejected: 1,
            unreadable: 2,
            patch_failed: 1,
        }
    );
    assert_eq!(gateway.state().written.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_fix_resubmits_the_bytes_as_they_were() {
    let dlq = dlq(1).await;
    let original = r#"{ "amount": 1,  "order_id": "o-1" }"#;
    append(
        dlq.log.as_ref(),
        vec![dead_letter(
            original,
            base_ms(),
            ORDERS,
            "schema_violation",
            Some("id-1"),
        )],
    )
    .await;
    let gateway = Arc::new(FakeGateway::default());
    let mut sink = ReingestSink::new(gateway.clone(), fix("[]"), "as-is");
    run_job(
        &dlq.log,
        &job("as-is"),
        &mut sink,
        &MemoryCheckpoints::new(),
    )
    .await
    .expect("run");
    assert_eq!(sink.counts().accepted, 1);
    assert_eq!(&gateway.state().written[0].body[..], original.as_bytes());
}

/// 700 fixable dead letters in each of two partitions; the gateway fails the 800th call (in
/// partition 1's first batch of 500, after 99 of its events went through). The failed run
/// checkpointed partition 0 only; the resumed run resubmits partition 1 from its start, and
/// the 99 come back as duplicates: every event is written exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_failing_mid_batch_resumes_without_writing_anything_twice() {
    const PER_PARTITION: usize = 700;
    let dlq = dlq(2).await;
    let t = base_ms();
    for partition in 0..2 {
        let records = (0..PER_PARTITION)
            .map(|i| {
                dead_letter(
                    format!(r#"{{"order_id":"o-{partition}-{i}","total":{i}}}"#),
                    t + i as i64,
                    ORDERS,
                    "schema_violation",
                    Some(&format!("id-{partition}-{i}")),
                )
                .with_partition(partition)
            })
            .collect();
        append(dlq.log.as_ref(), records).await;
    }
    let gateway = Arc::new(FakeGateway::failing_at(800));
    let checkpoints = MemoryCheckpoints::new();
    let job = job("resume");

    let mut first = ReingestSink::new(gateway.clone(), fix(MOVE_TOTAL), "resume");
    let error = run_job(&dlq.log, &job, &mut first, &checkpoints)
        .await
        .expect_err("the transport error fails the run");
    assert!(matches!(error, ReplayError::Sink(_)), "{error:?}");
    assert!(error.to_string().contains("cannot take writes"), "{error}");
    // Only confirmed batches count: partition 0's two.
    assert_eq!(first.counts().accepted, PER_PARTITION as u64);
    assert_eq!(gateway.state().written.len(), PER_PARTITION + 99);

    let mut resumed = ReingestSink::new(gateway.clone(), fix(MOVE_TOTAL), "resume");
    let outcome = run_job(&dlq.log, &job, &mut resumed, &checkpoints)
        .await
        .expect("the resumed run completes");
    assert!(matches!(outcome, Outcome::Completed(_)), "{outcome:?}");
    assert_eq!(
        resumed.counts(),
        ReingestCounts {
            accepted: (PER_PARTITION - 99) as u64,
            duplicates: 99,
            ..ReingestCounts::default()
        }
    );

    let state = gateway.state();
    let ids: HashSet<&str> = state.written.iter().map(|w| w.event_id.as_str()).collect();
    assert_eq!(state.written.len(), 2 * PER_PARTITION, "written once each");
    assert_eq!(ids.len(), 2 * PER_PARTITION);
    // Partition 0 was never resubmitted again: 1,400 events, 99 retried, 1 failed call.
    assert_eq!(state.calls.len(), 2 * PER_PARTITION + 99 + 1);
    // In order within a partition.
    let partition_1: Vec<&str> = state
        .written
        .iter()
        .map(|w| w.event_id.as_str())
        .filter(|id| id.starts_with("id-1-"))
        .collect();
    let expected: Vec<String> = (0..PER_PARTITION).map(|i| format!("id-1-{i}")).collect();
    assert_eq!(partition_1, expected);
}
