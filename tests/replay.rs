//! Replay through the real binary, on both event logs: jobs created over `/v1/replays` and
//! with `tributary replay`, run by the server, read back from the target topic or the export
//! directory with the event log's own client.
//!
//! The engine's own suite (`cargo test -p tributary-replay`) covers the rate limit, pause,
//! cancel and a broker that answers offsets-by-time wrongly on both logs; these cases cover
//! what only the whole server shows: the time range as a producer's event times set it, the
//! filters, the permission checks, the answers to bad requests, and a server killed with
//! SIGKILL in the middle of a job, which must finish after the restart with every event
//! exported exactly once.

// Synchronous tests (no async runtime to block): std::thread::sleep is fine here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Backend, Bed, LogRecord, answer, now_ms};
use reqwest::Method;
use serde_json::{Value, json};
use tributary_core::headers;

macro_rules! on_every_backend {
    ($($case:ident),+ $(,)?) => {
        mod embedded {
            $(
                #[test]
                fn $case() {
                    crate::$case(crate::common::Backend::Embedded);
                }
            )+
        }
        mod kafka {
            $(
                #[test]
                #[ignore = "needs a Kafka broker: set TRIBUTARY_TEST_KAFKA (scripts/test-full does)"]
                fn $case() {
                    crate::$case(crate::common::Backend::Kafka);
                }
            )+
        }
    };
}

on_every_backend!(
    exact_boundaries_filters_and_order,
    bad_requests_and_permissions,
    killed_server_resumes_an_export_exactly_once,
    dead_letters_fixed_and_reingested,
);

/// The owner of the event types these tests make.
const OWNER: &str = "shop";

/// Creates a fresh event type owned by [`OWNER`], keyed by `/id`, with two partitions and a
/// schema needing `id` (text) and `n` (integer).
fn event_type(bed: &Bed, stem: &str) -> String {
    let name = common::fresh_type(stem);
    let fields = json!({"name": name, "owner": OWNER, "partitions": 2, "partition_key": "/id"});
    let (status, body) = common::post_json(bed, "/v1/event-types", &fields);
    assert_eq!(status, 201, "{body}");
    let schema = json!({
        "type": "object",
        "properties": {"id": {"type": "string"}, "n": {"type": "integer"}},
        "required": ["id", "n"]
    });
    let path = format!("/v1/event-types/{name}/schemas");
    let body = json!({"schema_type": "JSON", "schema": schema.to_string()});
    let (status, answer) = common::post_json(bed, &path, &body);
    assert_eq!(status, 201, "{answer}");
    name
}

/// Publishes `events` (NDJSON) as `producer`, all with the event time `time_ms`; every one
/// must be accepted.
fn publish(bed: &Bed, event_type: &str, producer: &str, time_ms: i64, events: &[Value]) {
    let body: Vec<String> = events.iter().map(Value::to_string).collect();
    let reply = answer(
        bed.request(Method::POST, &format!("/v1/events/{event_type}"))
            .header("content-type", "application/x-ndjson")
            .header("tributary-producer", producer)
            .header("tributary-event-time", time_ms.to_string())
            .body(body.join("\n")),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
}

/// `POST /v1/replays` as `principal` (none: the local admin).
fn create(bed: &Bed, principal: Option<&str>, body: &Value) -> common::Answer {
    let mut request = bed
        .request(Method::POST, "/v1/replays")
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(principal) = principal {
        request = request.header("tributary-principal", principal);
    }
    answer(request)
}

/// Polls a job until it has ended; it must have completed.
fn wait_completed(bed: &Bed, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let job: Value = bed.get(&format!("/v1/replays/{id}")).json().unwrap();
        match job["state"].as_str() {
            Some("completed") => return job,
            Some("failed" | "cancelled") => panic!("job {id} did not complete: {job}"),
            _ => {}
        }
        assert!(Instant::now() < deadline, "job {id} still not done: {job}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// RFC 3339 with milliseconds, as a user writes a range.
fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The `id` field of a record of an event type's topic (Confluent-framed JSON).
fn id_of(record: &LogRecord) -> String {
    record.framed_json().1["id"].as_str().unwrap().to_owned()
}

/// Events at `from - 1`, `from`, inside, `to - 1` and `to`, from two producers: the range
/// `[from, to)` keeps exactly the ones at `from`, inside and at `to - 1`, on both logs. A job
/// filtered by producer and one filtered by key emit exactly their events, each carrying the
/// job's id, in the order of their source partition.
pub(crate) fn exact_boundaries_filters_and_order(backend: Backend) {
    let mut bed = Bed::start(backend, &[]);
    let orders = event_type(&bed, "replayed");
    let from = now_ms() - 3_600_000;
    let to = from + 60_000;
    let at = |id: &str, n: i64| json!({"id": id, "n": n});
    publish(&bed, &orders, "shop", from - 1, &[at("before", 0)]);
    publish(&bed, &orders, "shop", from, &[at("first", 1), at("k1", 2)]);
    publish(
        &bed,
        &orders,
        "pos",
        from + 30_000,
        &[at("k2", 3), at("k1", 4)],
    );
    publish(&bed, &orders, "shop", to - 1, &[at("last", 5), at("k2", 6)]);
    publish(&bed, &orders, "shop", to, &[at("after", 7)]);
    let in_range = ["first", "k1", "k2", "k1", "last", "k2"];

    let range = json!({"event_types": [orders], "from": rfc3339(from), "to": rfc3339(to)});
    let mut dry = range.clone();
    dry["dry_run"] = json!(true);
    let reply = create(&bed, None, &dry);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body["would_emit"],
        json!(in_range.len()),
        "{}",
        reply.body
    );
    let read: u64 = reply.body["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["emitted"].as_u64().unwrap())
        .sum();
    assert_eq!(read, 6, "the dry run counts per partition: {}", reply.body);

    let mut by_producer = range.clone();
    by_producer["producers"] = json!(["shop"]);
    let job_producer = create(&bed, None, &by_producer);
    assert_eq!(job_producer.status, 201, "{}", job_producer.body);
    let mut by_key = range.clone();
    let key_topic = format!("e2e.replay_target_{}", common::unique());
    by_key["keys"] = json!(["k1", "k2"]);
    by_key["target"] = json!({"topic": key_topic});
    let job_key = create(&bed, Some(&format!("team:{OWNER}")), &by_key);
    assert_eq!(job_key.status, 201, "{}", job_key.body);
    let mut whole = range.clone();
    whole["target"] = json!({"source": true});
    let job_source = create(&bed, None, &whole);
    assert_eq!(job_source.status, 201, "{}", job_source.body);

    let ids: Vec<String> = [&job_producer, &job_key, &job_source]
        .iter()
        .map(|j| j.body["id"].as_str().unwrap().to_owned())
        .collect();
    let done: Vec<Value> = ids.iter().map(|id| wait_completed(&bed, id)).collect();
    assert_eq!(done[0]["emitted"], 4, "{}", done[0]);
    assert_eq!(done[1]["emitted"], 4, "{}", done[1]);
    assert_eq!(done[2]["emitted"], 6, "{}", done[2]);
    assert_eq!(done[0]["target"]["topic"], format!("replay.{}", ids[0]));

    let listed: Value = bed
        .get(&format!("/v1/replays?event_type={orders}"))
        .json()
        .unwrap();
    let listed: Vec<&str> = listed["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [&ids[2], &ids[1], &ids[0]], "newest first");

    // The UI lists the jobs, shows each, and the type's replay history; nothing runs any
    // more, so no page reloads itself.
    let page = |path: &str| {
        let response = bed.get(path);
        assert_eq!(response.status(), 200, "{path}");
        response.text().unwrap()
    };
    let list = page("/ui/replays");
    for id in &ids {
        assert!(list.contains(&format!("/ui/replays/{id}")), "{list}");
    }
    assert!(!list.contains("http-equiv=\"refresh\""), "{list}");
    let one = page(&format!("/ui/replays/{}", ids[1]));
    assert!(
        one.contains("completed") && one.contains(&key_topic),
        "{one}"
    );
    let history = page(&format!("/ui/types/{orders}"));
    assert!(
        history.contains("Replay history") && history.contains(&ids[0][..12]),
        "{history}"
    );

    let log = bed.log();
    let source = log.records(&orders);
    let check = |topic: &str, job: &str, wanted: &dyn Fn(&LogRecord) -> bool| {
        let replayed = log.records(topic);
        for record in &replayed {
            assert_eq!(record.header(headers::REPLAY_JOB), Some(job), "{record:?}");
        }
        // The target has the source's partitions, so each keeps its records and their order.
        for partition in 0..2 {
            let expected: Vec<&str> = source
                .iter()
                .filter(|r| r.partition == partition && r.header(headers::REPLAY_JOB).is_none())
                .filter(|r| {
                    let t = r.record.timestamp_ms;
                    (from..to).contains(&t) && wanted(r)
                })
                .map(LogRecord::event_id)
                .collect();
            let got: Vec<&str> = replayed
                .iter()
                .filter(|r| r.partition == partition)
                .map(LogRecord::event_id)
                .collect();
            assert_eq!(got, expected, "{topic} partition {partition}");
        }
        replayed.iter().map(id_of).collect::<Vec<_>>()
    };
    let mut got = check(&format!("replay.{}", ids[0]), &ids[0], &|r| {
        r.header(headers::PRODUCER) == Some("shop")
    });
    got.sort();
    assert_eq!(got, ["first", "k1", "k2", "last"]);
    let mut got = check(&key_topic, &ids[1], &|r| {
        matches!(r.key(), Some("k1" | "k2"))
    });
    got.sort();
    assert_eq!(got, ["k1", "k1", "k2", "k2"]);

    // Back into the source: the live events once, and the range again, marked with the job.
    let again: Vec<String> = source
        .iter()
        .filter(|r| r.header(headers::REPLAY_JOB) == Some(ids[2].as_str()))
        .map(id_of)
        .collect();
    let mut again_sorted = again.clone();
    again_sorted.sort();
    let mut wanted: Vec<&str> = in_range.to_vec();
    wanted.sort_unstable();
    assert_eq!(again_sorted, wanted);
    let live = source
        .iter()
        .filter(|r| r.header(headers::REPLAY_JOB).is_none())
        .count();
    assert_eq!(
        live, 8,
        "every published event once, besides the replayed copies"
    );
}

/// Requests that cannot work are refused before any work starts, with problem+json; only the
/// owners of every selected type (or admins) may start or change a replay.
pub(crate) fn bad_requests_and_permissions(backend: Backend) {
    let bed = Bed::start(backend, &[]);
    let orders = event_type(&bed, "guarded");
    // Enough that a job at one event per second is still running when it is cancelled.
    let events: Vec<Value> = (0..10).map(|n| json!({"id": "a", "n": n})).collect();
    publish(&bed, &orders, "shop", now_ms() - 1_000, &events);

    let refused = |body: Value, principal: Option<&str>, status: u16, says: &str| {
        let reply = create(&bed, principal, &body);
        assert_eq!(reply.status, status, "{body} → {}", reply.body);
        assert_eq!(reply.header("content-type"), "application/problem+json");
        let detail = reply.body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(says),
            "{body}: {detail:?} should say {says:?}"
        );
    };
    let base = json!({"event_types": [orders], "from": "-1h"});
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    refused(with("to", json!("-2h")), None, 400, "must be before");
    refused(with("from", json!("-6x")), None, 400, "from");
    refused(with("from", json!("yesterday")), None, 400, "from");
    refused(with("event_types", json!([])), None, 400, "at least one");
    refused(
        with("event_types", json!(["e2e.no_such_type"])),
        None,
        404,
        "does not exist",
    );
    refused(with("rate", json!(0)), None, 400, "rate");
    refused(
        with("reasons", json!(["schema_violation"])),
        None,
        400,
        "dead-letter",
    );
    refused(
        with(
            "target",
            json!({"file": {"path": "../escape", "format": "ndjson"}}),
        ),
        None,
        400,
        "relative",
    );
    refused(
        with(
            "target",
            json!({"file": {"path": "/etc/x", "format": "ndjson"}}),
        ),
        None,
        400,
        "relative",
    );
    refused(
        with("target", json!({"topic": orders})),
        None,
        400,
        "source",
    );
    refused(
        with("target", json!({"topic": "t", "source": true})),
        None,
        400,
        "exactly one",
    );
    refused(
        with(
            "predicate",
            json!({"op": "eq", "pointer": "id", "value": 1}),
        ),
        None,
        400,
        "pointer",
    );
    let reply = create(&bed, None, &with("surprise", json!(1)));
    assert_eq!(
        reply.status, 422,
        "unknown fields are refused: {}",
        reply.body
    );

    // A target the caller may not write: another team's event type, the dead-letter topic.
    let theirs = common::fresh_type("theirs");
    let fields = json!({"name": theirs, "owner": "payments"});
    let (status, body) = common::post_json(&bed, "/v1/event-types", &fields);
    assert_eq!(status, 201, "{body}");
    refused(
        with("target", json!({"topic": theirs})),
        Some("team:shop"),
        403,
        "payments",
    );
    refused(
        with("target", json!({"topic": "tributary.dlq"})),
        None,
        403,
        "dead-letter",
    );

    // Owners and admins only.
    refused(base.clone(), Some("team:search"), 403, "owner");
    refused(
        with("dry_run", json!(true)),
        Some("team:search"),
        403,
        "owner",
    );
    let dry = create(
        &bed,
        Some(&format!("team:{OWNER}")),
        &with("dry_run", json!(true)),
    );
    assert_eq!(dry.status, 200, "{}", dry.body);
    assert_eq!(dry.body["would_emit"], 10);

    // A job whose owner stops it: others may not touch it; an ended job cannot change.
    let job = create(&bed, None, &with("rate", json!(1)));
    assert_eq!(job.status, 201, "{}", job.body);
    let id = job.body["id"].as_str().unwrap();
    let change = |principal: &str, action: &str| {
        answer(
            bed.request(Method::POST, &format!("/v1/replays/{id}/{action}"))
                .header("tributary-principal", principal),
        )
    };
    let owner = format!("team:{OWNER}");
    let state_becomes = |wanted: &str| -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let job: Value = bed.get(&format!("/v1/replays/{id}")).json().unwrap();
            if job["state"] == wanted {
                return job;
            }
            assert!(Instant::now() < deadline, "never {wanted}: {job}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // Pause (its place is freed, nothing more is emitted), resume from the checkpoints.
    state_becomes("running");
    assert_eq!(change("team:search", "pause").status, 403);
    let reply = change(&owner, "pause");
    assert_eq!(
        (reply.status, &reply.body["desired"]),
        (200, &json!("pause"))
    );
    let paused = state_becomes("paused");
    std::thread::sleep(Duration::from_millis(1_500));
    let still: Value = bed.get(&format!("/v1/replays/{id}")).json().unwrap();
    assert_eq!(
        (&still["state"], &still["emitted"]),
        (&json!("paused"), &paused["emitted"]),
        "nothing is emitted while paused"
    );
    assert!(paused["emitted"].as_u64().unwrap() < 10, "{paused}");
    assert_eq!(change(&owner, "resume").status, 200);
    state_becomes("running");
    let reply = change("team:search", "cancel");
    assert_eq!(reply.status, 403, "{}", reply.body);
    let reply = change(&owner, "cancel");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let ended = state_becomes("cancelled");
    assert!(ended["emitted"].as_u64().unwrap() < 10, "{ended}");
    let reply = change("admin", "resume");
    assert_eq!(reply.status, 409, "{}", reply.body);
    let reply = answer(bed.request(Method::GET, "/v1/replays/0190000000000000000000000000dead"));
    assert_eq!(reply.status, 404, "{}", reply.body);
    let reply = answer(bed.request(Method::GET, "/v1/replays?limit=0"));
    assert_eq!(reply.status, 400, "{}", reply.body);
}

/// An audit export started with `tributary replay create`, the server killed with SIGKILL
/// while it runs: after the restart the job resumes from its checkpoints and completes, and the
/// export holds every event exactly once and verifies against its manifest — until a byte of
/// it changes.
pub(crate) fn killed_server_resumes_an_export_exactly_once(backend: Backend) {
    let mut bed = Bed::start(backend, &[]);
    let orders = event_type(&bed, "audited");
    let time = now_ms() - 60_000;
    for batch in 0..3 {
        let events: Vec<Value> = (0..200)
            .map(|i| json!({"id": format!("o{batch}-{i}"), "n": i}))
            .collect();
        publish(&bed, &orders, "shop", time, &events);
    }

    let workdir = bed.dir().to_owned();
    let cli = |server: &str, args: &[&str]| {
        let output = common::command(&workdir)
            .args(["replay", "--server", server])
            .args(args)
            .output()
            .unwrap();
        (
            output.status,
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (status, stdout, stderr) = cli(
        &bed.base,
        &[
            "create",
            &orders,
            "--from",
            "-1h",
            "--file",
            "audit/kill",
            "--rate",
            "100",
            "--json",
        ],
    );
    assert!(status.success(), "{stdout}{stderr}");
    let job: Value = serde_json::from_str(&stdout).unwrap();
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(job["state"], "pending", "{job}");

    // Kill it once it has exported some, well before the end.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job: Value = bed.get(&format!("/v1/replays/{id}")).json().unwrap();
        if job["progress"]["totals"]["emitted"].as_u64().unwrap_or(0) >= 150 {
            assert_eq!(job["state"], "running", "{job}");
            // Live progress in the UI: the job's page reloads itself while it runs.
            let html = bed.get(&format!("/ui/replays/{id}")).text().unwrap();
            assert!(html.contains("http-equiv=\"refresh\""), "{html}");
            assert!(html.contains("<progress"), "{html}");
            break;
        }
        assert!(Instant::now() < deadline, "{job}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let server = bed.take_server();
    server.signal("KILL");
    let _ = server.wait_exit();
    bed.restart(&[]);

    let (status, stdout, stderr) = cli(&bed.base, &["watch", &id]);
    assert!(status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("completed"),
        "a progress line that ends completed: {stderr}"
    );
    let job = wait_completed(&bed, &id);
    assert_eq!(job["emitted"], 600, "{job}");
    let (status, stdout, _) = cli(&bed.base, &["get", &id]);
    assert!(status.success() && stdout.contains("completed"), "{stdout}");
    let (status, stdout, _) = cli(&bed.base, &["list"]);
    assert!(status.success() && stdout.contains(&id), "{stdout}");
    // An export never overwrites one.
    let again = create(
        &bed,
        None,
        &json!({"event_types": [orders], "from": "-1h", "target": {"file": {"path": "audit/kill", "format": "ndjson"}}}),
    );
    assert_eq!(again.status, 409, "{}", again.body);

    let dir = bed.dir().join("tributary-data/replay-exports/audit/kill");
    let lines = std::fs::read_to_string(dir.join("events.ndjson")).unwrap();
    let mut seen = HashSet::new();
    for line in lines.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        let id = record["value"]["id"].as_str().unwrap().to_owned();
        assert!(seen.insert(id.clone()), "{id} exported twice");
    }
    assert_eq!(seen.len(), 600, "every event exported once");

    let verify = |dir: &Path| {
        common::command(bed.dir())
            .args(["replay", "verify"])
            .arg(dir)
            .output()
            .unwrap()
    };
    let output = verify(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("ok (600 records)"), "{stdout}");

    // One changed byte: the manifest's SHA-256 no longer matches.
    let data = dir.join("events.ndjson");
    let mut bytes = std::fs::read(&data).unwrap();
    let at = bytes.iter().position(|b| *b == b'o').unwrap();
    bytes[at] = b'0';
    std::fs::write(&data, bytes).unwrap();
    let output = verify(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("does not match its manifest"), "{stdout}");
}

/// `tributary replay run`: the engine in the CLI, against Kafka directly (no server), with
/// its job and checkpoints in a local SQLite file.
#[test]
#[ignore = "needs a Kafka broker: set TRIBUTARY_TEST_KAFKA (scripts/test-full does)"]
fn standalone_run_against_kafka() {
    let mut bed = Bed::start(Backend::Kafka, &[]);
    let orders = event_type(&bed, "standalone");
    let time = now_ms() - 60_000;
    let events = |stem: &str| -> Vec<Value> {
        (0..10)
            .map(|n| json!({"id": format!("{stem}{n}"), "n": n}))
            .collect()
    };
    publish(&bed, &orders, "shop", time, &events("s"));
    publish(&bed, &orders, "pos", time, &events("p"));
    let workdir = bed.dir().to_owned();
    bed.stop();

    let bootstrap = std::env::var(common::KAFKA_ENV).unwrap();
    let target = format!("e2e.standalone_target_{}", common::unique());
    let state = workdir.join("replay-state.db");
    let run = |args: &[&str]| {
        let output = common::command(&workdir)
            .args(["replay", "run", "--bootstrap", &bootstrap, "--state"])
            .arg(&state)
            .args(args)
            .output()
            .unwrap();
        (
            output.status,
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    // Extra librdkafka properties reach the clients (TLS and SASL ride on these).
    let (status, stdout, stderr) = run(&[
        "--kafka-property",
        "client.id=tributary-replay-e2e",
        "--topic",
        &orders,
        "--from",
        "-1h",
        "--dry-run",
        "--json",
    ]);
    assert!(status.success(), "{stdout}{stderr}");
    let dry: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(dry["would_emit"], 20, "{dry}");

    let (status, stdout, stderr) = run(&[
        "--topic",
        &orders,
        "--from",
        "-1h",
        "--producer",
        "shop",
        "--to-topic",
        &target,
        "--json",
    ]);
    assert!(status.success(), "{stdout}{stderr}");
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        (&summary["state"], &summary["emitted"], &summary["filtered"]),
        (&json!("completed"), &json!(10), &json!(10)),
        "{summary}"
    );
    let id = summary["id"].as_str().unwrap();

    let log = common::LogReader::kafka(&bootstrap);
    let replayed = log.records(&target);
    assert_eq!(replayed.len(), 10);
    for record in &replayed {
        assert_eq!(record.header(headers::PRODUCER), Some("shop"));
        assert_eq!(record.header(headers::REPLAY_JOB), Some(id));
    }

    // A finished job has nothing to resume; a bad range is refused before any work.
    let (status, _, stderr) = run(&["--resume", id]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("already completed"), "{stderr}");
    let (status, _, stderr) = run(&["--topic", &orders, "--from", "-1h", "--to", "-2h"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("before"), "{stderr}");
}

/// `tributary replay run --kafka-property`: malformed, reserved and unknown properties stop
/// the command before it connects (exit status 2, the property named), whether or not a
/// broker is there.
#[test]
fn standalone_refuses_bad_kafka_properties() {
    let dir = tempfile::tempdir().unwrap();
    let run = |property: &str| {
        let output = common::command(dir.path())
            .args([
                "replay",
                "run",
                "--bootstrap",
                "127.0.0.1:1",
                "--topic",
                "orders",
            ])
            .args(["--from", "-1h", "--kafka-property", property])
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    for (property, said) in [
        ("security.protocol", "is not KEY=VALUE"),
        ("=SSL", "is not KEY=VALUE"),
        ("acks=1", "\"acks\" cannot be overridden"),
        (
            "enable.idempotence=false",
            "\"enable.idempotence\" cannot be overridden",
        ),
        ("no.such.property=1", "no.such.property"),
    ] {
        let (code, stderr) = run(property);
        assert_eq!(code, Some(2), "{property}: {stderr}");
        assert!(stderr.contains(said), "{property}: {stderr}");
        assert!(!stderr.contains("cannot reach"), "{property}: {stderr}");
    }
}

/// Dead letters selected by reason and type, fixed with a JSON Patch, previewed (before, after,
/// the verdict they would get now), then re-ingested through the gateway under their original
/// event ids: the fixed ones land in the type's topic once — a second recovery finds them
/// duplicates — and the one the fix does not save is dead-lettered again.
pub(crate) fn dead_letters_fixed_and_reingested(backend: Backend) {
    let mut bed = Bed::start(backend, &[]);
    let orders = event_type(&bed, "recovered");
    let body = [
        json!({"id": "d1"}),
        json!({"id": "ok", "n": 1}),
        json!({"id": "d2"}),
        json!({"id": 5, "n": 2}),
        json!({"id": "d3"}),
    ];
    let lines: Vec<String> = body.iter().map(Value::to_string).collect();
    let reply = answer(
        bed.request(Method::POST, &format!("/v1/events/{orders}"))
            .header("content-type", "application/x-ndjson")
            .header("tributary-producer", "shop")
            .body(lines.join("\n")),
    );
    assert_eq!(reply.status, 207, "{}", reply.body);
    let verdicts = reply.body["results"].as_array().unwrap();
    let dead: Vec<&str> = [0, 2, 4]
        .iter()
        .map(|&i| verdicts[i]["event_id"].as_str().unwrap())
        .collect();
    let hopeless = verdicts[3]["event_id"].as_str().unwrap().to_owned();

    let recovery = json!({
        "event_types": [orders], "dead_letters": true, "reasons": ["schema_violation"],
        "from": "-1h", "target": {"gateway": true},
        "fix": [{"op": "add", "path": "/n", "value": 0}],
    });
    let mut dry = recovery.clone();
    dry["dry_run"] = json!(true);
    let preview = create(&bed, None, &dry);
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert_eq!(preview.body["would_emit"], 4, "{}", preview.body);
    let fixes = preview.body["fixes"].as_array().unwrap();
    assert_eq!(fixes.len(), 4, "{}", preview.body);
    for fix in fixes {
        assert_eq!(fix["reason"], "schema_violation", "{fix}");
        assert_eq!(fix["after"]["n"], 0, "{fix}");
        assert!(fix["before"].get("n").is_none_or(|n| n != 0), "{fix}");
        let expected = if fix["event_id"] == hopeless.as_str() {
            "rejected"
        } else {
            "valid"
        };
        assert_eq!(fix["verdict"]["status"], expected, "{fix}");
    }
    // Bad recoveries are refused up front.
    let mut live = recovery.clone();
    live["dead_letters"] = json!(false);
    live["reasons"] = json!([]);
    assert_eq!(create(&bed, None, &live).status, 400);
    let mut bad_patch = recovery.clone();
    bad_patch["fix"] = json!([{"op": "frobnicate", "path": "/n"}]);
    assert_eq!(create(&bed, None, &bad_patch).status, 400);

    let first = create(&bed, None, &recovery);
    assert_eq!(first.status, 201, "{}", first.body);
    let first_id = first.body["id"].as_str().unwrap().to_owned();
    let done = wait_completed(&bed, &first_id);
    assert_eq!(
        done["report"]["reingest"],
        json!({"accepted": 3, "duplicates": 0, "rejected": 1, "unreadable": 0, "patch_failed": 0}),
        "{done}"
    );
    let again = create(&bed, None, &recovery);
    assert_eq!(again.status, 201, "{}", again.body);
    let again_id = again.body["id"].as_str().unwrap().to_owned();
    let done = wait_completed(&bed, &again_id);
    // The second run reads the first one's new dead letter too (it is in the range).
    assert_eq!(done["report"]["reingest"]["duplicates"], 3, "{done}");
    assert_eq!(done["report"]["reingest"]["accepted"], 0, "{done}");
    assert_eq!(done["report"]["reingest"]["rejected"], 2, "{done}");

    let log = bed.log();
    let records = log.records(&orders);
    for id in &dead {
        let copies: Vec<&LogRecord> = records.iter().filter(|r| r.event_id() == *id).collect();
        assert_eq!(copies.len(), 1, "{id} written once");
        let record = copies[0];
        assert_eq!(record.header(headers::REPLAY_JOB), Some(first_id.as_str()));
        assert_eq!(record.header(headers::PRODUCER), Some("shop"));
        assert_eq!(record.framed_json().1["n"], 0);
    }
    assert_eq!(records.len(), 4, "the good event and the three fixed ones");
    let hopeless_letters: Vec<LogRecord> = log
        .dead_letters(&orders)
        .into_iter()
        .filter(|r| r.event_id() == hopeless)
        .collect();
    // The original, the first recovery's, and the second's two (it read both).
    assert_eq!(hopeless_letters.len(), 4);
    let by_job = |job: Option<&str>| {
        hopeless_letters
            .iter()
            .filter(|r| r.header(headers::REPLAY_JOB) == job)
            .count()
    };
    assert_eq!(
        (
            by_job(None),
            by_job(Some(&first_id)),
            by_job(Some(&again_id))
        ),
        (1, 1, 2)
    );
}
