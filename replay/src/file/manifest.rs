//! `manifest.json` and the per-partition statistics it records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::FileError;
use crate::{FileFormat, ReplayRecord};

/// The manifest layout this version writes and verifies.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// `manifest.json`: what the data file must be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    pub(crate) format_version: u32,
    pub(crate) job_id: String,
    /// When the manifest was written (the export finished), RFC 3339 UTC.
    pub(crate) created_at: String,
    pub(crate) format: FileFormat,
    /// The data file's name in the export directory.
    pub(crate) data_file: String,
    pub(crate) data_bytes: u64,
    /// Lowercase hex.
    pub(crate) data_sha256: String,
    pub(crate) records: u64,
    /// One entry per (topic, partition) with records, ordered by topic then partition.
    pub(crate) partitions: Vec<PartitionEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PartitionEntry {
    pub(crate) topic: String,
    pub(crate) partition: u32,
    pub(crate) records: u64,
    pub(crate) first_offset: i64,
    pub(crate) last_offset: i64,
    pub(crate) min_timestamp_ms: i64,
    pub(crate) max_timestamp_ms: i64,
}

impl PartitionEntry {
    /// The statistics as (manifest field name, value), for comparing two entries.
    pub(crate) fn fields(&self) -> [(&'static str, i128); 5] {
        [
            ("records", i128::from(self.records)),
            ("first_offset", i128::from(self.first_offset)),
            ("last_offset", i128::from(self.last_offset)),
            ("min_timestamp_ms", i128::from(self.min_timestamp_ms)),
            ("max_timestamp_ms", i128::from(self.max_timestamp_ms)),
        ]
    }
}

/// The running statistics of a data file, record by record.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Tally {
    pub(crate) records: u64,
    /// By topic, then partition.
    partitions: BTreeMap<String, BTreeMap<u32, PartitionEntry>>,
}

impl Tally {
    /// Counts `record`; an offset that does not follow its partition's last one is counted and
    /// reported.
    pub(crate) fn add(&mut self, record: &ReplayRecord) -> Result<(), FileError> {
        self.records += 1;
        let topic = match self.partitions.get_mut(&record.topic) {
            Some(topic) => topic,
            None => self.partitions.entry(record.topic.clone()).or_default(),
        };
        let Some(entry) = topic.get_mut(&record.partition) else {
            let entry = PartitionEntry {
                topic: record.topic.clone(),
                partition: record.partition,
                records: 1,
                first_offset: record.offset,
                last_offset: record.offset,
                min_timestamp_ms: record.timestamp_ms,
                max_timestamp_ms: record.timestamp_ms,
            };
            topic.insert(record.partition, entry);
            return Ok(());
        };
        let previous = entry.last_offset;
        entry.records += 1;
        entry.last_offset = record.offset;
        entry.min_timestamp_ms = entry.min_timestamp_ms.min(record.timestamp_ms);
        entry.max_timestamp_ms = entry.max_timestamp_ms.max(record.timestamp_ms);
        if record.offset <= previous {
            return Err(FileError::OutOfOrder {
                topic: record.topic.clone(),
                partition: record.partition,
                offset: record.offset,
                previous,
            });
        }
        Ok(())
    }

    /// One entry per (topic, partition), ordered by topic then partition.
    pub(crate) fn entries(&self) -> Vec<PartitionEntry> {
        self.partitions
            .values()
            .flat_map(|partitions| partitions.values().cloned())
            .collect()
    }
}

/// Lowercase hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn record(partition: u32, offset: i64, timestamp_ms: i64) -> ReplayRecord {
        ReplayRecord {
            topic: "t".to_owned(),
            partition,
            offset,
            timestamp_ms,
            key: None,
            value: Bytes::new(),
            headers: Vec::new(),
        }
    }

    #[test]
    fn counts_ranges_per_partition_and_flags_disorder() {
        let mut tally = Tally::default();
        tally.add(&record(0, 5, 30)).unwrap();
        tally.add(&record(1, 2, 10)).unwrap();
        tally.add(&record(0, 9, 20)).unwrap();
        let error = tally.add(&record(0, 9, 40)).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("offset 9 of t/0 does not follow offset 9")
        );
        assert_eq!(tally.records, 4);
        let entries = tally.entries();
        assert_eq!(
            entries[0],
            PartitionEntry {
                topic: "t".to_owned(),
                partition: 0,
                records: 3,
                first_offset: 5,
                last_offset: 9,
                min_timestamp_ms: 20,
                max_timestamp_ms: 40,
            }
        );
        let json = serde_json::to_value(tally.entries()).unwrap();
        assert_eq!(json[1]["partition"], 1);
        assert_eq!(json[1]["first_offset"], 2);
    }
}
