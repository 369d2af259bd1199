//! Planning a job: the offsets each partition is read between, fixed when the job starts.
//!
//! `end` is the high watermark at planning time: a replay never chases the live tail. `start`
//! is the first offset whose record is at or after `from`, as the log answers it — *checked*
//! against the records, because brokers answer ListOffsets from indexes that can be wrong
//! (TESTBED.md): the record at `start` must be at or after `from` and the one before it
//! earlier. A wrong answer is replaced by a binary search over single-record reads.
//!
//! Record timestamps are event times, so they are only roughly ordered: the engine still
//! filters every record in `[start, end)` by time, and the plan moves `start` back while any
//! of the [`LOOKBACK`] records before it is at or after `from`. Selection is therefore exact
//! as long as no record stamped at or after `from` sits more than [`LOOKBACK`] records before
//! an older one.

use chrono::{DateTime, SecondsFormat};
use serde::{Deserialize, Serialize};
use tributary_eventlog::{EventLog, StoredRecord};

use crate::error::ReplayError;
use crate::model::Selection;
use crate::scan::{PartitionScan, read_range};
use crate::select::{Filter, Verdict, validate};

/// How many records before `start` must all be older than `from`.
pub const LOOKBACK: i64 = 500;

/// What a job reads: every partition of every selected topic, with its offset range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub partitions: Vec<PartitionPlan>,
    /// What the user should know (e.g. `from` is earlier than the oldest retained record).
    pub warnings: Vec<String>,
}

impl Plan {
    /// Offsets the plan covers, over all partitions.
    pub fn offsets(&self) -> u64 {
        self.partitions.iter().map(PartitionPlan::offsets).sum()
    }
}

/// One partition's range: offsets `[start, end)` are read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionPlan {
    pub topic: String,
    pub partition: u32,
    pub start: i64,
    pub end: i64,
}

impl PartitionPlan {
    pub fn offsets(&self) -> u64 {
        u64::try_from(self.end - self.start).unwrap_or(0)
    }
}

/// What a dry run found in one partition: the offsets it read and what a run would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionEstimate {
    pub topic: String,
    pub partition: u32,
    pub start: i64,
    pub end: i64,
    /// Records read in `[start, end)`.
    pub read: u64,
    pub emitted: u64,
    pub filtered: u64,
    pub unreadable: u64,
}

/// Plans `selection`: validates it, then fixes each partition's `[start, end)`.
pub async fn plan(log: &dyn EventLog, selection: &Selection) -> Result<Plan, ReplayError> {
    validate(selection)?;
    let mut plan = Plan {
        partitions: Vec::new(),
        warnings: Vec::new(),
    };
    for topic in &selection.topics {
        let description = log.describe_topic(topic).await?;
        for partition in 0..description.partitions {
            let planned =
                plan_partition(log, topic, partition, selection, &mut plan.warnings).await?;
            plan.partitions.push(planned);
        }
    }
    Ok(plan)
}

async fn plan_partition(
    log: &dyn EventLog,
    topic: &str,
    partition: u32,
    selection: &Selection,
    warnings: &mut Vec<String>,
) -> Result<PartitionPlan, ReplayError> {
    let (from, to) = (selection.from_ms, selection.to_ms);
    let watermarks = log.watermarks(topic, partition).await?;
    let (low, end) = (watermarks.low, watermarks.high);
    let range = |start| PartitionPlan {
        topic: topic.to_owned(),
        partition,
        start,
        end,
    };
    let Some(first) = first_record(log, topic, partition, low, end).await? else {
        return Ok(range(end));
    };
    if first.timestamp_ms >= from {
        // Nothing retained is earlier than `from`. If records were deleted, say so.
        if low > 0 {
            let oldest = format_ms(first.timestamp_ms);
            if first.timestamp_ms >= to {
                warnings.push(format!(
                    "{topic}/{partition}: the time range ends before the oldest retained record \
                     ({oldest}, offset {low}); its records are no longer retained, nothing is replayed"
                ));
                return Ok(range(end));
            }
            warnings.push(format!(
                "{topic}/{partition}: from ({}) is earlier than the oldest retained record \
                 ({oldest}, offset {low}); records before it are no longer retained",
                format_ms(from)
            ));
        }
        return Ok(range(first.offset.min(end)));
    }
    let answer = log.offset_for_time(topic, partition, from).await?;
    let candidate = if answer_holds(log, topic, partition, low, end, from, answer).await? {
        answer
    } else {
        tracing::debug!(
            topic,
            partition,
            answer,
            "offset_for_time contradicted by the records; searching"
        );
        search(log, topic, partition, low, end, from).await?
    };
    let start = look_back(log, topic, partition, low, candidate, from).await?;
    Ok(range(start))
}

/// The record at `low` (or the first after it), unless the partition is empty.
async fn first_record(
    log: &dyn EventLog,
    topic: &str,
    partition: u32,
    low: i64,
    end: i64,
) -> Result<Option<StoredRecord>, ReplayError> {
    if low >= end {
        return Ok(None);
    }
    let mut scan = PartitionScan::new(log, topic, partition, low, end);
    scan.next_record().await
}

/// Whether the log's answer to "first offset at or after `from`" agrees with the records:
/// inside `[low, end]`, the record at it (if any) at or after `from`, the one before earlier.
async fn answer_holds(
    log: &dyn EventLog,
    topic: &str,
    partition: u32,
    low: i64,
    end: i64,
    from: i64,
    answer: i64,
) -> Result<bool, ReplayError> {
    if answer < low || answer > end {
        return Ok(false);
    }
    // A few records back, in case offsets have gaps just before the answer.
    let records = read_range(
        log,
        topic,
        partition,
        (answer - 8).max(low),
        (answer + 1).min(end),
    )
    .await?;
    let before = records.iter().rev().find(|r| r.offset < answer);
    let at = records.iter().find(|r| r.offset >= answer);
    let before_ok = answer == low || before.is_some_and(|r| r.timestamp_ms < from);
    let at_ok = answer == end || at.is_some_and(|r| r.timestamp_ms >= from);
    Ok(before_ok && at_ok)
}

/// The first offset in `[low, end)` whose record is at or after `from` (or `end`): a binary
/// search with single-record reads down to [`LOOKBACK`] records, then one read of those.
async fn search(
    log: &dyn EventLog,
    topic: &str,
    partition: u32,
    low: i64,
    end: i64,
    from: i64,
) -> Result<i64, ReplayError> {
    // Records below `lo` are earlier than `from`; the answer is at most `hi`.
    let (mut lo, mut hi) = (low, end);
    while hi - lo > LOOKBACK {
        let mid = lo + (hi - lo) / 2;
        // Nothing at or after `mid` counts as "late enough".
        let records = log.read(topic, partition, mid, 1).await?;
        if records.first().is_none_or(|r| r.timestamp_ms >= from) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let window = read_range(log, topic, partition, lo, hi).await?;
    Ok(window
        .iter()
        .find(|r| r.timestamp_ms >= from)
        .map_or(hi, |r| r.offset))
}

/// Moves `start` back while any of the [`LOOKBACK`] records before it is at or after `from`
/// (event times out of order around the boundary).
async fn look_back(
    log: &dyn EventLog,
    topic: &str,
    partition: u32,
    low: i64,
    mut start: i64,
    from: i64,
) -> Result<i64, ReplayError> {
    loop {
        let window_start = (start - LOOKBACK).max(low);
        if window_start >= start {
            return Ok(start);
        }
        let window = read_range(log, topic, partition, window_start, start).await?;
        match window.iter().find(|r| r.timestamp_ms >= from) {
            Some(record) => start = record.offset,
            None => return Ok(start),
        }
    }
}

/// Reads every planned partition and counts what a run would emit; writes nothing.
pub async fn dry_run(
    log: &dyn EventLog,
    selection: &Selection,
    plan: &Plan,
) -> Result<Vec<PartitionEstimate>, ReplayError> {
    let filter = Filter::new(selection)?;
    let mut estimates = Vec::with_capacity(plan.partitions.len());
    for part in &plan.partitions {
        let mut estimate = PartitionEstimate {
            topic: part.topic.clone(),
            partition: part.partition,
            start: part.start,
            end: part.end,
            read: 0,
            emitted: 0,
            filtered: 0,
            unreadable: 0,
        };
        let mut scan = PartitionScan::new(log, &part.topic, part.partition, part.start, part.end);
        while let Some(record) = scan.next_record().await? {
            estimate.read += 1;
            match filter.check(&record) {
                Verdict::Emit => estimate.emitted += 1,
                Verdict::Filtered => estimate.filtered += 1,
                Verdict::Unreadable => estimate.unreadable += 1,
            }
        }
        estimates.push(estimate);
    }
    Ok(estimates)
}

/// A record time for messages: RFC 3339 in UTC, or the raw milliseconds if out of range.
pub(crate) fn format_ms(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).map_or_else(
        || format!("{ms} ms"),
        |t| t.to_rfc3339_opts(SecondsFormat::Millis, true),
    )
}
