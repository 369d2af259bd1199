//! Audit exports end to end: `FileSink` writes, `verify` checks, and the files are read back
//! with independent readers (serde_json line by line; apache-avro's `Reader`; Python's `avro`
//! when it is installed).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use apache_avro::types::Value;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde_json::value::RawValue;
use tributary_replay::{FileError, FileFormat, FileSink, ReplayRecord, Sink, VerifyReport, verify};

const JOB: &str = "job-7";

fn record(topic: &str, partition: u32, offset: i64) -> ReplayRecord {
    ReplayRecord {
        topic: topic.to_owned(),
        partition,
        offset,
        timestamp_ms: 1_700_000_000_000 + offset * 1000 - i64::from(partition),
        key: Some(Bytes::from(format!("customer-{offset}"))),
        value: Bytes::from(format!(r#"{{"order_id": {offset}, "total": 12.50}}"#)),
        headers: vec![
            ("tributary.producer".to_owned(), Bytes::from_static(b"shop")),
            (
                "tributary.replay_job".to_owned(),
                Bytes::from_static(b"job-7"),
            ),
        ],
    }
}

/// Records that exercise every representation: framed JSON, binary keys, values and headers,
/// JSON with a line break, no key, repeated header names.
fn odd_records(topic: &str, partition: u32, first_offset: i64) -> Vec<ReplayRecord> {
    let mut framed = vec![0, 0, 0, 0, 12];
    framed.extend_from_slice(br#"{"id":"a\u00e9"}"#);
    let values: [&[u8]; 4] = [
        &framed,
        b"\x00\xff\xfe avro bytes",
        b"{\n  \"a\": 1\n}",
        b"null",
    ];
    values
        .into_iter()
        .zip(first_offset..)
        .map(|(value, offset)| ReplayRecord {
            topic: topic.to_owned(),
            partition,
            offset,
            timestamp_ms: 1_600_000_000_000 + offset,
            key: (offset % 2 == 0).then(|| Bytes::from_static(b"\xc3\x28 not utf-8")),
            value: Bytes::copy_from_slice(value),
            headers: vec![
                ("bin".to_owned(), Bytes::from_static(b"\x80\x81")),
                ("bin".to_owned(), Bytes::from_static(b"text")),
                ("empty".to_owned(), Bytes::new()),
            ],
        })
        .collect()
}

/// Three batches over two topics and three partitions.
fn batches() -> Vec<Vec<ReplayRecord>> {
    let mut first = vec![record("orders", 0, 10), record("orders", 1, 3)];
    first.extend(odd_records("orders", 0, 11));
    let second = vec![
        record("orders", 0, 20),
        record("payments", 0, 100),
        record("orders", 1, 4),
    ];
    let mut third = odd_records("payments", 0, 101);
    third.push(record("orders", 1, 9));
    vec![first, second, third]
}

async fn write_all(sink: &mut FileSink, batches: &[Vec<ReplayRecord>]) -> Vec<u64> {
    let mut positions = Vec::new();
    for batch in batches {
        positions.push(sink.write(batch.clone()).await.expect("write"));
    }
    positions
}

async fn finish(sink: FileSink) -> PathBuf {
    let report = Box::new(sink).finish().await.expect("finish");
    report.manifest.expect("a manifest path")
}

fn data_path(dir: &Path, format: FileFormat) -> PathBuf {
    dir.join(match format {
        FileFormat::Ndjson => "events.ndjson",
        FileFormat::Avro => "events.avro",
    })
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

/// Reads an NDJSON export with nothing but serde_json and base64.
fn read_ndjson(path: &Path) -> Vec<ReplayRecord> {
    let text = fs::read_to_string(path).unwrap();
    let bytes_of = |fields: &BTreeMap<String, Box<RawValue>>, name: &str| -> Option<Bytes> {
        if let Some(encoded) = fields.get(&format!("{name}_base64")) {
            let encoded: String = serde_json::from_str(encoded.get()).unwrap();
            return Some(Bytes::from(BASE64.decode(encoded).unwrap()));
        }
        let text: Option<String> = serde_json::from_str(fields.get(name)?.get()).unwrap();
        text.map(Bytes::from)
    };
    let mut records = Vec::new();
    for line in text.lines() {
        let fields: BTreeMap<String, Box<RawValue>> = serde_json::from_str(line).unwrap();
        let number = |name: &str| serde_json::from_str::<i64>(fields[name].get()).unwrap();
        let headers: Vec<BTreeMap<String, Box<RawValue>>> =
            serde_json::from_str(fields["headers"].get()).unwrap();
        let value = match (fields.get("value"), fields.get("schema_id")) {
            (Some(json), None) => Bytes::copy_from_slice(json.get().as_bytes()),
            (Some(json), Some(id)) => {
                let id: u32 = serde_json::from_str(id.get()).unwrap();
                let mut framed = vec![0];
                framed.extend_from_slice(&id.to_be_bytes());
                framed.extend_from_slice(json.get().as_bytes());
                Bytes::from(framed)
            }
            (None, _) => bytes_of(&fields, "value").unwrap(),
        };
        records.push(ReplayRecord {
            topic: serde_json::from_str(fields["topic"].get()).unwrap(),
            partition: u32::try_from(number("partition")).unwrap(),
            offset: number("offset"),
            timestamp_ms: number("timestamp_ms"),
            key: bytes_of(&fields, "key"),
            value,
            headers: headers
                .iter()
                .map(|h| {
                    let name: String = serde_json::from_str(h["name"].get()).unwrap();
                    (name, bytes_of(h, "value").unwrap())
                })
                .collect(),
        });
    }
    records
}

/// Reads an Avro export with apache-avro's own container reader.
fn read_avro(path: &Path) -> Vec<ReplayRecord> {
    let file = fs::File::open(path).unwrap();
    let reader = apache_avro::Reader::new(file).expect("apache-avro reads the container");
    assert_eq!(
        reader.writer_schema().name().map(|n| n.fullname(None)),
        Some("tributary.ReplayedRecord".to_owned())
    );
    let mut records = Vec::new();
    for value in reader {
        let Value::Record(fields) = value.expect("a readable record") else {
            panic!("not a record");
        };
        let fields: BTreeMap<String, Value> = fields.into_iter().collect();
        let long = |name: &str| match &fields[name] {
            Value::Long(n) => *n,
            other => panic!("{name} is {other:?}"),
        };
        let bytes = |value: &Value| match value {
            Value::Bytes(b) => Bytes::from(b.clone()),
            other => panic!("not bytes: {other:?}"),
        };
        let key = match &fields["key"] {
            Value::Union(0, _) => None,
            Value::Union(1, key) => Some(bytes(key)),
            other => panic!("key is {other:?}"),
        };
        let Value::Array(headers) = &fields["headers"] else {
            panic!("headers");
        };
        let Value::String(topic) = &fields["topic"] else {
            panic!("topic");
        };
        records.push(ReplayRecord {
            topic: topic.clone(),
            partition: u32::try_from(long("partition")).unwrap(),
            offset: long("offset"),
            timestamp_ms: long("timestamp_ms"),
            key,
            value: bytes(&fields["value"]),
            headers: headers
                .iter()
                .map(|h| match h {
                    Value::Record(f) => match (&f[0].1, &f[1].1) {
                        (Value::String(name), value) => (name.clone(), bytes(value)),
                        other => panic!("header {other:?}"),
                    },
                    other => panic!("header {other:?}"),
                })
                .collect(),
        });
    }
    records
}

fn read_back(dir: &Path, format: FileFormat) -> Vec<ReplayRecord> {
    let path = data_path(dir, format);
    match format {
        FileFormat::Ndjson => read_ndjson(&path),
        FileFormat::Avro => read_avro(&path),
    }
}

fn assert_ok(report: &VerifyReport, records: u64) {
    assert!(report.ok, "{:#?}", report.problems);
    assert!(report.problems.is_empty());
    assert_eq!(report.records, records);
}

fn assert_problem(report: &VerifyReport, needle: &str) {
    assert!(!report.ok, "expected a problem with {needle:?}");
    assert!(
        report.problems.iter().any(|p| p.contains(needle)),
        "no problem contains {needle:?}: {:#?}",
        report.problems
    );
}

const FORMATS: [FileFormat; 2] = [FileFormat::Ndjson, FileFormat::Avro];

#[tokio::test]
async fn both_formats_round_trip_and_verify() {
    for format in FORMATS {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("export");
        let mut sink = FileSink::create(&dir, format, JOB).await.unwrap();
        let batches = batches();
        let positions = write_all(&mut sink, &batches).await;
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        assert_eq!(sink.write(Vec::new()).await.unwrap(), positions[2]);
        let manifest_path = finish(sink).await;
        assert_eq!(manifest_path, dir.join("manifest.json"));

        let written: Vec<ReplayRecord> = batches.concat();
        assert_eq!(read_back(&dir, format), written, "{format:?}");
        assert_ok(&verify(&dir).await.unwrap(), written.len() as u64);

        let manifest = manifest(&dir);
        assert_eq!(manifest["format_version"], 1);
        assert_eq!(manifest["job_id"], JOB);
        assert_eq!(manifest["records"], 14);
        assert_eq!(manifest["data_bytes"], positions[2]);
        assert_eq!(manifest["data_sha256"].as_str().unwrap().len(), 64);
        let partitions = manifest["partitions"].as_array().unwrap();
        let summary: Vec<_> = partitions
            .iter()
            .map(|p| {
                (
                    p["topic"].as_str().unwrap(),
                    p["partition"].as_u64().unwrap(),
                    p["records"].as_u64().unwrap(),
                    p["first_offset"].as_i64().unwrap(),
                    p["last_offset"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("orders", 0, 6, 10, 20),
                ("orders", 1, 3, 3, 9),
                ("payments", 0, 5, 100, 104),
            ]
        );
        assert_eq!(partitions[0]["min_timestamp_ms"], 1_600_000_000_011_i64);
        assert_eq!(
            partitions[0]["max_timestamp_ms"],
            1_700_000_000_000_i64 + 20_000
        );
    }
}

#[tokio::test]
async fn an_empty_export_verifies() {
    for format in FORMATS {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("empty");
        let sink = FileSink::create(&dir, format, JOB).await.unwrap();
        finish(sink).await;
        assert_ok(&verify(&dir).await.unwrap(), 0);
        assert!(read_back(&dir, format).is_empty());
        assert_eq!(manifest(&dir)["partitions"], serde_json::json!([]));
    }
}

#[tokio::test]
async fn create_never_overwrites_and_needs_a_parent() {
    let root = tempfile::tempdir().unwrap();
    let existing = root.path().join("audit");
    fs::create_dir(&existing).unwrap();
    let error = FileSink::create(&existing, FileFormat::Ndjson, JOB)
        .await
        .unwrap_err();
    assert!(matches!(error, FileError::Exists { .. }), "{error:?}");
    assert!(error.to_string().contains("already exists"), "{error}");
    assert_eq!(fs::read_dir(&existing).unwrap().count(), 0);

    let orphan = root.path().join("no-such-parent").join("audit");
    let error = FileSink::create(&orphan, FileFormat::Avro, JOB)
        .await
        .unwrap_err();
    assert!(
        matches!(error, FileError::ParentMissing { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("parent directory does not exist")
    );
    assert!(!orphan.parent().unwrap().exists());
}

#[tokio::test]
async fn resume_after_a_crash_keeps_exact_counts() {
    for format in FORMATS {
        let root = tempfile::tempdir().unwrap();
        let batches = batches();
        let (dir, sink, positions) = written(root.path(), format).await;
        drop(sink);
        // The crash: part of a fourth write reached the file, its position never returned.
        let mut file = fs::OpenOptions::new()
            .append(true)
            .open(data_path(&dir, format))
            .unwrap();
        file.write_all(b"{\"topic\":\"orders\",\"partition\":0,\"off\x00\x01garbage")
            .unwrap();
        drop(file);

        // The engine checkpointed the second batch only: the third is written again.
        let mut sink = FileSink::resume(&dir, format, JOB, positions[1])
            .await
            .unwrap();
        let more = vec![
            batches[2].clone(),
            vec![record("orders", 0, 30), record("audit", 4, 0)],
        ];
        let resumed = write_all(&mut sink, &more).await;
        assert_eq!(resumed[0], positions[2], "{format:?}: the same bytes again");
        finish(sink).await;

        let report = verify(&dir).await.unwrap();
        assert_ok(&report, 16);
        let expected: Vec<ReplayRecord> = [&batches[..2], &more[..]].concat().concat();
        assert_eq!(read_back(&dir, format), expected);
        let manifest = manifest(&dir);
        assert_eq!(manifest["records"], 16);
        let counts: Vec<_> = manifest["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["topic"].as_str().unwrap(), p["records"].as_u64().unwrap()))
            .collect();
        assert_eq!(
            counts,
            [("audit", 1), ("orders", 7), ("orders", 3), ("payments", 5)]
        );
    }
}

#[tokio::test]
async fn resume_at_zero_starts_over_and_a_finished_export_can_be_resumed() {
    for format in FORMATS {
        let root = tempfile::tempdir().unwrap();
        let (dir, sink, positions) = written(root.path(), format).await;
        finish(sink).await;

        let mut sink = FileSink::resume(&dir, format, JOB, 0).await.unwrap();
        assert!(
            !dir.join("manifest.json").exists(),
            "the stale manifest is gone"
        );
        let position = sink.write(vec![record("orders", 0, 1)]).await.unwrap();
        assert!(position < positions[0]);
        finish(sink).await;
        assert_ok(&verify(&dir).await.unwrap(), 1);

        // Finished, then resumed at its last position (a crash before the job was marked done).
        let mut sink = FileSink::resume(&dir, format, JOB, position).await.unwrap();
        sink.write(vec![record("orders", 0, 2)]).await.unwrap();
        finish(sink).await;
        assert_ok(&verify(&dir).await.unwrap(), 2);
    }
}

#[tokio::test]
async fn resume_refuses_positions_no_write_returned() {
    for format in FORMATS {
        let root = tempfile::tempdir().unwrap();
        let (dir, sink, positions) = written(root.path(), format).await;
        drop(sink);

        let inside = FileSink::resume(&dir, format, JOB, positions[1] - 3)
            .await
            .unwrap_err();
        assert!(matches!(inside, FileError::Position { .. }), "{inside:?}");
        assert!(
            inside.to_string().contains("no write ended there"),
            "{inside}"
        );

        let beyond = FileSink::resume(&dir, format, JOB, positions[2] + 10)
            .await
            .unwrap_err();
        assert!(beyond.to_string().contains("the file has only"), "{beyond}");

        let other_format = match format {
            FileFormat::Ndjson => FileFormat::Avro,
            FileFormat::Avro => FileFormat::Ndjson,
        };
        let missing = FileSink::resume(&dir, other_format, JOB, 0)
            .await
            .unwrap_err();
        assert!(matches!(missing, FileError::Missing { .. }), "{missing:?}");

        // Nothing was cut by the refusals.
        let len = fs::metadata(data_path(&dir, format)).unwrap().len();
        assert_eq!(len, positions[2]);
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("export");
    let mut sink = FileSink::create(&dir, FileFormat::Avro, JOB).await.unwrap();
    let position = sink.write(vec![record("orders", 0, 1)]).await.unwrap();
    drop(sink);
    let error = FileSink::resume(&dir, FileFormat::Avro, "job-8", position)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("belongs to job job-7"),
        "{error}"
    );
}

#[tokio::test]
async fn a_batch_out_of_order_is_refused_whole() {
    for format in FORMATS {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("export");
        let mut sink = FileSink::create(&dir, format, JOB).await.unwrap();
        let position = sink.write(vec![record("orders", 0, 5)]).await.unwrap();
        let error = sink
            .write(vec![record("orders", 1, 1), record("orders", 0, 5)])
            .await
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("offset 5 of orders/0 does not follow offset 5"),
            "{error}"
        );
        assert_eq!(
            fs::metadata(data_path(&dir, format)).unwrap().len(),
            position
        );
        sink.write(vec![record("orders", 0, 6)]).await.unwrap();
        finish(sink).await;
        assert_ok(&verify(&dir).await.unwrap(), 2);
    }
}

/// An export of [`batches`] in `format` under `root`, not finished yet, and the positions its
/// writes returned.
async fn written(root: &Path, format: FileFormat) -> (PathBuf, FileSink, Vec<u64>) {
    let dir = root.join("export");
    let mut sink = FileSink::create(&dir, format, JOB).await.unwrap();
    let positions = write_all(&mut sink, &batches()).await;
    (dir, sink, positions)
}

/// A finished export of [`batches`] in `format`, and its data file.
async fn finished(root: &Path, format: FileFormat) -> (PathBuf, PathBuf) {
    let (dir, sink, _) = written(root, format).await;
    finish(sink).await;
    assert_ok(&verify(&dir).await.unwrap(), 14);
    let data = data_path(&dir, format);
    (dir, data)
}

fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut manifest = manifest(dir);
    edit(&mut manifest);
    fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
}

#[tokio::test]
async fn tampering_with_the_data_fails_verify() {
    for format in FORMATS {
        // One byte changed (inside a value: still parses, only the hash can tell).
        let root = tempfile::tempdir().unwrap();
        let (dir, data) = finished(root.path(), format).await;
        let mut bytes = fs::read(&data).unwrap();
        let at = bytes.windows(5).position(|w| w == b"12.50").unwrap();
        bytes[at] = b'9';
        fs::write(&data, &bytes).unwrap();
        let report = verify(&dir).await.unwrap();
        assert_problem(&report, "has SHA-256");
        assert_problem(&report, "the file is not the one exported");
        assert_eq!(report.records, 14);

        // Bytes added at the end: an unfinished record.
        let root = tempfile::tempdir().unwrap();
        let (dir, data) = finished(root.path(), format).await;
        fs::OpenOptions::new()
            .append(true)
            .open(&data)
            .unwrap()
            .write_all(b"\x02\x04xx")
            .unwrap();
        let report = verify(&dir).await.unwrap();
        assert_problem(&report, "unfinished record or block");
        assert_problem(&report, "bytes, the manifest says");
    }
}

#[tokio::test]
async fn tampering_with_ndjson_lines_fails_verify() {
    // A line removed.
    let root = tempfile::tempdir().unwrap();
    let (dir, data) = finished(root.path(), FileFormat::Ndjson).await;
    let text = fs::read_to_string(&data).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let without: String = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    fs::write(&data, without).unwrap();
    let report = verify(&dir).await.unwrap();
    assert_eq!(report.records, 13);
    assert_problem(
        &report,
        "events.ndjson holds 13 records, the manifest says 14",
    );
    assert_problem(
        &report,
        "orders/1: records is 2 in the data file, the manifest says 3",
    );
    assert_problem(
        &report,
        "orders/1: first_offset is 4 in the data file, the manifest says 3",
    );

    // A record added (well-formed, in order).
    let root = tempfile::tempdir().unwrap();
    let (dir, data) = finished(root.path(), FileFormat::Ndjson).await;
    let extra = r#"{"topic":"orders","partition":7,"offset":1,"timestamp_ms":5,"key":null,"headers":[],"value":{}}"#;
    fs::write(&data, format!("{text}{extra}\n")).unwrap();
    let report = verify(&dir).await.unwrap();
    assert_problem(
        &report,
        "orders/7: 1 records in the data file, none in the manifest",
    );
    assert_problem(&report, "holds 15 records, the manifest says 14");

    // A record moved out of order, and a line that is not a record.
    let root = tempfile::tempdir().unwrap();
    let (dir, data) = finished(root.path(), FileFormat::Ndjson).await;
    let mut swapped: Vec<&str> = text.lines().collect();
    swapped.swap(0, 2);
    swapped.insert(4, "{\"not\": \"a record\"}");
    fs::write(&data, swapped.join("\n") + "\n").unwrap();
    let report = verify(&dir).await.unwrap();
    assert_problem(
        &report,
        "corrupt record at line 3: offset 10 of orders/0 does not follow offset 11",
    );
    assert_problem(&report, "corrupt record at line 5: unknown field `not`");
}

#[tokio::test]
async fn tampering_with_avro_blocks_fails_verify() {
    // A block's sync marker broken.
    let root = tempfile::tempdir().unwrap();
    let (dir, data) = finished(root.path(), FileFormat::Avro).await;
    let mut bytes = fs::read(&data).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&data, &bytes).unwrap();
    let report = verify(&dir).await.unwrap();
    assert_problem(&report, "corrupt data at block 3: its sync marker differs");
    assert_problem(&report, "events.avro holds 9 records, the manifest says 14");

    // A record's bytes damaged so that it no longer decodes: a topic's length made huge.
    let root = tempfile::tempdir().unwrap();
    let (dir, data) = finished(root.path(), FileFormat::Avro).await;
    let mut bytes = fs::read(&data).unwrap();
    let at = bytes.windows(7).rposition(|w| w == b"\x10paymen").unwrap();
    bytes[at] = 0x7e;
    fs::write(&data, &bytes).unwrap();
    let report = verify(&dir).await.unwrap();
    assert_problem(&report, "corrupt data at block 3: record");

    // The header's job id changed (same length).
    let root = tempfile::tempdir().unwrap();
    let (dir, data) = finished(root.path(), FileFormat::Avro).await;
    let mut bytes = fs::read(&data).unwrap();
    let at = bytes.windows(5).position(|w| w == b"job-7").unwrap();
    bytes[at + 4] = b'8';
    fs::write(&data, &bytes).unwrap();
    let report = verify(&dir).await.unwrap();
    assert_problem(
        &report,
        "events.avro was written by job job-8, the manifest says job job-7",
    );
}

#[tokio::test]
async fn tampering_with_the_manifest_fails_verify() {
    for format in FORMATS {
        let root = tempfile::tempdir().unwrap();
        let (dir, _) = finished(root.path(), format).await;
        let original = fs::read(dir.join("manifest.json")).unwrap();
        let file_name = match format {
            FileFormat::Ndjson => "events.ndjson",
            FileFormat::Avro => "events.avro",
        };

        edit_manifest(&dir, |m| m["records"] = 13.into());
        let report = verify(&dir).await.unwrap();
        assert_eq!(
            report.problems,
            [format!(
                "{file_name} holds 14 records, the manifest says 13"
            )]
        );

        fs::write(dir.join("manifest.json"), &original).unwrap();
        edit_manifest(&dir, |m| m["partitions"][2]["last_offset"] = 103.into());
        let report = verify(&dir).await.unwrap();
        assert_eq!(
            report.problems,
            ["payments/0: last_offset is 104 in the data file, the manifest says 103"]
        );

        fs::write(dir.join("manifest.json"), &original).unwrap();
        edit_manifest(&dir, |m| {
            m["partitions"].as_array_mut().unwrap().remove(1);
        });
        assert_problem(
            &verify(&dir).await.unwrap(),
            "orders/1: 3 records in the data file, none in the manifest",
        );

        fs::write(dir.join("manifest.json"), &original).unwrap();
        edit_manifest(&dir, |m| m["data_sha256"] = "00".repeat(32).into());
        assert_problem(&verify(&dir).await.unwrap(), "the manifest says 0000");

        fs::write(dir.join("manifest.json"), &original).unwrap();
        edit_manifest(&dir, |m| m["data_file"] = "../../etc/passwd".into());
        assert_problem(
            &verify(&dir).await.unwrap(),
            "the manifest names the data file",
        );

        fs::write(dir.join("manifest.json"), b"{ not json").unwrap();
        assert_problem(
            &verify(&dir).await.unwrap(),
            "manifest.json is not a valid manifest",
        );

        fs::remove_file(dir.join("manifest.json")).unwrap();
        assert_problem(&verify(&dir).await.unwrap(), "manifest.json is missing");
    }
    let error = verify(Path::new("/no/such/export")).await.unwrap_err();
    assert_eq!(error.to_string(), "/no/such/export does not exist");
}

/// Python's `avro` package reads the file too (CI installs it; skipped when it is missing).
#[tokio::test]
async fn python_avro_reads_the_export() {
    let python = std::process::Command::new("python3")
        .args(["-c", "import avro"])
        .output();
    if !matches!(python, Ok(ref out) if out.status.success()) {
        eprintln!("skipped: python3 with the avro package is not available");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let (_, data) = finished(root.path(), FileFormat::Avro).await;
    let script = r#"
import sys, json
from avro.datafile import DataFileReader
from avro.io import DatumReader
with DataFileReader(open(sys.argv[1], "rb"), DatumReader()) as reader:
    rows = [[r["topic"], r["partition"], r["offset"], r["key"].hex() if r["key"] is not None else None,
             r["value"].hex(), [[h["name"], h["value"].hex()] for h in r["headers"]]] for r in reader]
print(json.dumps(rows))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let expected: Vec<serde_json::Value> = batches()
        .concat()
        .iter()
        .map(|r| {
            serde_json::json!([
                r.topic,
                r.partition,
                r.offset,
                r.key.as_deref().map(hex),
                hex(&r.value),
                r.headers
                    .iter()
                    .map(|(n, v)| serde_json::json!([n, hex(v)]))
                    .collect::<Vec<_>>(),
            ])
        })
        .collect();
    assert_eq!(rows, expected);
}
