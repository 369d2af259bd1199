//! The few Kafka protocol messages the native producer speaks, encoded and decoded by hand.
//!
//! * Produce v3 (the first version that carries record batches, magic 2), with the batch
//!   written straight into the request frame;
//! * Metadata v4, for partition leaders and broker addresses;
//! * InitProducerId v3, for an idempotent producer id.
//!
//! Produce and Metadata use non-flexible versions: plain big-endian integers and
//! length-prefixed strings, which every broker still speaks (Kafka 4.0 kept these versions).
//! InitProducerId is v3, the first to carry the producer id and epoch fields, because Tansu
//! 0.6 panics on a request without them (measured: an unimplemented branch of its sqlite engine,
//! which then fails every later request); v3 is a flexible version (tagged fields, compact strings).
//! Decoding never trusts a length: every read is bounds-checked and a short or malformed
//! answer is an error, not a panic.

use std::borrow::Cow;
use std::sync::Arc;

#[cfg(test)]
use bytes::Bytes;

use crate::{Record, SharedHeaders};

pub(super) const API_PRODUCE: i16 = 0;
pub(super) const API_METADATA: i16 = 3;
pub(super) const API_INIT_PRODUCER_ID: i16 = 22;

pub(super) const PRODUCE_VERSION: i16 = 3;
pub(super) const METADATA_VERSION: i16 = 4;
pub(super) const INIT_PRODUCER_ID_VERSION: i16 = 3;

const CLIENT_ID: &str = "tributary";

/// Bytes a record batch header takes before its records (baseOffset … record count).
const BATCH_HEADER: usize = 61;

/// A request being written: the size prefix is filled in by [`Frame::finish`].
pub(super) struct Frame {
    buf: Vec<u8>,
}

impl Frame {
    /// A request frame with header v1 (api key, version, correlation id, client id).
    pub(super) fn new(api_key: i16, version: i16, correlation_id: i32, capacity: usize) -> Frame {
        let mut buf = Vec::with_capacity(capacity + 32);
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&api_key.to_be_bytes());
        buf.extend_from_slice(&version.to_be_bytes());
        buf.extend_from_slice(&correlation_id.to_be_bytes());
        let mut frame = Frame { buf };
        frame.string(Some(CLIENT_ID));
        frame
    }

    /// A request frame with header v2, for flexible versions: header v1 and no tagged fields.
    fn flexible(api_key: i16, version: i16, correlation_id: i32, capacity: usize) -> Frame {
        let mut frame = Frame::new(api_key, version, correlation_id, capacity);
        frame.buf.push(0);
        frame
    }

    fn i8(&mut self, v: i8) {
        self.buf.push(v as u8);
    }
    fn i16(&mut self, v: i16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    fn string(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.i16(s.len() as i16);
                self.buf.extend_from_slice(s.as_bytes());
            }
            None => self.i16(-1),
        }
    }

    /// The frame's bytes, size prefix included.
    pub(super) fn finish(mut self) -> Vec<u8> {
        let size = (self.buf.len() - 4) as i32;
        self.buf[..4].copy_from_slice(&size.to_be_bytes());
        self.buf
    }
}

/// Who writes a batch, for the broker's duplicate detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Idempotence {
    pub producer_id: i64,
    pub epoch: i16,
    pub base_sequence: i32,
}

/// A Produce v3 request for one partition, its records written as one batch.
pub(super) fn produce_request(
    correlation_id: i32,
    timeout_ms: i32,
    topic: &str,
    partition: u32,
    records: &[&Record],
    writer: Idempotence,
) -> Vec<u8> {
    let estimate: usize = records.iter().map(|r| r.approximate_size() + 16).sum();
    let mut frame = Frame::new(API_PRODUCE, PRODUCE_VERSION, correlation_id, estimate + 128);
    frame.string(None); // transactional id
    frame.i16(-1); // acks=all
    frame.i32(timeout_ms);
    frame.i32(1); // one topic
    frame.string(Some(topic));
    frame.i32(1); // one partition
    frame.i32(partition as i32);
    let length_at = frame.buf.len();
    frame.i32(0); // records length, filled in below
    write_batch(&mut frame.buf, records, writer);
    let length = (frame.buf.len() - length_at - 4) as i32;
    frame.buf[length_at..length_at + 4].copy_from_slice(&length.to_be_bytes());
    frame.finish()
}

/// Appends one record batch (magic 2, uncompressed, create time) holding `records`.
pub(super) fn write_batch(buf: &mut Vec<u8>, records: &[&Record], writer: Idempotence) {
    let start = buf.len();
    let base_ts = records.first().map_or(0, |r| r.timestamp_ms);
    let max_ts = records
        .iter()
        .map(|r| r.timestamp_ms)
        .max()
        .unwrap_or(base_ts);
    buf.extend_from_slice(&0i64.to_be_bytes()); // base offset: the broker assigns it
    buf.extend_from_slice(&0i32.to_be_bytes()); // batch length, filled in below
    buf.extend_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch
    buf.push(2); // magic
    buf.extend_from_slice(&0u32.to_be_bytes()); // crc, filled in below
    let crc_from = buf.len();
    buf.extend_from_slice(&0i16.to_be_bytes()); // attributes
    buf.extend_from_slice(&(records.len().saturating_sub(1) as i32).to_be_bytes());
    buf.extend_from_slice(&base_ts.to_be_bytes());
    buf.extend_from_slice(&max_ts.to_be_bytes());
    buf.extend_from_slice(&writer.producer_id.to_be_bytes());
    buf.extend_from_slice(&writer.epoch.to_be_bytes());
    buf.extend_from_slice(&writer.base_sequence.to_be_bytes());
    buf.extend_from_slice(&(records.len() as i32).to_be_bytes());
    debug_assert_eq!(buf.len() - start, BATCH_HEADER);
    // A request's records share one header list (`Record::shared_headers`): encoded once
    // for each run of records that share it, then copied whole, instead of a length and a
    // copy per name and per value for every record.
    let mut shared_block = Vec::new();
    let mut shared_of: Option<&SharedHeaders> = None;
    for (delta, record) in records.iter().enumerate() {
        let block: &[u8] = match &record.shared_headers {
            Some(shared) => {
                if !shared_of.is_some_and(|last| Arc::ptr_eq(last, shared)) {
                    shared_block.clear();
                    for (name, value) in shared.iter() {
                        put_header(&mut shared_block, name, value);
                    }
                    shared_of = Some(shared);
                }
                &shared_block
            }
            None => &[],
        };
        write_record(
            buf,
            record,
            block,
            record.timestamp_ms - base_ts,
            delta as i64,
        );
    }
    let batch_length = (buf.len() - start - 12) as i32;
    buf[start + 8..start + 12].copy_from_slice(&batch_length.to_be_bytes());
    let crc = crc32c::crc32c(&buf[crc_from..]);
    buf[crc_from - 4..crc_from].copy_from_slice(&crc.to_be_bytes());
}

/// Appends one record; `shared` is its shared headers, already encoded.
fn write_record(
    buf: &mut Vec<u8>,
    record: &Record,
    shared: &[u8],
    timestamp_delta: i64,
    offset_delta: i64,
) {
    let key_len = record.key.as_ref().map_or(-1, |k| k.len() as i64);
    let mut body = 1 // attributes
        + varint_len(timestamp_delta)
        + varint_len(offset_delta)
        + varint_len(key_len)
        + record.key.as_ref().map_or(0, |k| k.len())
        + varint_len(record.value.len() as i64)
        + record.value.len()
        + varint_len(record.header_count() as i64)
        + shared.len();
    for (name, value) in &record.headers {
        body += varint_len(name.len() as i64)
            + name.len()
            + varint_len(value.len() as i64)
            + value.len();
    }
    buf.reserve(body + 5);
    put_varint(buf, body as i64);
    buf.push(0);
    put_varint(buf, timestamp_delta);
    put_varint(buf, offset_delta);
    put_varint(buf, key_len);
    if let Some(key) = &record.key {
        buf.extend_from_slice(key);
    }
    put_varint(buf, record.value.len() as i64);
    buf.extend_from_slice(&record.value);
    put_varint(buf, record.header_count() as i64);
    for (name, value) in &record.headers {
        put_header(buf, name, value);
    }
    buf.extend_from_slice(shared);
}

fn put_header(buf: &mut Vec<u8>, name: &str, value: &[u8]) {
    put_varint(buf, name.len() as i64);
    buf.extend_from_slice(name.as_bytes());
    put_varint(buf, value.len() as i64);
    buf.extend_from_slice(value);
}

/// Zigzag varint, as record fields use.
fn put_varint(buf: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.push((z as u8) | 0x80);
        z >>= 7;
    }
    buf.push(z as u8);
}

fn varint_len(v: i64) -> usize {
    let z = ((v << 1) ^ (v >> 63)) as u64;
    let bits = 64 - (z | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// A Metadata v4 request for `topics` (none: every topic), never creating one.
pub(super) fn metadata_request(correlation_id: i32, topics: &[&str]) -> Vec<u8> {
    let mut frame = Frame::new(API_METADATA, METADATA_VERSION, correlation_id, 64);
    frame.i32(topics.len() as i32);
    for topic in topics {
        frame.string(Some(topic));
    }
    frame.i8(0); // allow_auto_topic_creation = false
    frame.finish()
}

/// An InitProducerId v3 request for a non-transactional idempotent producer.
pub(super) fn init_producer_id_request(correlation_id: i32) -> Vec<u8> {
    let mut frame = Frame::flexible(
        API_INIT_PRODUCER_ID,
        INIT_PRODUCER_ID_VERSION,
        correlation_id,
        24,
    );
    frame.buf.push(0); // transactional id: compact null
    frame.i32(60_000); // transaction timeout: unused without a transactional id
    frame.i64(-1); // producer id: none yet
    frame.i16(-1); // producer epoch: none yet
    frame.buf.push(0); // no tagged fields
    frame.finish()
}

/// A response body (after the correlation id) was shorter or stranger than its version allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {what} response: {why}")]
pub(super) struct Malformed {
    what: &'static str,
    why: Cow<'static, str>,
}

/// A bounds-checked reader over one response body.
struct Reader<'a> {
    what: &'static str,
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn bad(&self, why: impl Into<Cow<'static, str>>) -> Malformed {
        Malformed {
            what: self.what,
            why: why.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.buf.len() < n {
            return Err(self.bad(format!("needs {n} more bytes, has {}", self.buf.len())));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn i8(&mut self) -> Result<i8, Malformed> {
        Ok(self.take(1)?[0] as i8)
    }
    fn i16(&mut self) -> Result<i16, Malformed> {
        Ok(i16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn i32(&mut self) -> Result<i32, Malformed> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn i64(&mut self) -> Result<i64, Malformed> {
        Ok(i64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn string(&mut self) -> Result<Option<&'a str>, Malformed> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        let bytes = self.take(len as usize)?;
        std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| self.bad("a string is not UTF-8"))
    }
    fn unsigned_varint(&mut self) -> Result<u64, Malformed> {
        let mut value = 0u64;
        for shift in (0..35).step_by(7) {
            let byte = self.take(1)?[0];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.bad("a varint is too long"))
    }

    /// Skips a tagged-field section of a flexible version.
    fn skip_tagged_fields(&mut self) -> Result<(), Malformed> {
        for _ in 0..self.unsigned_varint()? {
            let _tag = self.unsigned_varint()?;
            let size = self.unsigned_varint()?;
            self.take(size as usize)?;
        }
        Ok(())
    }

    /// An array length, checked against the bytes left (each element takes at least
    /// `min_element` bytes), so a hostile count cannot make us allocate.
    fn count(&mut self, min_element: usize) -> Result<usize, Malformed> {
        let n = self.i32()?;
        if n < 0 {
            return Ok(0);
        }
        let n = n as usize;
        if n.saturating_mul(min_element) > self.buf.len() {
            return Err(self.bad(format!("an array claims {n} elements")));
        }
        Ok(n)
    }
}

/// One partition's answer to a produce request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ProduceAnswer {
    pub error_code: i16,
    pub base_offset: i64,
}

/// The answer for `(topic, partition)` in a Produce v3 response body.
pub(super) fn produce_response(
    body: &[u8],
    topic: &str,
    partition: u32,
) -> Result<ProduceAnswer, Malformed> {
    let mut r = Reader {
        what: "produce",
        buf: body,
    };
    let mut found = None;
    for _ in 0..r.count(6)? {
        let name = r.string()?;
        for _ in 0..r.count(22)? {
            let index = r.i32()?;
            let error_code = r.i16()?;
            let base_offset = r.i64()?;
            let _log_append_time = r.i64()?;
            if name == Some(topic) && index == partition as i32 {
                found = Some(ProduceAnswer {
                    error_code,
                    base_offset,
                });
            }
        }
    }
    let _throttle = r.i32()?;
    found.ok_or_else(|| r.bad(format!("no answer for {topic:?} partition {partition}")))
}

/// What a Metadata response says about brokers and one topic's partition leaders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Metadata {
    /// `(node id, "host:port")`.
    pub brokers: Vec<(i32, String)>,
    pub topics: Vec<TopicMetadata>,
}

/// `(topic, error code, [(partition, error code, leader node id)])`.
pub(super) type TopicMetadata = (String, i16, Vec<(u32, i16, i32)>);

/// A Metadata v4 response body.
pub(super) fn metadata_response(body: &[u8]) -> Result<Metadata, Malformed> {
    let mut r = Reader {
        what: "metadata",
        buf: body,
    };
    let _throttle = r.i32()?;
    let mut metadata = Metadata::default();
    for _ in 0..r.count(12)? {
        let node = r.i32()?;
        let host = r.string()?.unwrap_or_default().to_owned();
        let port = r.i32()?;
        let _rack = r.string()?;
        let address = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        metadata.brokers.push((node, address));
    }
    let _cluster_id = r.string()?;
    let _controller = r.i32()?;
    for _ in 0..r.count(9)? {
        let error = r.i16()?;
        let name = r.string()?.unwrap_or_default().to_owned();
        let _internal = r.i8()?;
        let mut partitions = Vec::new();
        for _ in 0..r.count(18)? {
            let p_error = r.i16()?;
            let index = r.i32()?;
            let leader = r.i32()?;
            for _ in 0..r.count(4)? {
                r.i32()?; // replicas
            }
            for _ in 0..r.count(4)? {
                r.i32()?; // in-sync replicas
            }
            if index >= 0 {
                partitions.push((index as u32, p_error, leader));
            }
        }
        metadata.topics.push((name, error, partitions));
    }
    Ok(metadata)
}

/// `(error code, producer id, epoch)` from an InitProducerId v3 response body (response
/// header v1: its tagged fields come first).
pub(super) fn init_producer_id_response(body: &[u8]) -> Result<(i16, i64, i16), Malformed> {
    let mut r = Reader {
        what: "init producer id",
        buf: body,
    };
    r.skip_tagged_fields()?;
    let _throttle = r.i32()?;
    let error = r.i16()?;
    let id = r.i64()?;
    let epoch = r.i16()?;
    Ok((error, id, epoch))
}

/// What to do about a broker's error code on a produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Remedy {
    /// Refresh metadata if it may be stale, then send the same batch again.
    Retry,
    /// The broker lost track of this producer's sequence: the batch was not written; start a
    /// new producer id and send it again.
    NewProducerId,
    /// The batch cannot be written as it is.
    Reject,
}

/// Kafka's error codes as the produce path treats them (the protocol guide's "retriable"
/// column, plus the idempotence codes).
pub(super) fn remedy(code: i16) -> Remedy {
    match code {
        // unknown topic or partition (metadata may lag a creation), leader not available,
        // not leader, request timed out, network exception, coordinator loading/not
        // available, not enough replicas (before/after append), storage error, fenced or
        // unknown leader epoch, throttling quota
        3 | 5 | 6 | 7 | 13 | 14 | 15 | 19 | 20 | 56 | 74 | 75 | 89 => Remedy::Retry,
        // out of order sequence, invalid producer epoch, unknown producer id,
        // invalid producer id mapping
        45 | 47 | 59 | 49 => Remedy::NewProducerId,
        _ => Remedy::Reject,
    }
}

/// A short name for the codes an operator is most likely to see.
pub(super) fn error_name(code: i16) -> &'static str {
    match code {
        2 => "CORRUPT_MESSAGE",
        3 => "UNKNOWN_TOPIC_OR_PARTITION",
        5 => "LEADER_NOT_AVAILABLE",
        6 => "NOT_LEADER_OR_FOLLOWER",
        7 => "REQUEST_TIMED_OUT",
        10 => "MESSAGE_TOO_LARGE",
        19 => "NOT_ENOUGH_REPLICAS",
        20 => "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
        29 => "TOPIC_AUTHORIZATION_FAILED",
        32 => "INVALID_TIMESTAMP",
        35 => "UNSUPPORTED_VERSION",
        45 => "OUT_OF_ORDER_SEQUENCE_NUMBER",
        46 => "DUPLICATE_SEQUENCE_NUMBER",
        47 => "INVALID_PRODUCER_EPOCH",
        59 => "UNKNOWN_PRODUCER_ID",
        87 => "INVALID_RECORD",
        _ => "broker error",
    }
}

/// A decoded record batch, for tests: what [`write_batch`] wrote.
#[cfg(test)]
pub(super) fn read_batch(buf: &[u8]) -> Result<(Idempotence, Vec<Record>), Malformed> {
    let mut r = Reader {
        what: "record batch",
        buf,
    };
    let _base_offset = r.i64()?;
    let length = r.i32()? as usize;
    if length != r.buf.len() {
        return Err(r.bad("batch length does not match"));
    }
    let _epoch = r.i32()?;
    if r.i8()? != 2 {
        return Err(r.bad("magic is not 2"));
    }
    let crc = r.i32()? as u32;
    if crc32c::crc32c(r.buf) != crc {
        return Err(r.bad("crc mismatch"));
    }
    let _attributes = r.i16()?;
    let last_delta = r.i32()?;
    let base_ts = r.i64()?;
    let _max_ts = r.i64()?;
    let producer_id = r.i64()?;
    let epoch = r.i16()?;
    let base_sequence = r.i32()?;
    let count = r.i32()?;
    if count > 0 && last_delta != count - 1 {
        return Err(r.bad("last offset delta does not match the count"));
    }
    let mut records = Vec::new();
    let mut rest = r.buf;
    for _ in 0..count {
        let (len, n) = get_varint(rest).ok_or_else(|| r.bad("record length"))?;
        let body = rest
            .get(n..n + len as usize)
            .ok_or_else(|| r.bad("record body"))?;
        rest = &rest[n + len as usize..];
        let mut at = 1; // attributes
        let mut next = || -> Result<i64, Malformed> {
            let (v, n) = get_varint(&body[at..]).ok_or_else(|| r.bad("record varint"))?;
            at += n;
            Ok(v)
        };
        let ts_delta = next()?;
        let _offset_delta = next()?;
        let key_len = next()?;
        let key = (key_len >= 0).then(|| {
            let k = Bytes::copy_from_slice(&body[at..at + key_len as usize]);
            at += key_len as usize;
            k
        });
        let (value_len, n) = get_varint(&body[at..]).ok_or_else(|| r.bad("value length"))?;
        at += n;
        let value = Bytes::copy_from_slice(&body[at..at + value_len as usize]);
        at += value_len as usize;
        let (headers, n) = get_varint(&body[at..]).ok_or_else(|| r.bad("header count"))?;
        at += n;
        let mut record = Record::new(value, base_ts + ts_delta);
        record.key = key;
        for _ in 0..headers {
            let (kl, n) = get_varint(&body[at..]).ok_or_else(|| r.bad("header key"))?;
            at += n;
            let name = String::from_utf8(body[at..at + kl as usize].to_vec())
                .map_err(|_| r.bad("header name"))?;
            at += kl as usize;
            let (vl, n) = get_varint(&body[at..]).ok_or_else(|| r.bad("header value"))?;
            at += n;
            let value = Bytes::copy_from_slice(&body[at..at + vl as usize]);
            at += vl as usize;
            record.headers.push((Cow::Owned(name), value));
        }
        if at != body.len() {
            return Err(r.bad("record length does not match its fields"));
        }
        records.push(record);
    }
    if !rest.is_empty() {
        return Err(r.bad("bytes after the last record"));
    }
    Ok((
        Idempotence {
            producer_id,
            epoch,
            base_sequence,
        },
        records,
    ))
}

#[cfg(test)]
fn get_varint(buf: &[u8]) -> Option<(i64, usize)> {
    let mut z = 0u64;
    for (i, byte) in buf.iter().enumerate().take(10) {
        z |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((((z >> 1) as i64) ^ -((z & 1) as i64), i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const WRITER: Idempotence = Idempotence {
        producer_id: 4242,
        epoch: 3,
        base_sequence: 17,
    };

    #[test]
    fn varints_match_the_protocol_guide() {
        // Zigzag: 0 → 0, -1 → 1, 1 → 2, 63 → 126, -64 → 127, 64 → 128 (two bytes).
        for (v, bytes) in [
            (0i64, vec![0u8]),
            (-1, vec![1]),
            (1, vec![2]),
            (63, vec![126]),
            (-64, vec![127]),
            (64, vec![0x80, 0x01]),
            (300, vec![0xd8, 0x04]),
        ] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(buf, bytes, "{v}");
            assert_eq!(varint_len(v), bytes.len(), "{v}");
            assert_eq!(get_varint(&buf), Some((v, bytes.len())));
        }
    }

    #[test]
    fn crc32c_is_castagnoli() {
        // The check value of CRC-32C.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn a_batch_header_has_kafkas_layout() {
        let record = Record::new(&b"v"[..], 1_700_000_000_123).with_key(&b"k"[..]);
        let mut buf = Vec::new();
        write_batch(&mut buf, &[&record], WRITER);
        assert_eq!(&buf[..8], &[0; 8], "base offset 0");
        assert_eq!(
            i32::from_be_bytes(buf[8..12].try_into().unwrap()) as usize,
            buf.len() - 12
        );
        assert_eq!(buf[16], 2, "magic");
        assert_eq!(&buf[23..27], &0i32.to_be_bytes(), "last offset delta");
        assert_eq!(&buf[27..35], &1_700_000_000_123i64.to_be_bytes());
        assert_eq!(&buf[43..51], &4242i64.to_be_bytes(), "producer id");
        assert_eq!(&buf[53..57], &17i32.to_be_bytes(), "base sequence");
        assert_eq!(&buf[57..61], &1i32.to_be_bytes(), "record count");
    }

    fn record_strategy() -> impl Strategy<Value = Record> {
        (
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
            proptest::collection::vec(any::<u8>(), 0..300),
            -5_000i64..5_000,
            proptest::collection::vec(
                (
                    "[a-z-]{0,12}",
                    proptest::collection::vec(any::<u8>(), 0..20),
                ),
                0..4,
            ),
        )
            .prop_map(|(key, value, skew, headers)| {
                let mut record = Record::new(value, 1_700_000_000_000 + skew);
                record.key = key.map(Bytes::from);
                for (name, value) in headers {
                    record.headers.push((Cow::Owned(name), Bytes::from(value)));
                }
                record
            })
    }

    proptest! {
        #[test]
        fn batches_read_back_exactly(records in proptest::collection::vec(record_strategy(), 1..30)) {
            let refs: Vec<&Record> = records.iter().collect();
            let mut buf = Vec::new();
            write_batch(&mut buf, &refs, WRITER);
            let (writer, read) = read_batch(&buf).unwrap();
            prop_assert_eq!(writer, WRITER);
            prop_assert_eq!(read, records);
        }

        #[test]
        fn shared_headers_read_back_after_the_records_own(
            mut records in proptest::collection::vec(record_strategy(), 1..30),
        ) {
            // Runs of two records share a list, a second list, or none, in turn: the
            // encoded list is reused within a run and replaced between runs.
            let lists: [SharedHeaders; 2] = [
                Arc::from(vec![
                    (Cow::Borrowed("tributary.producer"), Bytes::from_static(b"shop")),
                    (Cow::Borrowed("tributary.schema_version"), Bytes::from_static(b"3")),
                ]),
                Arc::from(vec![(Cow::Borrowed("empty"), Bytes::new())]),
            ];
            for (i, record) in records.iter_mut().enumerate() {
                record.shared_headers = lists.get(i / 2 % 3).cloned();
            }
            let refs: Vec<&Record> = records.iter().collect();
            let mut buf = Vec::new();
            write_batch(&mut buf, &refs, WRITER);
            let (_, read) = read_batch(&buf).unwrap();
            let expected: Vec<Record> = records
                .iter()
                .map(|record| Record {
                    headers: record.all_headers().cloned().collect(),
                    shared_headers: None,
                    ..record.clone()
                })
                .collect();
            prop_assert_eq!(read, expected);
        }
    }

    #[test]
    fn a_produce_request_frames_its_batch() {
        let record = Record::new(&b"hello"[..], 1_700_000_000_000);
        let frame = produce_request(9, 30_000, "orders", 2, &[&record], WRITER);
        assert_eq!(
            i32::from_be_bytes(frame[..4].try_into().unwrap()) as usize,
            frame.len() - 4
        );
        assert_eq!(&frame[4..6], &API_PRODUCE.to_be_bytes());
        assert_eq!(&frame[6..8], &PRODUCE_VERSION.to_be_bytes());
        assert_eq!(&frame[8..12], &9i32.to_be_bytes());
        // header (4 + 2 + 2 + 4 + 2 + 9) then: transactional id -1, acks -1, timeout, 1 topic
        let mut at = 4 + 2 + 2 + 4 + 2 + CLIENT_ID.len();
        assert_eq!(&frame[at..at + 2], &(-1i16).to_be_bytes());
        at += 2;
        assert_eq!(&frame[at..at + 2], &(-1i16).to_be_bytes(), "acks=all");
        at += 2 + 4 + 4;
        assert_eq!(&frame[at..at + 2], &6i16.to_be_bytes());
        assert_eq!(&frame[at + 2..at + 8], b"orders");
        at += 8 + 4;
        assert_eq!(&frame[at..at + 4], &2i32.to_be_bytes(), "partition");
        let length = i32::from_be_bytes(frame[at + 4..at + 8].try_into().unwrap()) as usize;
        let batch = &frame[at + 8..];
        assert_eq!(batch.len(), length);
        let (_, records) = read_batch(batch).unwrap();
        assert_eq!(records, vec![record]);
    }

    fn produce_body(entries: &[(&str, i32, i16, i64)]) -> Vec<u8> {
        let mut f = Frame { buf: Vec::new() };
        f.i32(entries.len() as i32);
        for (topic, partition, error, offset) in entries {
            f.string(Some(topic));
            f.i32(1);
            f.i32(*partition);
            f.i16(*error);
            f.i64(*offset);
            f.i64(-1);
        }
        f.i32(0);
        f.buf
    }

    #[test]
    fn produce_answers_are_found_by_topic_and_partition() {
        let body = produce_body(&[("other", 2, 6, -1), ("orders", 2, 0, 1234)]);
        assert_eq!(
            produce_response(&body, "orders", 2).unwrap(),
            ProduceAnswer {
                error_code: 0,
                base_offset: 1234
            }
        );
        assert!(produce_response(&body, "orders", 3).is_err());
    }

    #[test]
    fn truncated_or_hostile_answers_are_errors_not_panics() {
        let body = produce_body(&[("orders", 0, 0, 7)]);
        for cut in 0..body.len() {
            assert!(
                produce_response(&body[..cut], "orders", 0).is_err(),
                "{cut}"
            );
        }
        let hostile = i32::MAX.to_be_bytes();
        assert!(produce_response(&hostile, "orders", 0).is_err());
        assert!(metadata_response(&[0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]).is_err());
        assert!(init_producer_id_response(&[0; 5]).is_err());
    }

    proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = produce_response(&bytes, "t", 0);
            let _ = metadata_response(&bytes);
            let _ = init_producer_id_response(&bytes);
        }
    }

    #[test]
    fn metadata_names_leaders_and_addresses() {
        let mut f = Frame { buf: Vec::new() };
        f.i32(0); // throttle
        f.i32(2);
        for (node, host, port) in [(1, "127.0.0.1", 9092), (2, "::1", 9093)] {
            f.i32(node);
            f.string(Some(host));
            f.i32(port);
            f.string(None);
        }
        f.string(Some("cluster"));
        f.i32(1);
        f.i32(1); // one topic
        f.i16(0);
        f.string(Some("orders"));
        f.i8(0);
        f.i32(2);
        for (index, leader) in [(0, 1), (1, 2)] {
            f.i16(0);
            f.i32(index);
            f.i32(leader);
            f.i32(1);
            f.i32(leader);
            f.i32(1);
            f.i32(leader);
        }
        let metadata = metadata_response(&f.buf).unwrap();
        assert_eq!(
            metadata.brokers,
            vec![(1, "127.0.0.1:9092".into()), (2, "[::1]:9093".into())]
        );
        assert_eq!(
            metadata.topics,
            vec![("orders".into(), 0, vec![(0, 0, 1), (1, 0, 2)])]
        );
    }

    #[test]
    fn init_producer_id_asks_for_a_new_id_in_v3() {
        let frame = init_producer_id_request(5);
        let header = 4 + 2 + 2 + 4 + 2 + CLIENT_ID.len();
        assert_eq!(&frame[4..6], &API_INIT_PRODUCER_ID.to_be_bytes());
        assert_eq!(&frame[6..8], &3i16.to_be_bytes());
        let mut body = vec![0u8, 0]; // header tagged fields, compact null transactional id
        body.extend_from_slice(&60_000i32.to_be_bytes());
        body.extend_from_slice(&(-1i64).to_be_bytes());
        body.extend_from_slice(&(-1i16).to_be_bytes());
        body.push(0);
        assert_eq!(&frame[header..], &body[..]);

        // Answer: header tagged fields (one tag of 2 bytes), throttle, error, id, epoch, tags.
        let mut answer = vec![1u8, 7, 2, 0xaa, 0xbb];
        answer.extend_from_slice(&0i32.to_be_bytes());
        answer.extend_from_slice(&0i16.to_be_bytes());
        answer.extend_from_slice(&77i64.to_be_bytes());
        answer.extend_from_slice(&2i16.to_be_bytes());
        answer.push(0);
        assert_eq!(init_producer_id_response(&answer), Ok((0, 77, 2)));
    }

    #[test]
    fn remedies_follow_the_protocol_guide() {
        assert_eq!(remedy(6), Remedy::Retry);
        assert_eq!(remedy(7), Remedy::Retry);
        assert_eq!(remedy(45), Remedy::NewProducerId);
        assert_eq!(remedy(10), Remedy::Reject);
        assert_eq!(remedy(87), Remedy::Reject);
    }
}
