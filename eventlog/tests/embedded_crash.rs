//! `kill -9` in the middle of appends loses no acknowledged record.
//!
//! The parent test re-runs this test binary as a child that appends in a loop and prints one
//! line per acknowledged record, kills it with SIGKILL (`Child::kill`) at some point, reopens
//! the log and checks every acknowledged record is where the append said it was.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tributary_eventlog::conformance::read_to_end;
use tributary_eventlog::{EmbeddedLog, EmbeddedOptions, EventLog, LogError, Record, TopicSpec};

const DIR_ENV: &str = "TRIBUTARY_CRASH_TEST_DIR";
const RUN_ENV: &str = "TRIBUTARY_CRASH_TEST_RUN";
const CHILD: &str = "crash_child_appends_until_killed";
const TOPIC: &str = "crash";
const PARTITIONS: u32 = 3;

fn options(dir: &std::path::Path) -> EmbeddedOptions {
    // Small segments so that rolls happen while the child is being killed.
    EmbeddedOptions::new(dir).with_segment_bytes(32 << 10)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The child: four writers append small batches forever and report each acknowledged record
/// as `ack {partition} {offset} {value}` once `append` has returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs only as the child process of kill_9_loses_no_acknowledged_record"]
async fn crash_child_appends_until_killed() {
    let Some(dir) = std::env::var_os(DIR_ENV) else {
        return;
    };
    let run = std::env::var(RUN_ENV).expect("run number");
    let log = Arc::new(
        EmbeddedLog::open(options(std::path::Path::new(&dir)))
            .await
            .expect("child opens the log"),
    );
    let mut writers = Vec::new();
    for writer in 0..4 {
        let log = Arc::clone(&log);
        let run = run.clone();
        writers.push(tokio::spawn(async move {
            let mut n = 0u64;
            loop {
                let values: Vec<String> = (0..1 + n % 7)
                    .map(|i| format!("r{run}-w{writer}-{}", n + i))
                    .collect();
                n += values.len() as u64;
                let batch = values
                    .iter()
                    .map(|v| Record::new(v.clone(), now_ms()))
                    .collect();
                let results = match log.append(TOPIC, batch).await {
                    Ok(results) => results,
                    Err(e) => {
                        eprintln!("child append failed: {e}");
                        return;
                    }
                };
                for (value, result) in values.iter().zip(results) {
                    let position = result.expect("record appended");
                    println!("ack {} {} {value}", position.partition, position.offset);
                }
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
}

/// Runs the child, kills it after `kill_after` acknowledgements and returns what it
/// acknowledged.
fn run_child(dir: &std::path::Path, run: usize, kill_after: usize) -> Vec<(u32, i64, String)> {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", CHILD, "--nocapture", "--include-ignored"])
        .env(DIR_ENV, dir)
        .env(RUN_ENV, run.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("child stdout");
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("child output");
        let Some(rest) = line.strip_prefix("ack ") else {
            continue;
        };
        let mut parts = rest.split(' ');
        let (Some(p), Some(o), Some(v)) = (parts.next(), parts.next(), parts.next()) else {
            panic!("malformed child line {line:?}");
        };
        acked.push((
            p.parse().expect("partition"),
            o.parse().expect("offset"),
            v.to_owned(),
        ));
        if acked.len() == kill_after {
            // std's Child::kill sends SIGKILL on Unix: no destructor, no flush, no close.
            child.kill().expect("kill child");
            break;
        }
    }
    let status = child.wait().expect("wait for child");
    assert!(
        acked.len() == kill_after,
        "child stopped on its own after {} acknowledgements: {status}",
        acked.len()
    );
    acked
}

#[test]
fn kill_9_loses_no_acknowledged_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let log = EmbeddedLog::open(options(dir.path())).await.expect("open");
        log.create_topic(&TopicSpec::new(TOPIC, PARTITIONS))
            .await
            .expect("create topic");
        log.close().await.expect("close");
    });

    let mut acknowledged: HashMap<(u32, i64), String> = HashMap::new();
    for (run, kill_after) in [2_000, 350, 3_000, 1, 1_200].into_iter().enumerate() {
        for (partition, offset, value) in run_child(dir.path(), run, kill_after) {
            let previous = acknowledged.insert((partition, offset), value.clone());
            assert!(
                previous.is_none(),
                "position {partition}:{offset} acknowledged twice ({previous:?}, {value})"
            );
        }
        runtime.block_on(async {
            let log = EmbeddedLog::open(options(dir.path()))
                .await
                .expect("reopen after kill");
            let mut stored = HashMap::new();
            for p in 0..PARTITIONS {
                // read_to_end insists the offsets are contiguous.
                for record in read_to_end(&log, TOPIC, p, 0).await {
                    let value = String::from_utf8(record.value.to_vec()).expect("utf-8");
                    stored.insert((p, record.offset), value);
                }
            }
            for (position, value) in &acknowledged {
                assert_eq!(
                    stored.get(position),
                    Some(value),
                    "run {run}: acknowledged record at {position:?} lost"
                );
            }
            // Appends after recovery continue right after what survived.
            for p in 0..PARTITIONS {
                let high = log.watermarks(TOPIC, p).await.expect("watermarks").high;
                let results = log
                    .append(
                        TOPIC,
                        vec![Record::new("after-reopen", now_ms()).with_partition(p)],
                    )
                    .await
                    .expect("append after reopen");
                let position = results[0].clone().expect("appended");
                assert_eq!(
                    position.offset, high,
                    "partition {p}: no gap after recovery"
                );
                acknowledged.insert((p, high), "after-reopen".to_owned());
            }
            log.close().await.expect("close");
        });
    }
    assert!(acknowledged.len() > 6_000);
}

#[tokio::test]
async fn a_second_open_of_the_same_directory_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(options(dir.path())).await.expect("open");
    let err = EmbeddedLog::open(options(dir.path())).await.unwrap_err();
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "the error names the directory: {err}"
    );
    log.close().await.expect("close");
    assert_eq!(
        log.append(TOPIC, vec![Record::new("late", 0)]).await,
        Err(LogError::Closed)
    );
    // Closing released the directory.
    let again = EmbeddedLog::open(options(dir.path()))
        .await
        .expect("reopen");
    again.close().await.expect("close");
}
