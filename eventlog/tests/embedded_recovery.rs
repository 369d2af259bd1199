//! Recovery, indexes, retention, limits and consumer-group rebalancing of the embedded log.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tributary_eventlog::conformance::read_to_end;
use tributary_eventlog::{
    EmbeddedLog, EmbeddedOptions, EventLog, FsyncPolicy, LogError, Record, Retention, TopicSpec,
};

const TOPIC: &str = "t";

fn options(dir: &Path) -> EmbeddedOptions {
    let mut options = EmbeddedOptions::new(dir).with_segment_bytes(4096);
    options.index_interval_bytes = 256;
    options
}

fn value(i: usize) -> String {
    format!("value-{i:05}")
}

/// A log with one topic of `partitions` holding `n` records in partition 0.
async fn log_with_records(dir: &Path, partitions: u32, n: usize) -> EmbeddedLog {
    let log = EmbeddedLog::open(options(dir)).await.expect("open");
    log.create_topic(&TopicSpec::new(TOPIC, partitions))
        .await
        .expect("create topic");
    for chunk in (0..n).collect::<Vec<_>>().chunks(40) {
        let batch = chunk
            .iter()
            .map(|&i| Record::new(value(i), 1_000 + i as i64).with_partition(0))
            .collect();
        for result in log.append(TOPIC, batch).await.expect("append") {
            result.expect("appended");
        }
    }
    log
}

/// The partition's segment (`log`) or index files, oldest first.
fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let partition = dir.join("topics").join(TOPIC).join("0");
    let mut files: Vec<PathBuf> = fs::read_dir(partition)
        .expect("partition dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
}

/// Damages the last segment with `damage(file, len)`, reopens, and checks that exactly
/// `survivors` records remain and appends continue after them.
async fn damage_and_reopen(damage: impl Fn(&fs::File, u64), survivors: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = log_with_records(dir.path(), 1, 100).await;
    log.close().await.expect("close");
    drop(log);

    let last = files(dir.path(), "log").pop().expect("a segment");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&last)
        .expect("open segment");
    let len = file.metadata().expect("stat").len();
    damage(&file, len);
    drop(file);

    let log = EmbeddedLog::open(options(dir.path()))
        .await
        .expect("reopen");
    let w = log.watermarks(TOPIC, 0).await.expect("watermarks");
    assert_eq!((w.low, w.high), (0, survivors as i64));
    let records = read_to_end(&log, TOPIC, 0, 0).await;
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record.value, value(i).as_bytes(), "record {i} intact");
    }
    let results = log
        .append(TOPIC, vec![Record::new("next", 5).with_partition(0)])
        .await
        .expect("append");
    assert_eq!(
        results[0].clone().expect("appended").offset,
        survivors as i64
    );
    drop(log);

    // The repaired log reopens cleanly with the new record.
    let log = EmbeddedLog::open(options(dir.path()))
        .await
        .expect("reopen again");
    assert_eq!(
        log.watermarks(TOPIC, 0).await.expect("watermarks").high,
        survivors as i64 + 1
    );
}

#[tokio::test]
async fn a_torn_tail_is_cut_off() {
    damage_and_reopen(|f, len| f.set_len(len - 7).expect("truncate"), 99).await;
}

#[tokio::test]
async fn a_flipped_byte_in_the_last_frame_is_cut_off() {
    let flip = |f: &fs::File, len: u64| {
        let mut byte = [0u8];
        f.read_exact_at(&mut byte, len - 3).expect("read");
        byte[0] ^= 0x10;
        f.write_all_at(&byte, len - 3).expect("write");
    };
    damage_and_reopen(flip, 99).await;
}

#[tokio::test]
async fn garbage_lengths_are_cut_off() {
    // A huge length after the last frame: nothing is allocated, the garbage goes.
    let huge = |f: &fs::File, len: u64| {
        f.write_all_at(&[0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, 5, 6], len)
            .expect("write")
    };
    damage_and_reopen(huge, 100).await;
    // A length that runs past the end of the file.
    let past_end = |f: &fs::File, len: u64| {
        let mut frame = 4000u32.to_le_bytes().to_vec();
        frame.extend_from_slice(&[0; 60]);
        f.write_all_at(&frame, len).expect("write")
    };
    damage_and_reopen(past_end, 100).await;
    // Zeroes, as a crash can leave after a file grew but before its data landed.
    damage_and_reopen(|f, len| f.set_len(len + 4096).expect("extend"), 100).await;
}

#[tokio::test]
async fn missing_or_invalid_indexes_are_rebuilt() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = log_with_records(dir.path(), 1, 600).await;
    log.close().await.expect("close");
    drop(log);

    let indexes = files(dir.path(), "index");
    assert!(
        indexes.len() >= 3,
        "sealed segments have indexes: {indexes:?}"
    );
    fs::remove_file(&indexes[0]).expect("delete index");
    fs::write(&indexes[1], b"not an index").expect("garble index");
    let third = fs::read(&indexes[2]).expect("read index");
    let mut flipped = third.clone();
    flipped[30] ^= 1;
    fs::write(&indexes[2], flipped).expect("flip index");

    let log = EmbeddedLog::open(options(dir.path()))
        .await
        .expect("reopen");
    let records = read_to_end(&log, TOPIC, 0, 0).await;
    assert_eq!(records.len(), 600);
    for i in [0, 1, 77, 250, 599] {
        let got = log.read(TOPIC, 0, i, 1).await.expect("read");
        assert_eq!(got[0].value, value(i as usize).as_bytes());
        let by_time = log
            .offset_for_time(TOPIC, 0, 1_000 + i)
            .await
            .expect("by time");
        assert_eq!(by_time, i);
    }
    assert!(indexes[0].exists(), "the missing index was written again");
    assert_eq!(fs::read(&indexes[2]).expect("read index"), third);
}

/// A deterministic pseudo-random sequence (no extra dependency).
fn lcg(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *state >> 33
}

#[tokio::test]
async fn offset_for_time_is_exact_with_out_of_order_timestamps() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(options(dir.path())).await.expect("open");
    log.create_topic(&TopicSpec::new(TOPIC, 1))
        .await
        .expect("create");
    let mut seed = 7;
    let mut timestamps = Vec::new();
    for i in 0..1500i64 {
        // Mostly rising, with jumps back by up to 400 ms and a few far-future outliers.
        let ts = match lcg(&mut seed) % 20 {
            0 => 1_000_000 + i * 10 + 5_000,
            1..=6 => 1_000_000 + i * 10 - (lcg(&mut seed) % 400) as i64,
            _ => 1_000_000 + i * 10,
        };
        timestamps.push(ts);
    }
    for chunk in timestamps.chunks(25) {
        let batch = chunk.iter().map(|&ts| Record::new("x", ts)).collect();
        log.append(TOPIC, batch).await.expect("append");
    }
    assert!(files(dir.path(), "log").len() > 5, "several segments");

    let expected = |t: i64| {
        timestamps
            .iter()
            .position(|&ts| ts >= t)
            .map_or(timestamps.len() as i64, |i| i as i64)
    };
    let mut probes: Vec<i64> = timestamps.iter().flat_map(|&t| [t - 1, t, t + 1]).collect();
    probes.extend([i64::MIN, 0, 1_000_000 - 401, i64::MAX]);
    check_offsets_for_time(&log, &probes, expected).await;
    // Again, answered from the indexes persisted when the segments were sealed.
    log.close().await.expect("close");
    drop(log);
    let log = EmbeddedLog::open(options(dir.path()))
        .await
        .expect("reopen");
    check_offsets_for_time(&log, &probes, expected).await;
}

async fn check_offsets_for_time(log: &EmbeddedLog, probes: &[i64], expected: impl Fn(i64) -> i64) {
    for &t in probes {
        let got = log.offset_for_time(TOPIC, 0, t).await.expect("by time");
        assert_eq!(got, expected(t), "offset_for_time({t})");
    }
}

#[tokio::test]
async fn retention_by_size_deletes_oldest_segments() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(options(dir.path())).await.expect("open");
    let limit = 20_000;
    let retention = Retention {
        time: None,
        bytes: Some(limit),
    };
    log.create_topic(&TopicSpec::new(TOPIC, 1).with_retention(retention))
        .await
        .expect("create");
    let records: Vec<Record> = (0..1000).map(|i| Record::new(value(i), 5)).collect();
    log.append(TOPIC, records).await.expect("append");
    log.enforce_retention().await.expect("retention");

    let w = log.watermarks(TOPIC, 0).await.expect("watermarks");
    assert_eq!(w.high, 1000);
    assert!(w.low > 0, "old segments went");
    let on_disk: u64 = files(dir.path(), "log")
        .iter()
        .map(|f| fs::metadata(f).expect("stat").len())
        .sum();
    assert!(on_disk <= limit, "{on_disk} bytes left, limit {limit}");
    assert!(
        on_disk > limit - 4096,
        "no more than needed was deleted ({on_disk})"
    );
    let kept = read_to_end(&log, TOPIC, 0, w.low).await;
    assert_eq!(kept[0].value, value(w.low as usize).as_bytes());
    assert!(matches!(
        log.read(TOPIC, 0, w.low - 1, 1).await,
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(
        log.offset_for_time(TOPIC, 0, 0).await.expect("by time"),
        w.low
    );
}

#[tokio::test]
async fn retention_by_time_can_empty_a_partition_and_survives_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(options(dir.path())).await.expect("open");
    let retention = Retention {
        time: Some(Duration::from_secs(60)),
        bytes: None,
    };
    log.create_topic(&TopicSpec::new(TOPIC, 1).with_retention(retention))
        .await
        .expect("create");
    let records: Vec<Record> = (0..300)
        .map(|i| Record::new(value(i), 1_000 + i as i64))
        .collect();
    log.append(TOPIC, records).await.expect("append");
    log.enforce_retention().await.expect("retention");
    let w = log.watermarks(TOPIC, 0).await.expect("watermarks");
    assert_eq!((w.low, w.high), (300, 300), "everything expired");
    assert!(log.read(TOPIC, 0, 300, 10).await.expect("read").is_empty());
    log.close().await.expect("close");
    drop(log);

    let log = EmbeddedLog::open(options(dir.path()))
        .await
        .expect("reopen");
    let w = log.watermarks(TOPIC, 0).await.expect("watermarks");
    assert_eq!((w.low, w.high), (300, 300));
    let results = log
        .append(TOPIC, vec![Record::new("new", 2_000)])
        .await
        .expect("append");
    assert_eq!(results[0].clone().expect("appended").offset, 300);
}

#[tokio::test]
async fn fsync_never_still_survives_a_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = options(dir.path()).with_fsync(FsyncPolicy::Never);
    let log = EmbeddedLog::open(opts.clone()).await.expect("open");
    log.create_topic(&TopicSpec::new(TOPIC, 2))
        .await
        .expect("create");
    let records: Vec<Record> = (0..500).map(|i| Record::new(value(i), 9)).collect();
    log.append(TOPIC, records).await.expect("append");
    drop(log);
    let log = EmbeddedLog::open(opts).await.expect("reopen");
    let total = log.watermarks(TOPIC, 0).await.expect("w").high
        + log.watermarks(TOPIC, 1).await.expect("w").high;
    assert_eq!(total, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_rebalances_when_members_join_and_leave() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(options(dir.path())).await.expect("open");
    log.create_topic(&TopicSpec::new(TOPIC, 4))
        .await
        .expect("create");
    for p in 0..4 {
        let batch = (0..10)
            .map(|i| Record::new(format!("{p}/{i}"), 1).with_partition(p))
            .collect();
        log.append(TOPIC, batch).await.expect("append");
    }
    let topics = [TOPIC.to_owned()];
    let mut a = log.subscribe("g", &topics).await.expect("a joins");
    assert_eq!(a.assignment().len(), 4, "a lone member owns everything");
    let mut b = log.subscribe("g", &topics).await.expect("b joins");
    // Until `a` lets go of b's partitions, `b` reads nothing: one reader per partition.
    let early = b
        .poll(100, Duration::from_millis(100))
        .await
        .expect("b polls");
    assert!(
        early.is_empty(),
        "b read partitions a still holds: {early:?}"
    );

    // `a` takes up the new assignment on its next poll.
    let mut seen = HashSet::new();
    let from_a = a.poll(100, Duration::from_secs(5)).await.expect("a polls");
    let (owned_a, owned_b) = (a.assignment(), b.assignment());
    assert_eq!(
        (owned_a.len(), owned_b.len()),
        (2, 2),
        "{owned_a:?} {owned_b:?}"
    );
    assert!(owned_a.iter().all(|x| !owned_b.contains(x)), "disjoint");
    assert_eq!(from_a.len(), 20);
    for r in &from_a {
        assert!(owned_a.contains(&(r.topic.clone(), r.partition)));
        assert!(seen.insert((r.partition, r.record.offset)));
    }
    a.commit().await.expect("a commits");

    // `b` reads half a partition, commits, and leaves.
    let from_b = b.poll(5, Duration::from_secs(5)).await.expect("b polls");
    assert_eq!(from_b.len(), 5);
    for r in &from_b {
        assert!(owned_b.contains(&(r.topic.clone(), r.partition)));
        assert!(seen.insert((r.partition, r.record.offset)));
    }
    b.commit().await.expect("b commits");
    drop(b);

    // `a` picks up b's partitions from b's committed offsets: nothing is seen twice.
    let mut rest = Vec::new();
    while seen.len() < 40 {
        let batch = a.poll(100, Duration::from_secs(5)).await.expect("a polls");
        assert!(!batch.is_empty(), "a stalled at {} records", seen.len());
        rest.extend(batch);
        for r in &rest {
            seen.insert((r.partition, r.record.offset));
        }
    }
    assert_eq!(rest.len(), 15, "exactly b's unread records: {rest:?}");
    assert_eq!(a.assignment().len(), 4);

    // A poll waits for new records instead of returning empty at once.
    let appender = {
        let topic = TOPIC.to_owned();
        let log = std::sync::Arc::new(log);
        let writer = std::sync::Arc::clone(&log);
        let task = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            writer
                .append(&topic, vec![Record::new("late", 2).with_partition(3)])
                .await
                .expect("append")
        });
        (log, task)
    };
    let started = std::time::Instant::now();
    let late = a.poll(10, Duration::from_secs(20)).await.expect("a waits");
    assert_eq!(late.len(), 1);
    assert!(started.elapsed() < Duration::from_secs(10));
    appender.1.await.expect("appender");
    a.commit().await.expect("commit");
    let committed = appender
        .0
        .committed_offsets("g", TOPIC)
        .await
        .expect("committed");
    assert_eq!(
        committed,
        vec![(0, Some(10)), (1, Some(10)), (2, Some(10)), (3, Some(11))]
    );
    drop(a);
    let log = std::sync::Arc::into_inner(appender.0).expect("only owner");
    assert_eq!(
        log.committed_offsets("nobody", TOPIC)
            .await
            .expect("empty group"),
        vec![(0, None), (1, None), (2, None), (3, None)]
    );

    // Committed offsets are durable: a reopened log still has them.
    log.close().await.expect("close");
    drop(log);
    let log = EmbeddedLog::open(options(dir.path()))
        .await
        .expect("reopen");
    assert_eq!(
        log.committed_offsets("g", TOPIC).await.expect("committed"),
        committed
    );
    let mut c = log.subscribe("g", &topics).await.expect("c joins");
    let nothing = c.poll(100, Duration::from_millis(100)).await.expect("poll");
    assert!(
        nothing.is_empty(),
        "a new member resumes after the commits: {nothing:?}"
    );
}

#[tokio::test]
async fn an_oversized_record_is_rejected_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(options(dir.path())).await.expect("open");
    log.create_topic(&TopicSpec::new(TOPIC, 1))
        .await
        .expect("create");
    let huge = vec![0u8; 17 << 20];
    let results = log
        .append(
            TOPIC,
            vec![
                Record::new("before", 1),
                Record::new(huge, 2),
                Record::new("after", 3),
            ],
        )
        .await
        .expect("append");
    assert_eq!(results[0].clone().expect("first").offset, 0);
    assert!(
        matches!(&results[1], Err(LogError::Rejected(m)) if m.contains("exceeds")),
        "{:?}",
        results[1]
    );
    assert_eq!(results[2].clone().expect("third").offset, 1);
    let back = read_to_end(&log, TOPIC, 0, 0).await;
    assert_eq!(back[1].value, "after".as_bytes());
}
