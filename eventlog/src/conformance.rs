//! One conformance suite for every [`EventLog`] backend.
//!
//! Each case is an `async fn` taking a [`Subject`]; [`conformance_suite!`](crate::conformance_suite)
//! turns them into one `#[tokio::test]` per case for a backend, and
//! [`fault_suite!`](crate::fault_suite) does the same for the broker-fault cases of backends
//! that can inject faults. Cases create their own uniquely named topics, so they may share one
//! broker and run in parallel.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{EventLog, LogError, Record, Retention, StoredRecord, TopicSpec};

/// A backend under test.
#[async_trait]
pub trait Subject: Send + Sync {
    fn log(&self) -> Arc<dyn EventLog>;

    /// Applies retention now. `None` when the backend cannot be made to on demand (a Kafka
    /// broker deletes on its own schedule); the retention case then checks only that the
    /// settings round-trip.
    async fn enforce_retention(&self) -> Option<Result<(), LogError>> {
        None
    }
}

/// A backend whose broker can be taken down and brought back.
#[async_trait]
pub trait FaultSubject: Subject {
    async fn broker_down(&self);
    async fn broker_up(&self);
    /// How long an append may wait for a durable answer before it fails.
    fn append_timeout(&self) -> Duration;
}

/// Runs every conformance case as its own test. Attributes given before `setup` (for example
/// `#[ignore = "…"]`) are put on every generated test.
#[macro_export]
macro_rules! conformance_suite {
    ($(#[$meta:meta])* setup: $setup:expr) => {
        $crate::conformance_suite!(@cases [$(#[$meta])*] $setup;
            topics_lifecycle,
            invalid_topics_are_rejected,
            keyed_records_keep_partition_order,
            offsets_are_contiguous_from_zero,
            records_round_trip_exactly,
            reads_start_mid_batch_and_respect_bounds,
            unknown_topic_and_partition_are_rejected,
            read_by_time_has_exact_boundaries,
            read_by_time_on_an_empty_partition,
            retention,
            consumer_group_resumes_without_redelivery,
            batch_of_ten_thousand,
            concurrent_appends_keep_offsets_unique,
        );
    };
    // The attributes travel as one token tree: a repetition nested in the cases' repetition
    // would have to repeat as often as the cases do.
    (@cases $attrs:tt $setup:expr; $($case:ident),* $(,)?) => {
        $(
            $crate::conformance_suite!(@case $attrs $setup; $case);
        )*
    };
    (@case [$(#[$meta:meta])*] $setup:expr; $case:ident) => {
        $(#[$meta])*
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let subject = $setup.await;
            $crate::conformance::$case(&subject).await;
        }
    };
}

/// Runs the broker-fault cases as tests; `setup` must give a [`FaultSubject`].
#[macro_export]
macro_rules! fault_suite {
    ($(#[$meta:meta])* setup: $setup:expr) => {
        $crate::conformance_suite!(@cases [$(#[$meta])*] $setup;
            broker_down_mid_append_loses_nothing_acknowledged,
            append_while_broker_down_is_retryable,
        );
    };
}

/// A topic name no other case (or earlier run) uses.
pub fn unique_topic(case: &str) -> String {
    format!("conformance.{case}.{}", uuid::Uuid::new_v4().simple())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

async fn new_topic(log: &dyn EventLog, case: &str, partitions: u32) -> String {
    let name = unique_topic(case);
    log.create_topic(&TopicSpec::new(&name, partitions))
        .await
        .expect("create topic");
    name
}

/// Appends and insists that every record was accepted.
async fn append_all(log: &dyn EventLog, topic: &str, records: Vec<Record>) -> Vec<crate::Position> {
    let n = records.len();
    let results = log.append(topic, records).await.expect("append");
    assert_eq!(results.len(), n, "one verdict per record");
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|e| panic!("record {i} not appended: {e}")))
        .collect()
}

/// Reads a partition from `from` up to its high watermark.
pub async fn read_to_end(
    log: &dyn EventLog,
    topic: &str,
    partition: u32,
    from: i64,
) -> Vec<StoredRecord> {
    let high = log
        .watermarks(topic, partition)
        .await
        .expect("watermarks")
        .high;
    let mut out = Vec::new();
    let mut next = from;
    while next < high {
        let batch = log.read(topic, partition, next, 1000).await.expect("read");
        assert!(
            !batch.is_empty(),
            "read at {next} below high watermark {high} returned nothing"
        );
        for record in batch {
            assert_eq!(record.offset, next, "offsets must be contiguous");
            next += 1;
            out.push(record);
        }
    }
    out
}

fn value(i: usize) -> Bytes {
    Bytes::from(format!("record-{i:06}"))
}

pub async fn topics_lifecycle(subject: &dyn Subject) {
    let log = subject.log();
    let name = unique_topic("lifecycle");
    let retention = Retention {
        time: Some(Duration::from_secs(3600)),
        bytes: Some(64 << 20),
    };
    log.create_topic(&TopicSpec::new(&name, 3).with_retention(retention))
        .await
        .unwrap();

    let described = log.describe_topic(&name).await.unwrap();
    assert_eq!(described.name, name);
    assert_eq!(described.partitions, 3);
    assert_eq!(described.retention, retention);

    let listed = log.list_topics().await.unwrap();
    assert!(
        listed.iter().any(|t| t.name == name && t.partitions == 3),
        "{name} not listed"
    );
    let names: Vec<_> = listed.iter().map(|t| t.name.clone()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "list_topics is sorted by name");

    let again = log.create_topic(&TopicSpec::new(&name, 3)).await;
    assert_eq!(again, Err(LogError::TopicExists(name.clone())));

    for p in 0..3 {
        let w = log.watermarks(&name, p).await.unwrap();
        assert_eq!((w.low, w.high), (0, 0), "new partition {p} is empty");
    }

    log.delete_topic(&name).await.unwrap();
    let gone = log.describe_topic(&name).await;
    assert_eq!(gone, Err(LogError::UnknownTopic(name.clone())));
}

pub async fn invalid_topics_are_rejected(subject: &dyn Subject) {
    let log = subject.log();
    for spec in [
        TopicSpec::new("bad/name", 1),
        TopicSpec::new("", 1),
        TopicSpec::new("zero.partitions", 0),
    ] {
        let err = log.create_topic(&spec).await.unwrap_err();
        assert!(
            matches!(err, LogError::InvalidTopic(_)),
            "{spec:?} gave {err:?}"
        );
    }
    let missing = unique_topic("never-created");
    assert_eq!(
        log.delete_topic(&missing).await,
        Err(LogError::UnknownTopic(missing))
    );
}

pub async fn keyed_records_keep_partition_order(subject: &dyn Subject) {
    let log = subject.log();
    let topic = new_topic(log.as_ref(), "order", 4).await;
    let keys: Vec<String> = (0..10).map(|k| format!("key-{k}")).collect();
    let mut sent: HashMap<String, Vec<Bytes>> = HashMap::new();
    for round in 0..3 {
        let mut batch = Vec::new();
        for i in 0..100 {
            let key = &keys[i % keys.len()];
            let v = Bytes::from(format!("{key}/{round}/{i}"));
            sent.entry(key.clone()).or_default().push(v.clone());
            batch.push(Record::new(v, now_ms()).with_key(key.clone()));
        }
        append_all(log.as_ref(), &topic, batch).await;
    }

    let mut seen: HashMap<String, (u32, Vec<Bytes>)> = HashMap::new();
    for p in 0..4 {
        for record in read_to_end(log.as_ref(), &topic, p, 0).await {
            let key = String::from_utf8(record.key.clone().unwrap().to_vec()).unwrap();
            let entry = seen.entry(key.clone()).or_insert((p, Vec::new()));
            assert_eq!(entry.0, p, "key {key} appears in two partitions");
            entry.1.push(record.value);
        }
    }
    for (key, values) in sent {
        let expected = crate::partition_for_key(key.as_bytes(), 4);
        let (partition, got) = &seen[&key];
        assert_eq!(
            *partition, expected,
            "key {key} is in the partition its hash names"
        );
        assert_eq!(got, &values, "key {key} records out of order");
    }
}

pub async fn offsets_are_contiguous_from_zero(subject: &dyn Subject) {
    let log = subject.log();
    let topic = new_topic(log.as_ref(), "contiguous", 3).await;
    let mut positions = Vec::new();
    for chunk in 0..5 {
        let batch = (0..50)
            .map(|i| Record::new(value(chunk * 50 + i), now_ms()))
            .collect();
        positions.extend(append_all(log.as_ref(), &topic, batch).await);
    }
    let mut per_partition: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
    for pos in &positions {
        per_partition
            .entry(pos.partition)
            .or_default()
            .push(pos.offset);
    }
    assert_eq!(
        per_partition.len(),
        3,
        "keyless records spread over every partition"
    );
    for (p, offsets) in per_partition {
        let expected: Vec<i64> = (0..offsets.len() as i64).collect();
        assert_eq!(
            offsets, expected,
            "partition {p}: offsets in append order, from 0, no gaps"
        );
        let w = log.watermarks(&topic, p).await.unwrap();
        assert_eq!(
            (w.low, w.high),
            (0, expected.len() as i64),
            "partition {p} watermarks"
        );
    }
}

pub async fn records_round_trip_exactly(subject: &dyn Subject) {
    let log = subject.log();
    let topic = new_topic(log.as_ref(), "roundtrip", 1).await;
    let ts = now_ms() - 12_345;
    let binary: Vec<u8> = (0..=255u8).collect();
    // Headers two records share, written after each one's own.
    let shared: crate::SharedHeaders = std::sync::Arc::from(vec![
        ("tributary.producer".into(), Bytes::from_static(b"checkout")),
        ("shared.bin".into(), Bytes::from(vec![1u8, 0, 254])),
    ]);
    let records = vec![
        Record::new(Bytes::from(binary.clone()), ts)
            .with_key("k-1")
            .with_header("tributary.event_id", "0190f0d4-0000-7000-8000-000000000001")
            .with_header("bin", Bytes::from(vec![0u8, 159, 255]))
            .with_header("empty", Bytes::new())
            .with_shared_headers(shared.clone()),
        Record::new(Bytes::new(), ts + 1).with_shared_headers(shared),
        Record::new(Bytes::from(vec![b'x'; 100_000]), ts + 2).with_key(Bytes::new()),
    ];
    let positions = append_all(log.as_ref(), &topic, records.clone()).await;
    assert_eq!(
        positions.iter().map(|p| p.offset).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );

    let back = log.read(&topic, 0, 0, 10).await.unwrap();
    assert_eq!(back.len(), 3);
    for (sent, got) in records.iter().zip(&back) {
        assert_eq!(got.value, sent.value);
        assert_eq!(got.timestamp_ms, sent.timestamp_ms);
        let sent_headers: Vec<(String, Bytes)> = sent
            .all_headers()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        assert_eq!(got.headers, sent_headers);
    }
    assert_eq!(back[0].headers.len(), 5);
    assert_eq!(back[0].headers[3].0, "tributary.producer");
    assert_eq!(
        back[1].header("shared.bin").map(|b| b.to_vec()),
        Some(vec![1, 0, 254])
    );
    assert_eq!(back[0].key.as_deref(), Some(&b"k-1"[..]));
    assert_eq!(back[1].key, None);
    assert_eq!(
        back[0].header("bin").map(|b| b.to_vec()),
        Some(vec![0, 159, 255])
    );
}

pub async fn reads_start_mid_batch_and_respect_bounds(subject: &dyn Subject) {
    let log = subject.log();
    let topic = new_topic(log.as_ref(), "bounds", 1).await;
    // One append of 50 records: brokers store it as one batch, so offset 17 is mid-batch.
    append_all(
        log.as_ref(),
        &topic,
        (0..50).map(|i| Record::new(value(i), now_ms())).collect(),
    )
    .await;

    let mid = log.read(&topic, 0, 17, 5).await.unwrap();
    assert_eq!(
        mid.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![17, 18, 19, 20, 21]
    );
    assert_eq!(mid[0].value, value(17));

    let tail = log.read(&topic, 0, 45, 100).await.unwrap();
    assert_eq!(tail.len(), 5, "read stops at the high watermark");
    assert!(
        log.read(&topic, 0, 50, 10).await.unwrap().is_empty(),
        "read at the high watermark is empty"
    );
    let past = log.read(&topic, 0, 51, 10).await.unwrap_err();
    assert!(
        matches!(
            past,
            LogError::OffsetOutOfRange {
                offset: 51,
                high: 50,
                ..
            }
        ),
        "{past:?}"
    );
    let negative = log.read(&topic, 0, -1, 10).await.unwrap_err();
    assert!(
        matches!(negative, LogError::OffsetOutOfRange { .. }),
        "{negative:?}"
    );
}

pub async fn unknown_topic_and_partition_are_rejected(subject: &dyn Subject) {
    let log = subject.log();
    let missing = unique_topic("missing");
    let err = log
        .append(&missing, vec![Record::new("x", now_ms())])
        .await
        .unwrap_err();
    assert_eq!(err, LogError::UnknownTopic(missing.clone()));
    assert!(!err.is_retryable());
    assert!(matches!(
        log.read(&missing, 0, 0, 1).await,
        Err(LogError::UnknownTopic(_))
    ));
    assert!(matches!(
        log.watermarks(&missing, 0).await,
        Err(LogError::UnknownTopic(_))
    ));

    let topic = new_topic(log.as_ref(), "partitions", 2).await;
    let results = log
        .append(
            &topic,
            vec![
                Record::new("good", now_ms()).with_partition(1),
                Record::new("bad", now_ms()).with_partition(2),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        results[0],
        Ok(crate::Position {
            partition: 1,
            offset: 0
        })
    );
    assert!(
        matches!(&results[1], Err(e) if e.kind() == crate::ErrorKind::Rejected),
        "a record for a partition that does not exist is rejected, the rest kept: {:?}",
        results[1]
    );
    assert!(matches!(
        log.read(&topic, 2, 0, 1).await,
        Err(LogError::UnknownPartition { .. })
    ));
    assert_eq!(log.watermarks(&topic, 1).await.unwrap().high, 1);
}

pub async fn read_by_time_has_exact_boundaries(subject: &dyn Subject) {
    let log = subject.log();
    let topic = new_topic(log.as_ref(), "by-time", 1).await;
    let t0 = now_ms() - 3_600_000;
    // 100 records 10 ms apart, offsets 20..=22 share one timestamp; appended in batches of 7
    // so brokers hold multi-record batches.
    let ts_of = |i: i64| {
        if (20..=22).contains(&i) {
            t0 + 200
        } else {
            t0 + i * 10
        }
    };
    let all: Vec<Record> = (0..100)
        .map(|i| Record::new(value(i as usize), ts_of(i)))
        .collect();
    for chunk in all.chunks(7) {
        append_all(log.as_ref(), &topic, chunk.to_vec()).await;
    }
    let cases = [
        (t0 - 1_000_000, 0),
        (t0, 0),
        (t0 + 1, 1),
        (t0 + 10, 1),
        (t0 + 250, 25),
        (t0 + 251, 26),
        (t0 + 199, 20),
        (t0 + 200, 20), // the first of three equal timestamps
        (t0 + 201, 23),
        (t0 + 990, 99),
        (t0 + 991, 100), // after the last record: the high watermark
        (now_ms() + 86_400_000, 100),
    ];
    for (ts, expected) in cases {
        let got = log.offset_for_time(&topic, 0, ts).await.unwrap();
        assert_eq!(got, expected, "offset_for_time(t0{:+})", ts - t0);
        if expected < 100 {
            let first = log.read(&topic, 0, got, 1).await.unwrap();
            assert!(
                first[0].timestamp_ms >= ts,
                "record at the answer is not before the bound"
            );
        }
    }
}

pub async fn read_by_time_on_an_empty_partition(subject: &dyn Subject) {
    let log = subject.log();
    let topic = new_topic(log.as_ref(), "by-time-empty", 2).await;
    append_all(
        log.as_ref(),
        &topic,
        vec![Record::new("only", now_ms()).with_partition(0)],
    )
    .await;
    assert_eq!(log.offset_for_time(&topic, 1, 0).await.unwrap(), 0);
    assert_eq!(
        log.offset_for_time(&topic, 0, now_ms() + 60_000)
            .await
            .unwrap(),
        1
    );
    assert_eq!(log.offset_for_time(&topic, 0, 0).await.unwrap(), 0);
}

pub async fn retention(subject: &dyn Subject) {
    let log = subject.log();
    let topic = unique_topic("retention");
    let retention = Retention {
        time: Some(Duration::from_secs(60)),
        bytes: None,
    };
    log.create_topic(&TopicSpec::new(&topic, 1).with_retention(retention))
        .await
        .unwrap();
    assert_eq!(
        log.describe_topic(&topic).await.unwrap().retention,
        retention
    );

    // 200 records two hours old, then 20 fresh ones; only the fresh ones are inside retention.
    let old = now_ms() - 2 * 3_600_000;
    for chunk in 0..4 {
        let batch = (0..50)
            .map(|i| Record::new(vec![b'o'; 2048], old + chunk * 50 + i))
            .collect();
        append_all(log.as_ref(), &topic, batch).await;
    }
    let fresh: Vec<Record> = (0..20).map(|i| Record::new(value(i), now_ms())).collect();
    append_all(log.as_ref(), &topic, fresh).await;

    let Some(result) = subject.enforce_retention().await else {
        return;
    };
    result.expect("enforce retention");
    let w = log.watermarks(&topic, 0).await.unwrap();
    assert_eq!(w.high, 220, "retention never changes the high watermark");
    assert!(
        w.low > 0,
        "expired records were deleted (low watermark {})",
        w.low
    );
    assert!(
        w.low <= 200,
        "records inside retention were kept (low watermark {})",
        w.low
    );
    let err = log.read(&topic, 0, 0, 1).await.unwrap_err();
    assert!(
        matches!(err, LogError::OffsetOutOfRange { offset: 0, .. }),
        "{err:?}"
    );
    let kept = read_to_end(log.as_ref(), &topic, 0, w.low).await;
    assert_eq!(kept.len() as i64, 220 - w.low);
    assert_eq!(kept.last().unwrap().value, value(19));
    assert!(log.offset_for_time(&topic, 0, old).await.unwrap() >= w.low);
}

pub async fn consumer_group_resumes_without_redelivery(subject: &dyn Subject) {
    let log = subject.log();
    let topic = new_topic(log.as_ref(), "group", 3).await;
    let group = format!("group-{}", uuid::Uuid::new_v4().simple());
    append_all(
        log.as_ref(),
        &topic,
        (0..90).map(|i| Record::new(value(i), now_ms())).collect(),
    )
    .await;

    let mut first = log
        .subscribe(&group, std::slice::from_ref(&topic))
        .await
        .unwrap();
    let mut seen_first = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen_first.len() < 40 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "first member got only {} records",
            seen_first.len()
        );
        seen_first.extend(first.poll(10, Duration::from_secs(1)).await.unwrap());
    }
    first.commit().await.unwrap();
    drop(first);

    let committed = log.committed_offsets(&group, &topic).await.unwrap();
    let committed_total: i64 = committed.iter().map(|(_, o)| o.unwrap_or(0)).sum();
    assert_eq!(
        committed_total as usize,
        seen_first.len(),
        "committed offsets cover what was consumed"
    );

    let mut second = log
        .subscribe(&group, std::slice::from_ref(&topic))
        .await
        .unwrap();
    let mut seen_second = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen_first.len() + seen_second.len() < 90 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "second member stalled at {}",
            seen_second.len()
        );
        seen_second.extend(second.poll(100, Duration::from_secs(1)).await.unwrap());
    }
    let extra = second.poll(100, Duration::from_millis(500)).await.unwrap();
    assert!(extra.is_empty(), "nothing beyond the 90 records: {extra:?}");
    second.commit().await.unwrap();

    let mut ids = HashSet::new();
    for r in seen_first.iter().chain(&seen_second) {
        assert_eq!(r.topic, topic);
        assert!(
            ids.insert((r.partition, r.record.offset)),
            "redelivered {}:{}",
            r.partition,
            r.record.offset
        );
    }
    assert_eq!(ids.len(), 90);
    let committed = log.committed_offsets(&group, &topic).await.unwrap();
    assert_eq!(
        committed.iter().map(|(_, o)| o.unwrap_or(0)).sum::<i64>(),
        90
    );
}

pub async fn batch_of_ten_thousand(subject: &dyn Subject) {
    let log = subject.log();
    let topic = new_topic(log.as_ref(), "ten-thousand", 2).await;
    let payload = vec![b'p'; 500];
    let records: Vec<Record> = (0..10_000)
        .map(|i| {
            let mut v = format!("{i:08}").into_bytes();
            v.extend_from_slice(&payload);
            Record::new(v, now_ms()).with_key(format!("k{}", i % 64))
        })
        .collect();
    let positions = append_all(log.as_ref(), &topic, records).await;
    let unique: HashSet<_> = positions.iter().collect();
    assert_eq!(unique.len(), 10_000, "every record has its own position");

    let mut total = 0;
    for p in 0..2 {
        let records = read_to_end(log.as_ref(), &topic, p, 0).await;
        let mut last_index = -1i64;
        for r in &records {
            assert_eq!(r.value.len(), 508);
            let index: i64 = std::str::from_utf8(&r.value[..8]).unwrap().parse().unwrap();
            assert!(index > last_index, "partition {p}: append order kept");
            last_index = index;
        }
        total += records.len();
    }
    assert_eq!(total, 10_000);
}

pub async fn concurrent_appends_keep_offsets_unique(subject: &dyn Subject) {
    let log = subject.log();
    let topic = new_topic(log.as_ref(), "concurrent", 2).await;
    let mut tasks = Vec::new();
    for writer in 0..8 {
        let log = log.clone();
        let topic = topic.clone();
        tasks.push(tokio::spawn(async move {
            let mut positions = Vec::new();
            for round in 0..5 {
                let batch = (0..40)
                    .map(|i| Record::new(format!("{writer}/{round}/{i}"), now_ms()))
                    .collect();
                positions.extend(append_all(log.as_ref(), &topic, batch).await);
            }
            positions
        }));
    }
    let mut all = HashSet::new();
    for task in tasks {
        for pos in task.await.unwrap() {
            assert!(all.insert(pos), "position {pos:?} handed out twice");
        }
    }
    assert_eq!(all.len(), 8 * 5 * 40);
    let mut count = 0;
    for p in 0..2 {
        let high = log.watermarks(&topic, p).await.unwrap().high;
        let offsets: HashSet<i64> = all
            .iter()
            .filter(|x| x.partition == p)
            .map(|x| x.offset)
            .collect();
        assert_eq!(offsets, (0..high).collect(), "partition {p}: no gaps");
        count += high;
    }
    assert_eq!(count, 1600);
}

/// Appends batches while the broker goes down and comes back: every record acknowledged
/// with a position is in the log at that position exactly once; every failure is retryable.
pub async fn broker_down_mid_append_loses_nothing_acknowledged(subject: &dyn FaultSubject) {
    let log = subject.log();
    let topic = new_topic(log.as_ref(), "fault-mid-append", 2).await;
    let outage = subject.append_timeout() * 2;

    let writer = {
        let log = log.clone();
        let topic = topic.clone();
        tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for batch_no in 0..40usize {
                let batch: Vec<Record> = (0..100)
                    .map(|i| Record::new(value(batch_no * 100 + i), now_ms()))
                    .collect();
                let results = log.append(&topic, batch).await.expect("append call");
                for (i, r) in results.into_iter().enumerate() {
                    outcomes.push((value(batch_no * 100 + i), r));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            outcomes
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    subject.broker_down().await;
    tokio::time::sleep(outage).await;
    subject.broker_up().await;
    let outcomes = writer.await.unwrap();

    let acknowledged: Vec<_> = outcomes
        .iter()
        .filter_map(|(v, r)| r.as_ref().ok().map(|p| (v, *p)))
        .collect();
    let failed: Vec<_> = outcomes
        .iter()
        .filter_map(|(_, r)| r.as_ref().err())
        .collect();
    assert!(
        !acknowledged.is_empty(),
        "records before the outage were acknowledged"
    );
    assert!(!failed.is_empty(), "records during the outage failed");
    for err in &failed {
        assert!(
            err.is_retryable(),
            "a broker outage is retryable, got {err:?}"
        );
    }

    let mut stored: HashMap<(u32, i64), Bytes> = HashMap::new();
    let mut copies: HashMap<Bytes, usize> = HashMap::new();
    for p in 0..2 {
        for r in read_to_end(log.as_ref(), &topic, p, 0).await {
            *copies.entry(r.value.clone()).or_default() += 1;
            stored.insert((p, r.offset), r.value);
        }
    }
    for (v, pos) in acknowledged {
        assert_eq!(
            stored.get(&(pos.partition, pos.offset)),
            Some(v),
            "acknowledged record at {pos:?} missing"
        );
        assert_eq!(copies[v], 1, "acknowledged record stored more than once");
    }
}

/// With the broker down, an append fails within its timeout with a retryable error and
/// reports nothing as durable.
pub async fn append_while_broker_down_is_retryable(subject: &dyn FaultSubject) {
    let log = subject.log();
    let topic = new_topic(log.as_ref(), "fault-down", 1).await;
    append_all(log.as_ref(), &topic, vec![Record::new("before", now_ms())]).await;
    subject.broker_down().await;
    let started = std::time::Instant::now();
    let results = log
        .append(
            &topic,
            (0..10).map(|i| Record::new(value(i), now_ms())).collect(),
        )
        .await;
    let waited = started.elapsed();
    subject.broker_up().await;
    match results {
        Err(e) => assert!(e.is_retryable(), "{e:?}"),
        Ok(results) => {
            for r in results {
                let err = r.expect_err("nothing is durable while the broker is down");
                assert!(err.is_retryable(), "{err:?}");
            }
        }
    }
    // A liveness bound, not a speed target: the error must come about when the message
    // timeout runs out (it came 10 s late when librdkafka slept out its reconnect backoff).
    let limit = subject.append_timeout() * 2 + Duration::from_secs(2);
    assert!(
        waited < limit,
        "append took {waited:?} to give up; its timeout is {:?}",
        subject.append_timeout()
    );
}
