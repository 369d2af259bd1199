//! The on-disk record frame, and a scanner that reads frames from a segment file.
//!
//! ```text
//! frame = u32 body_len | u32 crc32(body) | body                     (little-endian)
//! body  = i64 offset | i64 timestamp_ms
//!       | i32 key_len (-1: no key) | key
//!       | u32 value_len | value
//!       | u32 header_count | { u32 name_len | name (UTF-8) | u32 value_len | value }*
//! ```
//!
//! Nothing read from disk is trusted: every length is checked against the frame's body, the
//! body length against [`MAX_BODY`] and against the bytes left in the file, so a corrupt
//! length can neither allocate more than one maximal frame nor panic.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use bytes::Bytes;

use crate::{Record, StoredRecord};

/// Bytes before the body: length and CRC.
pub(super) const FRAME_HEADER: u64 = 8;
/// The smallest possible body: offset, timestamp, key length, value length, header count.
const MIN_BODY: usize = 8 + 8 + 4 + 4 + 4;
/// The largest body the log writes or accepts when reading (16 MiB).
pub(super) const MAX_BODY: usize = 16 << 20;
/// How much a scanner reads from the file at once.
const READ_CHUNK: usize = 256 << 10;

/// Bytes of the body `record` encodes to.
pub(super) fn body_len(record: &Record) -> usize {
    let headers: usize = record
        .all_headers()
        .map(|(name, value)| 8 + name.len() + value.len())
        .sum();
    MIN_BODY + record.key.as_ref().map_or(0, |k| k.len()) + record.value.len() + headers
}

/// Appends the frame of `record` at `offset` to `out`. The caller has checked that
/// [`body_len`] is at most [`MAX_BODY`], so every length fits its field.
pub(super) fn encode(out: &mut Vec<u8>, offset: i64, record: &Record) {
    let len = body_len(record);
    out.reserve(FRAME_HEADER as usize + len);
    out.extend_from_slice(&(len as u32).to_le_bytes());
    let crc_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let body_at = out.len();
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&record.timestamp_ms.to_le_bytes());
    match &record.key {
        Some(key) => {
            out.extend_from_slice(&(key.len() as i32).to_le_bytes());
            out.extend_from_slice(key);
        }
        None => out.extend_from_slice(&(-1i32).to_le_bytes()),
    }
    out.extend_from_slice(&(record.value.len() as u32).to_le_bytes());
    out.extend_from_slice(&record.value);
    out.extend_from_slice(&(record.header_count() as u32).to_le_bytes());
    for (name, value) in record.all_headers() {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
    }
    let crc = crc32fast::hash(&out[body_at..]);
    out[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
}

/// A decoded frame borrowing the scanner's buffer.
#[derive(Debug)]
pub(super) struct FrameRef<'a> {
    pub(super) offset: i64,
    pub(super) timestamp_ms: i64,
    key: Option<&'a [u8]>,
    value: &'a [u8],
    headers: Vec<(&'a str, &'a [u8])>,
}

impl FrameRef<'_> {
    pub(super) fn to_record(&self) -> StoredRecord {
        StoredRecord {
            offset: self.offset,
            timestamp_ms: self.timestamp_ms,
            key: self.key.map(Bytes::copy_from_slice),
            value: Bytes::copy_from_slice(self.value),
            headers: self
                .headers
                .iter()
                .map(|(name, value)| ((*name).to_owned(), Bytes::copy_from_slice(value)))
                .collect(),
        }
    }
}

struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if n > self.rest.len() {
            return Err(format!(
                "{what} needs {n} bytes but the frame has {} left",
                self.rest.len()
            ));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i64(&mut self, what: &str) -> Result<i64, String> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }
}

/// Decodes a body whose CRC has been checked; every length is checked too.
fn decode_body(body: &[u8]) -> Result<FrameRef<'_>, String> {
    let mut c = Cursor { rest: body };
    let offset = c.i64("offset")?;
    let timestamp_ms = c.i64("timestamp")?;
    let key_len = c.u32("key length")? as i32;
    let key = match key_len {
        -1 => None,
        n if n < 0 => return Err(format!("key length {n} is negative")),
        n => Some(c.take(n as usize, "key")?),
    };
    let value_len = c.u32("value length")? as usize;
    let value = c.take(value_len, "value")?;
    let count = c.u32("header count")? as usize;
    // Each header needs at least 8 bytes: bound the count before allocating.
    if count > c.rest.len() / 8 {
        return Err(format!("header count {count} does not fit the frame"));
    }
    let mut headers = Vec::with_capacity(count);
    for _ in 0..count {
        let name_len = c.u32("header name length")? as usize;
        let name = std::str::from_utf8(c.take(name_len, "header name")?)
            .map_err(|_| "a header name is not utf-8".to_owned())?;
        let len = c.u32("header value length")? as usize;
        headers.push((name, c.take(len, "header value")?));
    }
    if !c.rest.is_empty() {
        return Err(format!(
            "{} unexpected bytes after the headers",
            c.rest.len()
        ));
    }
    Ok(FrameRef {
        offset,
        timestamp_ms,
        key,
        value,
        headers,
    })
}

/// Why a scan stopped early.
#[derive(Debug)]
pub(super) enum ScanError {
    Io(io::Error),
    /// The bytes at `position` are not a valid frame.
    Corrupt {
        position: u64,
        reason: String,
    },
}

impl From<io::Error> for ScanError {
    fn from(err: io::Error) -> Self {
        ScanError::Io(err)
    }
}

/// Reads frames one after another from `[position, end)` of a segment file, in chunks.
#[derive(Debug)]
pub(super) struct FrameScanner<'f> {
    file: &'f File,
    position: u64,
    end: u64,
    buf: Vec<u8>,
    /// File position of `buf[0]`.
    buf_at: u64,
}

impl<'f> FrameScanner<'f> {
    pub(super) fn new(file: &'f File, position: u64, end: u64) -> Self {
        FrameScanner {
            file,
            position,
            end,
            buf: Vec::new(),
            buf_at: 0,
        }
    }

    /// File position of the next frame (after a successful scan: the end of the last one).
    #[cfg(test)]
    pub(super) fn position(&self) -> u64 {
        self.position
    }

    /// The next frame and its size in bytes, `None` at `end`.
    pub(super) fn next_frame(&mut self) -> Result<Option<(FrameRef<'_>, u64)>, ScanError> {
        if self.position >= self.end {
            return Ok(None);
        }
        let left = self.end - self.position;
        if left < FRAME_HEADER {
            return Err(self.corrupt(format!("{left} trailing bytes are a torn frame header")));
        }
        self.fill(FRAME_HEADER as usize)?;
        let at = (self.position - self.buf_at) as usize;
        let h = &self.buf[at..at + 8];
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        if !(MIN_BODY..=MAX_BODY).contains(&len) {
            return Err(self.corrupt(format!("frame length {len} is out of bounds")));
        }
        let size = FRAME_HEADER + len as u64;
        if size > left {
            return Err(self.corrupt(format!(
                "frame of {size} bytes runs past the end of the data ({left} bytes left)"
            )));
        }
        self.fill(size as usize)?;
        let at = (self.position - self.buf_at) as usize + FRAME_HEADER as usize;
        if crc32fast::hash(&self.buf[at..at + len]) != crc {
            return Err(self.corrupt("crc mismatch".to_owned()));
        }
        let start = self.position;
        self.position += size;
        // After an error the scanner is not used again: the error names where the damage is.
        match decode_body(&self.buf[at..at + len]) {
            Ok(frame) => Ok(Some((frame, size))),
            Err(reason) => Err(ScanError::Corrupt {
                position: start,
                reason,
            }),
        }
    }

    fn corrupt(&self, reason: String) -> ScanError {
        ScanError::Corrupt {
            position: self.position,
            reason,
        }
    }

    /// Makes `buf` hold `[position, position + need)`; the caller checked it is before `end`.
    fn fill(&mut self, need: usize) -> io::Result<()> {
        let buf_end = self.buf_at + self.buf.len() as u64;
        if self.position >= self.buf_at && self.position + need as u64 <= buf_end {
            return Ok(());
        }
        let want = need
            .max(READ_CHUNK)
            .min((self.end - self.position) as usize);
        self.buf.clear();
        self.buf.resize(want, 0);
        self.file.read_exact_at(&mut self.buf, self.position)?;
        self.buf_at = self.position;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn sample(i: i64) -> Record {
        let mut r = Record::new(format!("value-{i}"), 1_000 + i).with_header("h", "v");
        if i % 2 == 0 {
            r = r.with_key(format!("k{i}"));
        }
        if i % 3 == 0 {
            r = r.with_key(Bytes::new());
        }
        r
    }

    fn write_frames(n: i64) -> (tempfile::NamedTempFile, Vec<u8>) {
        let mut bytes = Vec::new();
        for i in 0..n {
            encode(&mut bytes, i, &sample(i));
        }
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(&bytes).expect("write");
        (file, bytes)
    }

    #[test]
    fn frames_round_trip() {
        let (file, bytes) = write_frames(50);
        let mut scanner = FrameScanner::new(file.as_file(), 0, bytes.len() as u64);
        let mut i = 0;
        while let Some((frame, size)) = scanner.next_frame().expect("valid frame") {
            let want = sample(i);
            let got = frame.to_record();
            assert_eq!(size as usize, FRAME_HEADER as usize + body_len(&want));
            assert_eq!(got.offset, i);
            assert_eq!(got.timestamp_ms, want.timestamp_ms);
            assert_eq!(got.key, want.key, "a missing key differs from an empty one");
            assert_eq!(got.value, want.value);
            let want_headers: Vec<(String, Bytes)> = want
                .headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.clone()))
                .collect();
            assert_eq!(got.headers, want_headers);
            i += 1;
        }
        assert_eq!(i, 50);
        assert_eq!(scanner.position(), bytes.len() as u64);
    }

    #[test]
    fn damage_is_reported_not_panicked_on() {
        let (_, good) = write_frames(3);
        type Damage = Box<dyn Fn(&mut Vec<u8>)>;
        let damages: Vec<(&str, Damage)> = vec![
            (
                "torn tail",
                Box::new(|b: &mut Vec<u8>| b.truncate(b.len() - 5)),
            ),
            (
                "flipped byte",
                Box::new(|b: &mut Vec<u8>| *b.last_mut().unwrap() ^= 0x40),
            ),
            (
                "huge length",
                Box::new(|b: &mut Vec<u8>| b.extend_from_slice(&u32::MAX.to_le_bytes())),
            ),
            (
                "length past end",
                Box::new(|b: &mut Vec<u8>| {
                    b.extend_from_slice(&1000u32.to_le_bytes());
                    b.extend_from_slice(&[0; 40]);
                }),
            ),
        ];
        for (name, damage) in damages {
            let mut bytes = good.clone();
            damage(&mut bytes);
            let mut file = tempfile::NamedTempFile::new().expect("temp file");
            file.write_all(&bytes).expect("write");
            let mut scanner = FrameScanner::new(file.as_file(), 0, bytes.len() as u64);
            let mut ok = 0;
            let err = loop {
                match scanner.next_frame() {
                    Ok(Some(_)) => ok += 1,
                    Ok(None) => panic!("{name}: damage not detected"),
                    Err(e) => break e,
                }
            };
            assert!(matches!(err, ScanError::Corrupt { .. }), "{name}: {err:?}");
            assert!(ok >= 2, "{name}: intact frames before the damage are read");
        }
    }

    #[test]
    fn inner_lengths_are_checked_even_with_a_valid_crc() {
        let mut body = Vec::new();
        body.extend_from_slice(&0i64.to_le_bytes());
        body.extend_from_slice(&0i64.to_le_bytes());
        body.extend_from_slice(&(-1i32).to_le_bytes());
        body.extend_from_slice(&u32::MAX.to_le_bytes()); // value length far past the frame
        body.extend_from_slice(&0u32.to_le_bytes());
        assert!(decode_body(&body).is_err());
    }
}
