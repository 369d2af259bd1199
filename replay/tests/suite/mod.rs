//! The cases, each over one event log.

mod doubles;
mod interruptions;

pub(crate) use interruptions::{
    a_failure_ends_a_paused_run, interrupted_job_resumes_exactly_once,
    partitions_are_replayed_side_by_side,
};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tributary_core::headers;
use tributary_eventlog::conformance::{read_to_end, unique_topic};
use tributary_eventlog::{EventLog, Record, Retention, StoredRecord, TopicSpec};
use tributary_replay::{
    Checkpoints, Control, JobRun, MemoryCheckpoints, Outcome, Plan, Predicate, Progress,
    ReplayError, ReplayRecord, Selection, Sink, TopicSink, dry_run, ensure_topic, plan, run,
};

use doubles::{
    CollectSink, HangingCheckpoints, Lie, LyingLog, Script, ScriptedSink, SideBySideSink,
};

/// An hour ago, whole seconds: recent enough for any broker's default retention.
fn base_ms() -> i64 {
    let now = tributary_core::now_ms();
    now - now % 1000 - 3_600_000
}

async fn new_topic(log: &dyn EventLog, case: &str, partitions: u32) -> String {
    let topic = unique_topic(case);
    log.create_topic(&TopicSpec::new(&topic, partitions))
        .await
        .expect("create topic");
    topic
}

async fn append(log: &dyn EventLog, topic: &str, records: Vec<Record>) {
    let n = records.len();
    let results = log.append(topic, records).await.expect("append");
    assert_eq!(results.len(), n);
    for result in results {
        result.expect("record appended");
    }
}

fn selection(topic: &str, from_ms: i64, to_ms: i64) -> Selection {
    Selection {
        topics: vec![topic.to_owned()],
        from_ms,
        to_ms,
        keys: vec![],
        producers: vec![],
        schema_versions: vec![],
        predicate: None,
        dead_letter_reasons: vec![],
        dead_letter_types: vec![],
    }
}

/// Batches of 500 keep the cases' topics small (Tansu on sqlite reads slowly).
fn job(id: &str, selection: Selection) -> JobRun {
    JobRun {
        batch: 500,
        ..JobRun::new(id, selection)
    }
}

/// A job of `sel` into a fresh target topic, planned.
struct Topical {
    planned: Plan,
    id: String,
    job: JobRun,
    target: String,
}

/// Plans `sel` and creates the target topic (`partitions` partitions) of a new job for `case`.
async fn topical(log: &dyn EventLog, case: &str, sel: &Selection, partitions: u32) -> Topical {
    let planned = plan(log, sel).await.expect("plan");
    let id = format!("{case}-{}", uuid::Uuid::new_v4().simple());
    let target = tributary_replay::default_target_topic(&id);
    ensure_topic(log, &target, partitions).await.unwrap();
    Topical {
        planned,
        job: job(&id, sel.clone()),
        id,
        target,
    }
}

/// Runs `job` to its end into `sink`; the outcome.
async fn run_into(
    log: &Arc<dyn EventLog>,
    job: &JobRun,
    plan: &Plan,
    sink: &mut dyn Sink,
    checkpoints: &dyn Checkpoints,
) -> Result<Outcome, ReplayError> {
    let (progress, _) = watch::channel(Progress::default());
    run(
        log.clone(),
        job,
        plan,
        sink,
        checkpoints,
        Control::new(),
        progress,
    )
    .await
}

/// Plans and runs `selection` into a fresh target topic with as many partitions as the
/// source; the values found in each target partition.
async fn replay_to_topic(
    log: &Arc<dyn EventLog>,
    selection: &Selection,
    partitions: u32,
) -> (BTreeMap<u32, Vec<StoredRecord>>, Outcome) {
    let plan = plan(log.as_ref(), selection).await.expect("plan");
    let id = format!("job-{}", uuid::Uuid::new_v4().simple());
    let target = tributary_replay::default_target_topic(&id);
    ensure_topic(log.as_ref(), &target, partitions)
        .await
        .expect("target");
    let mut sink = TopicSink::open(log.clone(), &target, &selection.topics)
        .await
        .expect("sink");
    let checkpoints = MemoryCheckpoints::new();
    let outcome = run_into(
        log,
        &job(&id, selection.clone()),
        &plan,
        &mut sink,
        &checkpoints,
    )
    .await
    .expect("run");
    (
        read_target(log.as_ref(), &target, partitions).await,
        outcome,
    )
}

async fn read_target(
    log: &dyn EventLog,
    topic: &str,
    partitions: u32,
) -> BTreeMap<u32, Vec<StoredRecord>> {
    let mut out = BTreeMap::new();
    for p in 0..partitions {
        out.insert(p, read_to_end(log, topic, p, 0).await);
    }
    out
}

fn values(records: &[StoredRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8_lossy(&r.value).into_owned())
        .collect()
}

fn replayed_values(records: &[ReplayRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8_lossy(&r.value).into_owned())
        .collect()
}

/// Records stamped exactly at `from` are in, exactly at `to` out; out-of-order stamps inside
/// and around the range land where their time says, on both partitions.
pub(crate) async fn time_boundaries_are_exact(log: Arc<dyn EventLog>) {
    let topic = new_topic(log.as_ref(), "boundaries", 2).await;
    let t = base_ms();
    let (from, to) = (t + 1_000, t + 2_000);
    // (partition, offset in the partition's name, time): offsets follow the order here.
    let stamps: [(u32, &[i64]); 2] = [
        (
            0,
            &[
                t,
                t + 500,
                t + 999,
                from,
                from,
                t + 1_500,
                t + 900, // late, before the range
                to - 1,
                to,
                t + 1_800, // late, inside the range, after a record at `to`
                t + 2_500,
                to - 1, // late, after the range's last record
            ],
        ),
        (
            1,
            &[t, t + 1_200, t + 999, from, t + 3_000, from + 1], // 1_200 early, before older
        ),
    ];
    let mut expected: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for (partition, times) in stamps {
        let mut records = Vec::new();
        for (i, &ts) in times.iter().enumerate() {
            let value = format!("p{partition}-{i}-{}", ts - t);
            if ts >= from && ts < to {
                expected.entry(partition).or_default().push(value.clone());
            }
            records.push(
                Record::new(value, ts)
                    .with_key(format!("key-{i}"))
                    .with_header(headers::PRODUCER, "shop")
                    .with_partition(partition),
            );
        }
        append(log.as_ref(), &topic, records).await;
    }

    let sel = selection(&topic, from, to);
    let planned = plan(log.as_ref(), &sel).await.expect("plan");
    assert_eq!(planned.partitions[0].start, 3, "{planned:?}");
    assert_eq!(planned.partitions[1].start, 1, "{planned:?}");
    assert_eq!(planned.partitions[0].end, 12);
    assert!(planned.warnings.is_empty(), "{:?}", planned.warnings);

    let (target, outcome) = replay_to_topic(&log, &sel, 2).await;
    for p in 0..2 {
        assert_eq!(values(&target[&p]), expected[&p], "partition {p}");
    }
    assert_eq!(outcome.totals().emitted, 9);
    // Everything a record carries travels with it, plus the job.
    let first = &target[&0][0];
    assert_eq!(first.timestamp_ms, from);
    assert_eq!(first.key.as_deref(), Some(&b"key-3"[..]));
    assert_eq!(
        first.header(headers::PRODUCER).map(|v| &v[..]),
        Some(&b"shop"[..])
    );
    let job_header = first
        .header(headers::REPLAY_JOB)
        .expect("replay_job header");
    assert!(job_header.starts_with(b"job-"));

    // A range after every record, and one before all of them, plan to nothing or filter all.
    let after = plan(log.as_ref(), &selection(&topic, t + 10_000, t + 20_000))
        .await
        .unwrap();
    assert!(
        after.partitions.iter().all(|p| p.start == p.end),
        "{after:?}"
    );
    let (before, _) = replay_to_topic(&log, &selection(&topic, t - 5_000, t), 2).await;
    assert!(before.values().all(Vec::is_empty));
}

/// Records keyed `k0..k3` from producers `a`/`b`; a job selecting keys k1, k2 of producer b.
pub(crate) async fn key_and_producer_filters(log: Arc<dyn EventLog>) {
    let topic = new_topic(log.as_ref(), "keys", 3).await;
    let t = base_ms();
    let mut records = Vec::new();
    for i in 0..60 {
        let key = format!("k{}", i % 4);
        let producer = if i % 3 == 0 { "a" } else { "b" };
        records.push(
            Record::new(format!("{i}-{key}-{producer}"), t + i)
                .with_key(key)
                .with_header(headers::PRODUCER, producer),
        );
    }
    append(log.as_ref(), &topic, records).await;
    let source = read_target(log.as_ref(), &topic, 3).await;

    let mut sel = selection(&topic, t, t + 1_000);
    sel.keys = vec!["k1".into(), "k2".into()];
    sel.producers = vec!["b".into()];
    let (target, outcome) = replay_to_topic(&log, &sel, 3).await;
    let mut total = 0;
    for p in 0..3 {
        let expected: Vec<String> = values(&source[&p])
            .into_iter()
            .filter(|v| (v.contains("-k1-") || v.contains("-k2-")) && v.ends_with("-b"))
            .collect();
        total += expected.len();
        assert_eq!(values(&target[&p]), expected, "partition {p}");
    }
    assert_eq!(
        total, 20,
        "k1/k2 are half of 60, producer b two thirds of those"
    );
    assert_eq!(outcome.totals().emitted, 20);
    assert_eq!(outcome.totals().filtered, 40);
}

/// Schema versions from a header, a predicate on the JSON value (plain and in Confluent's
/// framing), and values that are not JSON: skipped and counted, the job completes.
pub(crate) async fn schema_version_and_predicate_filters(log: Arc<dyn EventLog>) {
    let topic = new_topic(log.as_ref(), "predicate", 1).await;
    let t = base_ms();
    let mut records = Vec::new();
    for i in 0..40i64 {
        let country = if i % 2 == 0 { "FR" } else { "DE" };
        let json = json!({ "id": i, "country": country }).to_string();
        let value: Vec<u8> = match i % 5 {
            // Confluent wire format: magic byte, schema id, JSON.
            1 => [&[0u8, 0, 0, 0, 9][..], json.as_bytes()].concat(),
            // Not JSON at all.
            4 => format!("garbage {i}").into_bytes(),
            _ => json.into_bytes(),
        };
        let version = if i < 20 { "1" } else { "2" };
        records.push(Record::new(value, t + i).with_header(headers::SCHEMA_VERSION, version));
    }
    append(log.as_ref(), &topic, records).await;

    let mut sel = selection(&topic, t, t + 1_000);
    sel.schema_versions = vec![2];
    sel.predicate = Some(Predicate::Eq {
        pointer: "/country".into(),
        value: json!("FR"),
    });
    let (target, outcome) = replay_to_topic(&log, &sel, 1).await;
    let ids: Vec<i64> = target[&0]
        .iter()
        .map(|r| {
            let json = if r.value[0] == 0 {
                &r.value[5..]
            } else {
                &r.value[..]
            };
            serde_json::from_slice::<serde_json::Value>(json).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    // Version 2 is ids 20..40; FR the even ones; ids ≡ 4 (mod 5) are garbage.
    assert_eq!(ids, vec![20, 22, 26, 28, 30, 32, 36, 38]);
    let totals = outcome.totals();
    assert!(matches!(outcome, Outcome::Completed(_)));
    assert_eq!(totals.emitted, 8);
    assert_eq!(totals.unreadable, 4, "24, 29, 34, 39 are not JSON");
    assert_eq!(totals.filtered, 28);
}

/// 500 records at 250/s: the rate measured between the first and the last write is within
/// 10 % of the limit.
pub(crate) async fn rate_limit_is_honoured(log: Arc<dyn EventLog>) {
    let topic = new_topic(log.as_ref(), "rate", 1).await;
    let t = base_ms();
    let records = (0..500)
        .map(|i| Record::new(format!("{i}"), t + i))
        .collect();
    append(log.as_ref(), &topic, records).await;
    let sel = selection(&topic, t, t + 1_000);
    let planned = plan(log.as_ref(), &sel).await.unwrap();
    let mut job = job("rate", sel);
    job.rate_per_sec = Some(250);
    let mut sink = CollectSink::default();
    let (progress, watcher) = watch::channel(Progress::default());
    let outcome = run(
        log.clone(),
        &job,
        &planned,
        &mut sink,
        &MemoryCheckpoints::new(),
        Control::new(),
        progress,
    )
    .await
    .unwrap();
    assert_eq!(outcome.totals().emitted, 500);
    let writes = sink.writes();
    let (first, last) = (writes.first().unwrap(), writes.last().unwrap());
    // The records written after the first write, over the time they took.
    let after_first: usize = writes[1..].iter().map(|(_, n)| n).sum();
    let seconds = (last.0 - first.0).as_secs_f64();
    let rate = after_first as f64 / seconds;
    assert!(
        (225.0..=275.0).contains(&rate),
        "measured {rate:.1}/s over {seconds:.2}s"
    );
    let reported = watcher.borrow().events_per_sec;
    assert!(
        (200.0..=300.0).contains(&reported),
        "progress reports {reported:.1}/s"
    );
    assert_eq!(watcher.borrow().eta_secs, Some(0));
}

/// `max_events` stops the job mid-batch with exactly that many emitted; a resumed run stays
/// stopped.
pub(crate) async fn max_events_stops_the_job(log: Arc<dyn EventLog>) {
    let topic = new_topic(log.as_ref(), "limit", 2).await;
    let t = base_ms();
    let records = (0..300)
        .map(|i| Record::new(format!("{i}"), t + i).with_key(format!("{i}")))
        .collect();
    append(log.as_ref(), &topic, records).await;
    let sel = selection(&topic, t, t + 1_000);
    let planned = plan(log.as_ref(), &sel).await.unwrap();
    let mut job = job("limit", sel);
    job.max_events = Some(120);
    let checkpoints = MemoryCheckpoints::new();
    let mut sink = CollectSink::default();
    let outcome = run_into(&log, &job, &planned, &mut sink, &checkpoints)
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::LimitReached(outcome.totals()));
    assert_eq!(outcome.totals().emitted, 120);
    assert_eq!(sink.records().len(), 120);
    let again = run_into(&log, &job, &planned, &mut sink, &checkpoints)
        .await
        .unwrap();
    assert!(matches!(again, Outcome::LimitReached(_)));
    assert_eq!(sink.records().len(), 120, "nothing more after the limit");
}

/// The dry run reads the same records and counts what the run then emits, per partition.
pub(crate) async fn dry_run_counts_what_a_run_emits(log: Arc<dyn EventLog>) {
    let topic = new_topic(log.as_ref(), "dry", 3).await;
    let t = base_ms();
    let records = (0..400i64)
        .map(|i| {
            let value = if i % 11 == 0 {
                "not json".to_owned()
            } else {
                json!({ "n": i % 4 }).to_string()
            };
            Record::new(value, t + i).with_key(format!("{}", i % 17))
        })
        .collect();
    append(log.as_ref(), &topic, records).await;
    let mut sel = selection(&topic, t + 50, t + 350);
    sel.predicate = Some(Predicate::Ne {
        pointer: "/n".into(),
        value: json!(0),
    });
    let planned = plan(log.as_ref(), &sel).await.unwrap();
    let estimates = dry_run(log.as_ref(), &sel, &planned).await.unwrap();
    let checkpoints = MemoryCheckpoints::new();
    let mut sink = CollectSink::default();
    let job = job("dry", sel);
    run_into(&log, &job, &planned, &mut sink, &checkpoints)
        .await
        .unwrap();
    let saved = checkpoints.snapshot("dry");
    let mut emitted = 0;
    for estimate in &estimates {
        let c = &saved[&(estimate.topic.clone(), estimate.partition)];
        assert_eq!(
            (estimate.emitted, estimate.filtered, estimate.unreadable),
            (c.emitted, c.filtered, c.unreadable),
            "{estimate:?}"
        );
        assert_eq!(estimate.read, c.emitted + c.filtered + c.unreadable);
        emitted += estimate.emitted;
    }
    assert_eq!(sink.records().len() as u64, emitted);
    assert!(emitted > 100, "{emitted}");
}

/// Records appended after planning, even inside the time range, are not replayed.
pub(crate) async fn plan_upper_bound_is_fixed(log: Arc<dyn EventLog>) {
    let topic = new_topic(log.as_ref(), "bound", 1).await;
    let t = base_ms();
    let first = (0..50)
        .map(|i| Record::new(format!("old{i}"), t + i))
        .collect();
    append(log.as_ref(), &topic, first).await;
    let sel = selection(&topic, t, t + 1_000);
    let planned = plan(log.as_ref(), &sel).await.unwrap();
    let later = (0..50)
        .map(|i| Record::new(format!("new{i}"), t + i))
        .collect();
    append(log.as_ref(), &topic, later).await;
    let mut sink = CollectSink::default();
    run_into(
        &log,
        &job("bound", sel),
        &planned,
        &mut sink,
        &MemoryCheckpoints::new(),
    )
    .await
    .unwrap();
    let got = replayed_values(&sink.records());
    let expected: Vec<String> = (0..50).map(|i| format!("old{i}")).collect();
    assert_eq!(got, expected);
}

/// A log whose `offset_for_time` lies — too late, too early, out of range, a few off — still
/// gives the exact plan (the first offset at or after `from`, by the records themselves), and
/// the run over it the exact records.
pub(crate) async fn plan_survives_a_lying_offset_for_time(log: Arc<dyn EventLog>) {
    let topic = new_topic(log.as_ref(), "lies", 1).await;
    let t = base_ms();
    let records = (0..1_200i64)
        .map(|i| {
            // Roughly ordered event times: runs of equal stamps, every tenth 25 ms late.
            let ts = t + (i / 3) * 10 - if i % 10 == 0 { 25 } else { 0 };
            Record::new(format!("v{i}"), ts)
        })
        .collect();
    append(log.as_ref(), &topic, records).await;
    let all = read_to_end(log.as_ref(), &topic, 0, 0).await;
    // From t + 990: offsets 297–299 are in, 300 (late) is not, 301 is. An answer of 301 passes
    // the check of its neighbour; the look-back still finds 297.
    for (from, to) in [(t + 990, t + 1_500), (t + 3_000, t + 3_500)] {
        let first_in = all.iter().position(|r| r.timestamp_ms >= from).unwrap() as i64;
        assert_eq!(first_in, if from == t + 990 { 297 } else { 901 });
        let expected: Vec<String> = all
            .iter()
            .filter(|r| r.timestamp_ms >= from && r.timestamp_ms < to)
            .map(|r| String::from_utf8_lossy(&r.value).into_owned())
            .collect();
        let sel = selection(&topic, from, to);
        for lie in [
            Lie::TooLate,
            Lie::TooEarly,
            Lie::PastTheEnd,
            Lie::Off(-7),
            Lie::Off(5),
        ] {
            let liar: Arc<dyn EventLog> = Arc::new(LyingLog::new(log.clone(), lie));
            let planned = plan(liar.as_ref(), &sel).await.unwrap();
            assert_eq!(
                planned.partitions[0].start, first_in,
                "{lie:?} for [{from}, {to})"
            );
            assert_eq!(planned.partitions[0].end, 1_200);
            if matches!(lie, Lie::TooLate) {
                let mut got = CollectSink::default();
                let job = job("liar", sel.clone());
                run_into(&liar, &job, &planned, &mut got, &MemoryCheckpoints::new())
                    .await
                    .unwrap();
                assert_eq!(replayed_values(&got.records()), expected);
            }
        }
    }
}

/// A paused job writes nothing until resumed, then finishes.
pub(crate) async fn pause_holds_the_job_between_batches(log: Arc<dyn EventLog>) {
    let topic = new_topic(log.as_ref(), "pause", 1).await;
    let t = base_ms();
    let records = (0..60)
        .map(|i| Record::new(format!("{i}"), t + i))
        .collect();
    append(log.as_ref(), &topic, records).await;
    let sel = selection(&topic, t, t + 1_000);
    let planned = plan(log.as_ref(), &sel).await.unwrap();
    let mut job = job("pause", sel);
    // 10 records a batch.
    job.rate_per_sec = Some(100);
    let control = Control::new();
    let (progress, mut watcher) = watch::channel(Progress::default());
    let sink = CollectSink::default();
    let seen = sink.shared();
    let task = {
        let (log, control, planned, job) =
            (log.clone(), control.clone(), planned.clone(), job.clone());
        let mut sink = sink;
        tokio::spawn(async move {
            run(
                log,
                &job,
                &planned,
                &mut sink,
                &MemoryCheckpoints::new(),
                control,
                progress,
            )
            .await
        })
    };
    watcher.wait_for(|p| p.totals.emitted >= 10).await.unwrap();
    assert!(control.pause());
    // The batch under way may finish; then nothing moves.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held = seen.lock().unwrap().len();
    assert!(held < 60, "paused at {held}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        seen.lock().unwrap().len(),
        held,
        "nothing written while paused"
    );
    assert!(control.resume());
    let outcome = task.await.unwrap().unwrap();
    assert!(matches!(outcome, Outcome::Completed(_)));
    assert_eq!(seen.lock().unwrap().len(), 60);
}

/// On a log whose oldest records were deleted: `from` before the oldest retained record is
/// reported, and a range that ended before it plans to nothing.
pub(crate) async fn retention_warnings<F, Fut>(
    log: Arc<tributary_eventlog::EmbeddedLog>,
    enforce: F,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let topic = unique_topic("retention");
    let retention = Retention {
        time: Some(Duration::from_secs(24 * 3600)),
        bytes: None,
    };
    log.create_topic(&TopicSpec::new(&topic, 1).with_retention(retention))
        .await
        .unwrap();
    let now = tributary_core::now_ms();
    let old = now - 3 * 24 * 3_600_000;
    let padding = "x".repeat(1_000);
    let stale = (0..100)
        .map(|i| Record::new(format!("{i}{padding}"), old + i))
        .collect();
    append(log.as_ref(), &topic, stale).await;
    let fresh = (0..100)
        .map(|i| Record::new(format!("{i}{padding}"), now - 1_000 + i))
        .collect();
    append(log.as_ref(), &topic, fresh).await;
    enforce().await;
    let low = log.watermarks(&topic, 0).await.unwrap().low;
    assert!(low > 0, "retention deleted the old segments");

    // Retention deletes whole segments: the oldest retained record may still be a stale one.
    let oldest = read_to_end(log.as_ref(), &topic, 0, low).await[0].timestamp_ms;
    let gone = plan(log.as_ref(), &selection(&topic, old - 10, oldest))
        .await
        .unwrap();
    assert_eq!(gone.partitions[0].start, gone.partitions[0].end, "{gone:?}");
    assert!(
        gone.warnings[0].contains("no longer retained"),
        "{:?}",
        gone.warnings
    );

    let partly = plan(log.as_ref(), &selection(&topic, old - 10, now + 1_000))
        .await
        .unwrap();
    assert_eq!(partly.partitions[0].start, low);
    assert!(
        partly.warnings[0].contains("earlier than the oldest retained"),
        "{:?}",
        partly.warnings
    );

    let within = plan(log.as_ref(), &selection(&topic, now - 1_000, now + 1_000))
        .await
        .unwrap();
    assert!(within.warnings.is_empty(), "{:?}", within.warnings);
}

/// A bad request is refused before anything is read; an unknown topic is the log's error.
pub(crate) async fn bad_requests_are_refused_up_front(log: Arc<dyn EventLog>) {
    let err = plan(log.as_ref(), &selection("t", 10, 5))
        .await
        .unwrap_err();
    assert!(matches!(err, ReplayError::BadRequest(_)), "{err}");
    let mut sel = selection("t", 1, 5);
    sel.topics.clear();
    let err = plan(log.as_ref(), &sel).await.unwrap_err();
    assert!(err.to_string().contains("at least one topic"), "{err}");
    let missing = unique_topic("missing");
    let err = plan(log.as_ref(), &selection(&missing, 1, 5))
        .await
        .unwrap_err();
    assert!(matches!(err, ReplayError::Log(_)), "{err}");
}

/// A read that answers nothing below the planned end is asked again, not taken for the end:
/// a few empty answers cost time, not records; a log that keeps answering nothing fails the
/// job instead of completing it with records missing.
pub(crate) async fn empty_reads_lose_nothing(log: Arc<dyn EventLog>) {
    let topic = new_topic(log.as_ref(), "empty_reads", 1).await;
    let t = base_ms();
    let records = (0..40)
        .map(|i| Record::new(format!("{i}"), t + i))
        .collect();
    append(log.as_ref(), &topic, records).await;
    let sel = selection(&topic, t, t + 1_000);
    let planned = plan(log.as_ref(), &sel).await.unwrap();

    let flaky: Arc<dyn EventLog> = Arc::new(LyingLog::empty_reads(log.clone(), 3));
    let mut got = CollectSink::default();
    let outcome = run_into(
        &flaky,
        &job("flaky", sel.clone()),
        &planned,
        &mut got,
        &MemoryCheckpoints::new(),
    )
    .await
    .unwrap();
    assert!(
        matches!(outcome, Outcome::Completed(t) if t.emitted == 40),
        "{outcome:?}"
    );
    let expected: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    assert_eq!(replayed_values(&got.records()), expected);

    let silent: Arc<dyn EventLog> = Arc::new(LyingLog::empty_reads(log.clone(), usize::MAX));
    let mut got = CollectSink::default();
    let failed = run_into(
        &silent,
        &job("silent", sel),
        &planned,
        &mut got,
        &MemoryCheckpoints::new(),
    )
    .await;
    match failed {
        Err(ReplayError::Log(error)) => {
            assert!(error.is_retryable(), "{error}");
            assert!(error.to_string().contains("no record at offset"), "{error}");
        }
        other => panic!("a log that answers nothing must fail the job: {other:?}"),
    }
    assert!(got.records().is_empty());
}
