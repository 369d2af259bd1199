//! One partition: its segments, offset assignment, group commit, reads and retention.
//!
//! Appenders write under the partition's lock, which fixes offsets and file positions. With
//! [`FsyncPolicy::Always`] they then make their records durable through a group commit: one
//! appender at a time holds the sync lock and fdatasyncs everything written so far, so
//! appenders that queued behind it usually find their records already durable. The *high
//! watermark* readers see is the durable end, published through a `watch` channel, separate
//! from the written end (`next_offset`).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

use super::FsyncPolicy;
use super::frame::{self, FRAME_HEADER, FrameScanner, MAX_BODY, ScanError};
use super::fsutil::{IoContext, create_dir_durable, io_error, sync_dir};
use super::segment::{self, Segment};
use crate::{LogError, Record, Retention, StoredRecord, Watermarks};

/// Bytes an append buffers before writing them out.
const WRITE_BUFFER: usize = 4 << 20;
/// A read stops adding records once it holds this many bytes.
const MAX_READ_BYTES: usize = 32 << 20;

/// Storage settings every partition shares.
#[derive(Debug, Clone, Copy)]
pub(super) struct StorageConfig {
    pub(super) fsync: FsyncPolicy,
    pub(super) segment_bytes: u64,
    pub(super) index_interval: u32,
}

#[derive(Debug)]
struct State {
    /// Oldest first; the last one is the active segment appends go to. Never empty.
    segments: Vec<Segment>,
    /// The offset the next record will get (the written end).
    next_offset: i64,
    /// Set when the partition can no longer be trusted (a failed fsync or truncate).
    failed: Option<String>,
    deleted: bool,
}

impl State {
    fn active(&mut self) -> &mut Segment {
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }
}

/// One partition of a topic.
#[derive(Debug)]
pub(super) struct Partition {
    topic: String,
    id: u32,
    dir: PathBuf,
    config: StorageConfig,
    state: Mutex<State>,
    /// The durable end: records below it are visible to readers.
    high: watch::Sender<i64>,
    low: AtomicI64,
    sync_lock: tokio::sync::Mutex<()>,
}

impl Partition {
    /// Opens (or creates, when `dir` is empty) a partition, recovering its active segment.
    pub(super) fn open(
        dir: PathBuf,
        topic: &str,
        id: u32,
        config: StorageConfig,
    ) -> Result<Partition, LogError> {
        if !dir.exists() {
            create_dir_durable(&dir)?;
        }
        let mut bases = Vec::new();
        let mut indexes = Vec::new();
        let entries = std::fs::read_dir(&dir)
            .context(|| format!("could not list partition directory {}", dir.display()))?;
        for entry in entries {
            let entry = entry
                .context(|| format!("could not list partition directory {}", dir.display()))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(base) = segment::parse_name(&name, "log") {
                bases.push(base);
            } else if let Some(base) = segment::parse_name(&name, "index") {
                indexes.push(base);
            } else if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        bases.sort_unstable();
        for base in indexes {
            if bases.binary_search(&base).is_err() {
                let _ = std::fs::remove_file(segment::index_path(&dir, base));
            }
        }

        let mut segments = Vec::with_capacity(bases.len().max(1));
        for (i, &base) in bases.iter().enumerate() {
            let sealed = i + 1 < bases.len();
            let seg = Segment::open(&dir, base, sealed, config.index_interval)?;
            if let Some(prev) = segments.last() {
                let prev: &Segment = prev;
                if prev.end_offset != seg.base {
                    tracing::warn!(
                        topic,
                        partition = id,
                        "segment {} ends at offset {} but the next starts at {}",
                        prev.path.display(),
                        prev.end_offset,
                        seg.base
                    );
                }
            }
            segments.push(seg);
        }
        if segments.is_empty() {
            segments.push(Segment::create(&dir, 0)?);
        }
        let last = &segments[segments.len() - 1];
        // Whatever survived recovery is on disk now; make it durable before showing it.
        last.file
            .sync_data()
            .context(|| format!("could not sync segment {}", last.path.display()))?;
        let next_offset = last.end_offset;
        let low = segments[0].base;
        Ok(Partition {
            topic: topic.to_owned(),
            id,
            dir,
            config,
            state: Mutex::new(State {
                segments,
                next_offset,
                failed: None,
                deleted: false,
            }),
            high: watch::Sender::new(next_offset),
            low: AtomicI64::new(low),
            sync_lock: tokio::sync::Mutex::new(()),
        })
    }

    fn state(&self) -> Result<MutexGuard<'_, State>, LogError> {
        self.state.lock().map_err(|_| {
            LogError::Fatal(format!(
                "partition {}/{} is unusable after a panic",
                self.topic, self.id
            ))
        })
    }

    pub(super) fn watermarks(&self) -> Watermarks {
        let high = *self.high.borrow();
        Watermarks {
            low: self.low.load(Ordering::Acquire).min(high),
            high,
        }
    }

    /// A receiver that sees every change of the high watermark.
    pub(super) fn subscribe_high(&self) -> watch::Receiver<i64> {
        self.high.subscribe()
    }

    /// Marks the partition deleted: later appends and reads fail.
    pub(super) fn mark_deleted(&self) {
        if let Ok(mut st) = self.state() {
            st.deleted = true;
        }
    }

    fn check_usable(&self, st: &State) -> Result<(), LogError> {
        if st.deleted {
            return Err(LogError::UnknownTopic(self.topic.clone()));
        }
        if let Some(reason) = &st.failed {
            return Err(LogError::Fatal(format!(
                "partition {}/{} stopped taking writes: {reason}; reopen the log",
                self.topic, self.id
            )));
        }
        Ok(())
    }

    /// Writes `records` (blocking) and returns each one's offset or error. Records are not
    /// durable yet with [`FsyncPolicy::Always`]: call [`Partition::make_durable`] next.
    pub(super) fn write(
        &self,
        records: &[Record],
        retention_time: Option<Duration>,
    ) -> Vec<Result<i64, LogError>> {
        let n = records.len();
        let mut st = match self
            .state()
            .and_then(|st| self.check_usable(&st).map(|()| st))
        {
            Ok(st) => st,
            Err(e) => return vec![Err(e); n],
        };
        // Roll an old active segment so that time retention can delete it.
        if let Some(age) = retention_time {
            let active = st.active();
            if active.size > 0
                && active.created.elapsed() >= age
                && let Err(e) = self.roll(&mut st)
            {
                return vec![Err(e); n];
            }
        }
        // One verdict per record, by index: rejected records are answered before the
        // buffered ones ahead of them are written.
        let mut out: Vec<Option<Result<i64, LogError>>> = vec![None; n];
        let mut buf = Vec::new();
        let mut pending = Vec::new();
        for (i, record) in records.iter().enumerate() {
            let body = frame::body_len(record);
            if body > MAX_BODY {
                out[i] = Some(Err(LogError::Rejected(format!(
                    "a record of {body} bytes exceeds the embedded log's limit of {MAX_BODY} bytes"
                ))));
                continue;
            }
            let size = FRAME_HEADER + body as u64;
            let written = st.active().size + buf.len() as u64;
            let full = written > 0 && written + size > self.config.segment_bytes;
            if full || buf.len() >= WRITE_BUFFER {
                let flushed = self.flush(&mut st, &mut buf, &mut pending, &mut out);
                let rolled = flushed.and_then(|()| match full {
                    true => self.roll(&mut st),
                    false => Ok(()),
                });
                if let Err(e) = rolled {
                    fill_unanswered(&mut out, &e);
                    break;
                }
            }
            let offset = st.next_offset + pending.len() as i64;
            frame::encode(&mut buf, offset, record);
            pending.push(Pending {
                index: i,
                offset,
                timestamp_ms: record.timestamp_ms,
                size,
            });
        }
        if let Err(e) = self.flush(&mut st, &mut buf, &mut pending, &mut out) {
            fill_unanswered(&mut out, &e);
        }
        if self.config.fsync == FsyncPolicy::Never {
            let next = st.next_offset;
            self.publish_high(next);
        }
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(LogError::Fatal("a record got no verdict".into()))))
            .collect()
    }

    /// Writes the buffered frames to the active segment. On failure the segment is cut back
    /// to its last whole frame and every buffered record gets the error.
    fn flush(
        &self,
        st: &mut State,
        buf: &mut Vec<u8>,
        pending: &mut Vec<Pending>,
        out: &mut [Option<Result<i64, LogError>>],
    ) -> Result<(), LogError> {
        if pending.is_empty() {
            return Ok(());
        }
        let interval = self.config.index_interval;
        let active = st.active();
        let result = active.file.write_all_at(buf, active.size);
        if let Err(e) = result {
            let err = io_error(
                format!("could not append to segment {}", active.path.display()),
                &e,
            );
            let cut = active.file.set_len(active.size);
            if let Err(cut) = cut {
                st.failed = Some(format!("could not cut back a failed write: {cut}"));
            }
            for p in pending.drain(..) {
                out[p.index] = Some(Err(err.clone()));
            }
            buf.clear();
            return Err(err);
        }
        for p in pending.drain(..) {
            active.note_append(p.offset, p.timestamp_ms, p.size, interval);
            out[p.index] = Some(Ok(p.offset));
        }
        st.next_offset = active.end_offset;
        buf.clear();
        Ok(())
    }

    /// Seals the active segment (durable, index persisted) and starts a new one.
    fn roll(&self, st: &mut State) -> Result<(), LogError> {
        let active = st.active();
        if self.config.fsync == FsyncPolicy::Always {
            let synced = active.file.sync_data();
            if let Err(e) = synced {
                let err = io_error(
                    format!("could not sync segment {}", active.path.display()),
                    &e,
                );
                st.failed = Some(err.to_string());
                return Err(err);
            }
        }
        if let Err(e) = active.persist_index(&self.dir) {
            tracing::warn!("the index of a sealed segment will be rebuilt at the next open: {e}");
        }
        let next = st.next_offset;
        let segment = Segment::create(&self.dir, next)?;
        st.segments.push(segment);
        // Everything in the sealed segment is durable now.
        if self.config.fsync == FsyncPolicy::Always {
            self.publish_high(next);
        }
        Ok(())
    }

    /// Raises the high watermark; called with the state lock held, so it never goes back.
    fn publish_high(&self, high: i64) {
        self.high.send_if_modified(|current| {
            if high > *current {
                *current = high;
                return true;
            }
            false
        });
    }

    /// Waits until every record below `end` is durable (group commit).
    pub(super) async fn make_durable(self: &Arc<Self>, end: i64) -> Result<(), LogError> {
        if *self.high.borrow() >= end {
            return Ok(());
        }
        let _leader = self.sync_lock.lock().await;
        if *self.high.borrow() >= end {
            return Ok(());
        }
        let partition = Arc::clone(self);
        super::fsutil::blocking(move || partition.sync_active()).await?;
        if *self.high.borrow() >= end {
            return Ok(());
        }
        Err(LogError::Fatal(format!(
            "records of partition {}/{} below offset {end} are not durable after a sync",
            self.topic, self.id
        )))
    }

    /// fdatasyncs the active segment and publishes everything written before the sync.
    fn sync_active(&self) -> Result<(), LogError> {
        let (file, path, target): (Arc<File>, PathBuf, i64) = {
            let mut st = self.state()?;
            self.check_usable(&st)?;
            let target = st.next_offset;
            let active = st.active();
            (Arc::clone(&active.file), active.path.clone(), target)
        };
        let synced = file.sync_data();
        let mut st = self.state()?;
        if let Err(e) = synced {
            // After a failed fsync the page cache may have dropped the dirty pages: nothing
            // written since the last good sync can be trusted to be on disk.
            let err = io_error(format!("could not sync segment {}", path.display()), &e);
            st.failed = Some(err.to_string());
            return Err(err);
        }
        self.publish_high(target);
        Ok(())
    }

    /// Syncs the active segment regardless of policy (on close).
    pub(super) fn sync_all(&self) -> Result<(), LogError> {
        let mut st = self.state()?;
        if st.deleted {
            return Ok(());
        }
        let next = st.next_offset;
        let active = st.active();
        let path = active.path.clone();
        active
            .file
            .sync_data()
            .context(|| format!("could not sync segment {}", path.display()))?;
        self.publish_high(next);
        Ok(())
    }

    /// Up to `max` records from `offset` (blocking).
    pub(super) fn read(&self, offset: i64, max: usize) -> Result<Vec<StoredRecord>, LogError> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let mut next = offset;
        loop {
            let (file, path, position, limit, stop) = {
                let st = self.state()?;
                if st.deleted {
                    return Err(LogError::UnknownTopic(self.topic.clone()));
                }
                let Watermarks { low, high } = self.watermarks();
                if out.is_empty() && (next < low || next > high) {
                    return Err(LogError::OffsetOutOfRange { offset, low, high });
                }
                if next >= high || out.len() >= max || bytes >= MAX_READ_BYTES {
                    return Ok(out);
                }
                let i = st.segments.partition_point(|s| s.base <= next);
                let Some(seg) = st.segments.get(i.saturating_sub(1)) else {
                    return Ok(out);
                };
                if next >= seg.end_offset {
                    // A gap left by damage: continue at the next segment.
                    match st.segments.get(i) {
                        Some(following) => {
                            next = following.base;
                            continue;
                        }
                        None => return Ok(out),
                    }
                }
                let position = seg.seek_offset(next);
                let stop = high.min(seg.end_offset);
                (
                    Arc::clone(&seg.file),
                    seg.path.clone(),
                    position,
                    seg.size,
                    stop,
                )
            };
            let mut scanner = FrameScanner::new(&file, position, limit);
            loop {
                let frame = match scanner.next_frame() {
                    Ok(Some((frame, _))) => frame,
                    Ok(None) => break,
                    Err(e) => return Err(scan_error(&path, e)),
                };
                if frame.offset < next {
                    continue;
                }
                if frame.offset >= stop {
                    break;
                }
                let record = frame.to_record();
                bytes += record.value.len() + record.key.as_ref().map_or(0, |k| k.len());
                next = frame.offset + 1;
                out.push(record);
                if out.len() >= max || bytes >= MAX_READ_BYTES {
                    break;
                }
            }
            if next < stop && out.len() < max && bytes < MAX_READ_BYTES {
                return Err(LogError::Fatal(format!(
                    "segment {} ends before offset {next}",
                    path.display()
                )));
            }
        }
    }

    /// The first offset with a timestamp at or after `timestamp_ms`, else the high watermark.
    pub(super) fn offset_for_time(&self, timestamp_ms: i64) -> Result<i64, LogError> {
        let (file, path, position, limit, high) = {
            let st = self.state()?;
            if st.deleted {
                return Err(LogError::UnknownTopic(self.topic.clone()));
            }
            let high = *self.high.borrow();
            let found = st
                .segments
                .iter()
                .find(|s| s.base < high && s.max_timestamp >= timestamp_ms);
            let Some(seg) = found else {
                return Ok(high);
            };
            let position = seg.seek_time(timestamp_ms);
            (
                Arc::clone(&seg.file),
                seg.path.clone(),
                position,
                seg.size,
                high,
            )
        };
        let mut scanner = FrameScanner::new(&file, position, limit);
        loop {
            match scanner.next_frame() {
                Ok(Some((frame, _))) => {
                    if frame.offset >= high {
                        return Ok(high);
                    }
                    if frame.timestamp_ms >= timestamp_ms {
                        return Ok(frame.offset);
                    }
                }
                Ok(None) => return Ok(high),
                Err(e) => return Err(scan_error(&path, e)),
            }
        }
    }

    /// Deletes whole sealed segments that retention no longer covers (blocking).
    pub(super) fn enforce_retention(
        &self,
        retention: Retention,
        now_ms: i64,
    ) -> Result<(), LogError> {
        let mut doomed = Vec::new();
        {
            let mut st = self.state()?;
            if st.deleted || st.failed.is_some() {
                return Ok(());
            }
            if let Some(time) = retention.time {
                let cutoff =
                    now_ms.saturating_sub(i64::try_from(time.as_millis()).unwrap_or(i64::MAX));
                let active = st.active();
                if active.size > 0 && active.max_timestamp < cutoff {
                    self.roll(&mut st)?;
                }
                while st.segments.len() > 1 && st.segments[0].max_timestamp < cutoff {
                    doomed.push(st.segments.remove(0));
                }
            }
            if let Some(limit) = retention.bytes {
                let mut total: u64 = st.segments.iter().map(|s| s.size).sum();
                while st.segments.len() > 1 && total > limit {
                    total -= st.segments[0].size;
                    doomed.push(st.segments.remove(0));
                }
            }
            if doomed.is_empty() {
                return Ok(());
            }
            self.low.store(st.segments[0].base, Ordering::Release);
        }
        for seg in &doomed {
            tracing::debug!(
                topic = %self.topic,
                partition = self.id,
                segment = %seg.path.display(),
                "retention deletes a segment"
            );
            seg.remove_files(&self.dir)?;
        }
        sync_dir(&self.dir)
    }
}

/// A record encoded into the write buffer but not yet written.
#[derive(Debug)]
struct Pending {
    /// Its place in the append.
    index: usize,
    offset: i64,
    timestamp_ms: i64,
    size: u64,
}

/// Gives every record without a verdict yet the error `err`.
fn fill_unanswered(out: &mut [Option<Result<i64, LogError>>], err: &LogError) {
    for slot in out.iter_mut().filter(|slot| slot.is_none()) {
        *slot = Some(Err(err.clone()));
    }
}

fn scan_error(path: &Path, err: ScanError) -> LogError {
    match err {
        ScanError::Io(e) => io_error(format!("could not read segment {}", path.display()), &e),
        ScanError::Corrupt { position, reason } => LogError::Fatal(format!(
            "segment {} is damaged at byte {position}: {reason}",
            path.display()
        )),
    }
}
