//! One segment: a file of frames holding a contiguous run of offsets, and its sparse index.
//!
//! The index has an entry every `index_interval` bytes: the offset and file position of a
//! record, and the largest timestamp of the records of the segment *before* it. Seeking to an
//! offset starts at the last entry at or below it; seeking to a time starts at the last entry
//! whose preceding records are all earlier than that time — exact even when timestamps go
//! backwards. The index lives in memory; a sealed segment's index is persisted next to it and
//! rebuilt by scanning when missing or invalid.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::frame::{FrameScanner, ScanError};
use super::fsutil::{IoContext, io_error, read_if_exists, sync_dir, write_atomic};
use crate::LogError;

const INDEX_MAGIC: &[u8; 8] = b"TRBIDX01";
const INDEX_HEADER: usize = 8 + 8 + 8 + 8 + 8 + 4;
const INDEX_ENTRY: usize = 8 + 4 + 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct IndexEntry {
    pub(super) offset: i64,
    pub(super) position: u32,
    /// Largest timestamp of the segment's records before `offset` (`i64::MIN`: none).
    pub(super) max_timestamp_before: i64,
}

pub(super) struct Segment {
    pub(super) base: i64,
    pub(super) path: PathBuf,
    pub(super) file: Arc<File>,
    /// Bytes of whole frames written.
    pub(super) size: u64,
    /// The offset after the last record.
    pub(super) end_offset: i64,
    /// Largest record timestamp (`i64::MIN` when empty).
    pub(super) max_timestamp: i64,
    index: Vec<IndexEntry>,
    /// Position of the last index entry.
    last_entry_at: u64,
    pub(super) created: Instant,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("path", &self.path)
            .field("offsets", &(self.base..self.end_offset))
            .field("size", &self.size)
            .field("index_entries", &self.index.len())
            .finish_non_exhaustive()
    }
}

pub(super) fn log_path(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{base:020}.log"))
}

pub(super) fn index_path(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{base:020}.index"))
}

/// The base offset named by a segment or index file name, if it is one.
pub(super) fn parse_name(name: &str, extension: &str) -> Option<i64> {
    let stem = name.strip_suffix(extension)?.strip_suffix('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

impl Segment {
    fn empty(base: i64, path: PathBuf, file: File) -> Segment {
        Segment {
            base,
            path,
            file: Arc::new(file),
            size: 0,
            end_offset: base,
            max_timestamp: i64::MIN,
            index: vec![IndexEntry {
                offset: base,
                position: 0,
                max_timestamp_before: i64::MIN,
            }],
            last_entry_at: 0,
            created: Instant::now(),
        }
    }

    /// Creates a new, empty segment file and makes its directory entry durable.
    pub(super) fn create(dir: &Path, base: i64) -> Result<Segment, LogError> {
        let path = log_path(dir, base);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .context(|| format!("could not create segment {}", path.display()))?;
        sync_dir(dir)?;
        Ok(Segment::empty(base, path, file))
    }

    /// Opens an existing segment: from its persisted index when `sealed` and the index is
    /// valid, else by scanning every frame. A scan stops at the first damaged frame and
    /// truncates the file there (the torn tail of a crash); that is logged.
    pub(super) fn open(
        dir: &Path,
        base: i64,
        sealed: bool,
        index_interval: u32,
    ) -> Result<Segment, LogError> {
        let path = log_path(dir, base);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .context(|| format!("could not open segment {}", path.display()))?;
        let len = file
            .metadata()
            .context(|| format!("could not stat segment {}", path.display()))?
            .len();
        let mut segment = Segment::empty(base, path, file);
        if sealed {
            match segment.load_index(dir, len) {
                Ok(()) => return Ok(segment),
                Err(reason) => tracing::info!(
                    segment = %segment.path.display(),
                    "rebuilding the segment index: {reason}"
                ),
            }
            // `load_index` changes nothing when it fails: the segment is still empty here.
        }
        segment.scan(len, index_interval)?;
        if sealed {
            if let Err(e) = segment.persist_index(dir) {
                tracing::warn!("could not persist a rebuilt index: {e}");
            }
        } else {
            // The active segment's index is rebuilt at every open; a stale one must not be
            // trusted later.
            let stale = index_path(dir, base);
            if stale.exists() {
                fs::remove_file(&stale)
                    .context(|| format!("could not remove stale index {}", stale.display()))?;
            }
        }
        Ok(segment)
    }

    fn scan(&mut self, len: u64, index_interval: u32) -> Result<(), LogError> {
        let file = Arc::clone(&self.file);
        let mut scanner = FrameScanner::new(&file, 0, len);
        let damage = loop {
            match scanner.next_frame() {
                Ok(None) => break None,
                Ok(Some((frame, size))) => {
                    if frame.offset != self.end_offset {
                        break Some((
                            self.size,
                            format!(
                                "frame holds offset {} where {} was expected",
                                frame.offset, self.end_offset
                            ),
                        ));
                    }
                    let (offset, ts) = (frame.offset, frame.timestamp_ms);
                    self.note_append(offset, ts, size, index_interval);
                }
                Err(ScanError::Corrupt { position, reason }) => break Some((position, reason)),
                Err(ScanError::Io(e)) => {
                    return Err(io_error(
                        format!("could not read segment {}", self.path.display()),
                        &e,
                    ));
                }
            }
        };
        if let Some((position, reason)) = damage {
            tracing::warn!(
                segment = %self.path.display(),
                position,
                dropped_bytes = len - position,
                "truncating a damaged segment tail: {reason}"
            );
            self.file
                .set_len(position)
                .and_then(|()| self.file.sync_all())
                .context(|| format!("could not truncate segment {}", self.path.display()))?;
        }
        Ok(())
    }

    /// Accounts for a frame of `size` bytes at the end of the segment.
    pub(super) fn note_append(&mut self, offset: i64, timestamp_ms: i64, size: u64, interval: u32) {
        if self.size > 0 && self.size - self.last_entry_at >= u64::from(interval) {
            self.index.push(IndexEntry {
                offset,
                position: self.size as u32,
                max_timestamp_before: self.max_timestamp,
            });
            self.last_entry_at = self.size;
        }
        self.size += size;
        self.end_offset = offset + 1;
        self.max_timestamp = self.max_timestamp.max(timestamp_ms);
    }

    /// The position to start scanning for `offset`.
    pub(super) fn seek_offset(&self, offset: i64) -> u64 {
        let i = self.index.partition_point(|e| e.offset <= offset);
        self.index[i.saturating_sub(1)].position.into()
    }

    /// Where to start scanning for the first record at or after `timestamp_ms`: every record
    /// before the returned position is earlier than it.
    pub(super) fn seek_time(&self, timestamp_ms: i64) -> u64 {
        // `max_timestamp_before` never decreases along the index.
        let i = self
            .index
            .partition_point(|e| e.max_timestamp_before < timestamp_ms);
        self.index[i.saturating_sub(1)].position.into()
    }

    /// Writes the index next to the segment (atomically); called when the segment is sealed.
    pub(super) fn persist_index(&self, dir: &Path) -> Result<(), LogError> {
        let mut out = Vec::with_capacity(INDEX_HEADER + self.index.len() * INDEX_ENTRY + 4);
        out.extend_from_slice(INDEX_MAGIC);
        out.extend_from_slice(&self.base.to_le_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.end_offset.to_le_bytes());
        out.extend_from_slice(&self.max_timestamp.to_le_bytes());
        out.extend_from_slice(&self.last_entry_at.to_le_bytes());
        out.extend_from_slice(&(self.index.len() as u32).to_le_bytes());
        for e in &self.index {
            out.extend_from_slice(&e.offset.to_le_bytes());
            out.extend_from_slice(&e.position.to_le_bytes());
            out.extend_from_slice(&e.max_timestamp_before.to_le_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        write_atomic(&index_path(dir, self.base), &out)
    }

    /// Loads the persisted index if it exists and agrees with the segment file.
    fn load_index(&mut self, dir: &Path, file_len: u64) -> Result<(), String> {
        let path = index_path(dir, self.base);
        let bytes = match read_if_exists(&path) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Err("the index file is missing".to_owned()),
            Err(e) => return Err(e.to_string()),
        };
        if bytes.len() < INDEX_HEADER + 4 || &bytes[..8] != INDEX_MAGIC {
            return Err("the index file has no valid header".to_owned());
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return Err("the index file fails its crc".to_owned());
        }
        let word = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&body[at..at + 8]);
            i64::from_le_bytes(a)
        };
        let (base, size, end_offset, max_timestamp, last_entry_at) = (
            word(8),
            word(16) as u64,
            word(24),
            word(32),
            word(40) as u64,
        );
        let count = u32::from_le_bytes([body[48], body[49], body[50], body[51]]) as usize;
        if base != self.base || size != file_len || end_offset < base {
            return Err(format!(
                "the index describes {size} bytes from offset {base}, the file has {file_len} from {}",
                self.base
            ));
        }
        if body.len() != INDEX_HEADER + count * INDEX_ENTRY || count == 0 {
            return Err("the index file has the wrong length".to_owned());
        }
        let mut index = Vec::with_capacity(count);
        for i in 0..count {
            let at = INDEX_HEADER + i * INDEX_ENTRY;
            let position =
                u32::from_le_bytes([body[at + 8], body[at + 9], body[at + 10], body[at + 11]]);
            let entry = IndexEntry {
                offset: word(at),
                position,
                max_timestamp_before: word(at + 12),
            };
            let ordered = match index.last() {
                None => entry.offset == base && position == 0,
                Some(prev) => {
                    let prev: &IndexEntry = prev;
                    entry.offset > prev.offset
                        && entry.position > prev.position
                        && entry.max_timestamp_before >= prev.max_timestamp_before
                }
            };
            if !ordered
                || entry.offset >= end_offset.max(base + 1)
                || u64::from(position) >= size.max(1)
            {
                return Err(format!("index entry {i} is out of order or out of range"));
            }
            index.push(entry);
        }
        self.size = size;
        self.end_offset = end_offset;
        self.max_timestamp = max_timestamp;
        self.last_entry_at = last_entry_at;
        self.index = index;
        Ok(())
    }

    /// Removes the segment's files: the log first, so a crash in between leaves only an
    /// orphan index, which the next open deletes.
    pub(super) fn remove_files(&self, dir: &Path) -> Result<(), LogError> {
        fs::remove_file(&self.path)
            .context(|| format!("could not delete segment {}", self.path.display()))?;
        let index = index_path(dir, self.base);
        match fs::remove_file(&index) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(
                format!("could not delete index {}", index.display()),
                &e,
            )),
        }
    }
}
