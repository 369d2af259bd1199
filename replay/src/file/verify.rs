//! [`verify`]: re-reads an export and compares it with its manifest.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::Digest;

use super::manifest::{FORMAT_VERSION, Manifest, PartitionEntry, hex};
use super::scan::scan;
use super::sink::blocking;
use super::{FileError, MANIFEST_FILE, data_file_name};

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// No problem found: the data file is the one the manifest describes, and every record in
    /// it is readable and in order.
    pub ok: bool,
    /// Each mismatch or defect, in words.
    pub problems: Vec<String>,
    /// Records read from the data file.
    pub records: u64,
}

/// Re-reads the export in `dir`: the data file's size and SHA-256, every record, the counts,
/// offset and timestamp ranges per partition, and the order of offsets within each partition,
/// against `manifest.json`. An error only when there is nothing to verify (no such directory)
/// or the files cannot be read; every defect of the export is a problem in the report.
pub async fn verify(dir: &Path) -> Result<VerifyReport, FileError> {
    let dir = dir.to_owned();
    blocking(move || verify_blocking(&dir)).await
}

fn verify_blocking(dir: &Path) -> Result<VerifyReport, FileError> {
    if !dir.is_dir() {
        return Err(FileError::Missing {
            path: dir.to_owned(),
        });
    }
    let mut report = VerifyReport {
        ok: false,
        problems: Vec::new(),
        records: 0,
    };
    let Some(manifest) = read_manifest(&dir.join(MANIFEST_FILE), &mut report.problems)? else {
        return Ok(report);
    };
    let data_file = data_file_name(manifest.format);
    if manifest.data_file != data_file {
        report.problems.push(format!(
            "the manifest names the data file {:?}; a {:?} export's is {data_file}",
            manifest.data_file, manifest.format
        ));
    }
    let data_path = dir.join(data_file);
    if !data_path.is_file() {
        report.problems.push(format!("{data_file} is missing"));
        return Ok(report);
    }
    let scanned = scan(&data_path, manifest.format, None, false)?;
    report.records = scanned.tally.records;
    let problems = &mut report.problems;
    for problem in &scanned.problems {
        problems.push(problem.to_string());
    }
    if scanned.bytes != manifest.data_bytes {
        problems.push(format!(
            "{data_file} has {} bytes, the manifest says {}",
            scanned.bytes, manifest.data_bytes
        ));
    }
    let sha256 = hex(&scanned.hasher.finalize());
    if sha256 != manifest.data_sha256 {
        problems.push(format!(
            "{data_file} has SHA-256 {sha256}, the manifest says {}: the file is not the one exported",
            manifest.data_sha256
        ));
    }
    if let Some(header) = &scanned.header
        && header.job_id != manifest.job_id
    {
        problems.push(format!(
            "{data_file} was written by job {}, the manifest says job {}",
            header.job_id, manifest.job_id
        ));
    }
    if scanned.tally.records != manifest.records {
        problems.push(format!(
            "{data_file} holds {} records, the manifest says {}",
            scanned.tally.records, manifest.records
        ));
    }
    compare_partitions(&manifest.partitions, &scanned.tally.entries(), problems);
    report.ok = report.problems.is_empty();
    Ok(report)
}

/// The manifest, or `None` with the reason among `problems`.
fn read_manifest(
    path: &PathBuf,
    problems: &mut Vec<String>,
) -> Result<Option<Manifest>, FileError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            problems.push(format!(
                "{MANIFEST_FILE} is missing: the export was never finished"
            ));
            return Ok(None);
        }
        Err(e) => return Err(FileError::io(path, e)),
    };
    let manifest: Manifest = match serde_json::from_slice(&bytes) {
        Ok(manifest) => manifest,
        Err(e) => {
            problems.push(format!("{MANIFEST_FILE} is not a valid manifest: {e}"));
            return Ok(None);
        }
    };
    if manifest.format_version != FORMAT_VERSION {
        problems.push(format!(
            "{MANIFEST_FILE} has format version {}; this version reads {FORMAT_VERSION}",
            manifest.format_version
        ));
        return Ok(None);
    }
    Ok(Some(manifest))
}

/// Says, per (topic, partition), where the manifest and the data file differ.
fn compare_partitions(
    manifest: &[PartitionEntry],
    file: &[PartitionEntry],
    problems: &mut Vec<String>,
) {
    let key = |entry: &PartitionEntry| (entry.topic.clone(), entry.partition);
    let mut listed = std::collections::BTreeMap::new();
    for entry in manifest {
        if listed.insert(key(entry), entry).is_some() {
            problems.push(format!(
                "the manifest lists {}/{} twice",
                entry.topic, entry.partition
            ));
        }
    }
    for found in file {
        let name = format!("{}/{}", found.topic, found.partition);
        let Some(expected) = listed.remove(&key(found)) else {
            problems.push(format!(
                "{name}: {} records in the data file, none in the manifest",
                found.records
            ));
            continue;
        };
        for ((field, expected), (_, actual)) in expected.fields().into_iter().zip(found.fields()) {
            if expected != actual {
                problems.push(format!(
                    "{name}: {field} is {actual} in the data file, the manifest says {expected}"
                ));
            }
        }
    }
    for expected in listed.values() {
        problems.push(format!(
            "{}/{}: {} records in the manifest, none in the data file",
            expected.topic, expected.partition, expected.records
        ));
    }
}
