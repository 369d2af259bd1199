//! Reading a partition's planned range one record at a time, a batch of reads behind.

use std::collections::VecDeque;

use tributary_eventlog::{EventLog, LogError, StoredRecord};

use crate::error::ReplayError;

/// Reads in a row that may answer nothing below the range's end before the scan fails, and
/// the pause after the first (growing with each).
const EMPTY_READS: u32 = 5;
const EMPTY_READ_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

/// Records asked for per read unless told otherwise: the engine's batch size. Each batch
/// costs a write that waits for durability and a checkpoint, so batches are large (at 500,
/// the 1,000,000-event benchmark copied 20–30% slower); a job killed mid-way writes at most a
/// batch per partition twice.
pub const DEFAULT_BATCH: usize = 2_000;

/// Records of `[next, end)` of one partition, in offset order. Offsets may have gaps (Kafka
/// compaction, transaction markers); `next` always says where the unconsumed part begins.
#[derive(Debug)]
pub(crate) struct PartitionScan<'a> {
    log: &'a dyn EventLog,
    topic: &'a str,
    partition: u32,
    next: i64,
    end: i64,
    /// Records asked for per read.
    batch: usize,
    buffer: VecDeque<StoredRecord>,
}

impl<'a> PartitionScan<'a> {
    pub(crate) fn new(
        log: &'a dyn EventLog,
        topic: &'a str,
        partition: u32,
        next: i64,
        end: i64,
    ) -> Self {
        PartitionScan {
            log,
            topic,
            partition,
            next,
            end,
            batch: DEFAULT_BATCH,
            buffer: VecDeque::new(),
        }
    }

    /// Reads `batch` records at a time (at least one).
    pub(crate) fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    pub(crate) fn batch(&self) -> usize {
        self.batch
    }

    /// The first offset not yet handed out: everything below it has been.
    pub(crate) fn next_offset(&self) -> i64 {
        self.next
    }

    pub(crate) fn is_done(&self) -> bool {
        self.next >= self.end
    }

    /// The next record of the range, or `None` once the range is exhausted.
    pub(crate) async fn next_record(&mut self) -> Result<Option<StoredRecord>, ReplayError> {
        if self.buffer.is_empty() && !self.is_done() {
            self.fill().await?;
        }
        match self.buffer.pop_front() {
            Some(record) => {
                self.next = record.offset + 1;
                Ok(Some(record))
            }
            None => Ok(None),
        }
    }

    /// Reads the next records of the range. An empty answer below `end` is never taken for
    /// the end of the range — the records are there, the plan saw them — but asked again a
    /// few times, then reported: a replay that skipped them would complete having lost them.
    async fn fill(&mut self) -> Result<(), ReplayError> {
        let wanted =
            usize::try_from(self.end - self.next).map_or(self.batch, |n| n.min(self.batch));
        for attempt in 1..=EMPTY_READS {
            let records = self
                .log
                .read(self.topic, self.partition, self.next, wanted)
                .await?;
            for record in records {
                if record.offset >= self.end {
                    break;
                }
                if record.offset >= self.next {
                    self.buffer.push_back(record);
                }
            }
            if !self.buffer.is_empty() {
                return Ok(());
            }
            if attempt < EMPTY_READS {
                tokio::time::sleep(EMPTY_READ_PAUSE * attempt).await;
            }
        }
        Err(ReplayError::Log(LogError::Timeout(format!(
            "{}/{}: no record at offset {} although the planned range ends at {}: the log answered \
             nothing {EMPTY_READS} times",
            self.topic, self.partition, self.next, self.end
        ))))
    }
}

/// The records of `[from, to)` of one partition (fewer where offsets have gaps).
pub(crate) async fn read_range(
    log: &dyn EventLog,
    topic: &str,
    partition: u32,
    from: i64,
    to: i64,
) -> Result<Vec<StoredRecord>, ReplayError> {
    let mut scan = PartitionScan::new(log, topic, partition, from, to);
    let mut out = Vec::new();
    while let Some(record) = scan.next_record().await? {
        out.push(record);
    }
    Ok(out)
}
