//! The Avro object container layout, written by hand so that each `write` is exactly one data
//! block: the header once (magic `Obj\x01`, metadata `avro.schema`, `avro.codec` = `null`,
//! `tributary.job_id`, a 16-byte sync marker), then per batch the record count, the byte size,
//! the records' datums, and the sync marker. Datums are encoded by apache-avro.

use std::collections::BTreeMap;
use std::io::{self, Read};

use apache_avro::writer::datum::GenericDatumWriter;
use sha2::{Digest, Sha256};

use super::FileError;
use super::record::{AVRO_SCHEMA, SCHEMA, to_avro};
use crate::ReplayRecord;

const MAGIC: &[u8; 4] = b"Obj\x01";
const JOB_ID_KEY: &str = "tributary.job_id";

/// What the header of an `events.avro` says.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub(crate) marker: [u8; 16],
    pub(crate) job_id: String,
}

/// A sync marker unique to this export: it only has to be unlikely to occur in the data.
pub(crate) fn new_marker(job_id: &str) -> [u8; 16] {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let digest = Sha256::new()
        .chain_update(job_id.as_bytes())
        .chain_update(nanos.to_le_bytes())
        .chain_update(std::process::id().to_le_bytes())
        .finalize();
    let mut marker = [0; 16];
    marker.copy_from_slice(&digest[..16]);
    marker
}

/// The header bytes for `job_id`'s export with `marker`.
pub(crate) fn header(job_id: &str, marker: &[u8; 16]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    let metadata: [(&str, &[u8]); 3] = [
        ("avro.codec", b"null"),
        ("avro.schema", AVRO_SCHEMA.as_bytes()),
        (JOB_ID_KEY, job_id.as_bytes()),
    ];
    put_long(&mut out, metadata.len() as i64);
    for (key, value) in metadata {
        put_bytes(&mut out, key.as_bytes());
        put_bytes(&mut out, value);
    }
    put_long(&mut out, 0);
    out.extend_from_slice(marker);
    out
}

/// One data block holding `records`.
pub(crate) fn block(records: &[ReplayRecord], marker: &[u8; 16]) -> Result<Vec<u8>, FileError> {
    let avro_error = |e: apache_avro::Error| FileError::Avro(e.to_string());
    let writer = GenericDatumWriter::builder(&SCHEMA)
        .build()
        .map_err(avro_error)?;
    let mut data = Vec::new();
    for record in records {
        writer
            .write_value(&mut data, to_avro(record))
            .map_err(avro_error)?;
    }
    let mut out = Vec::with_capacity(data.len() + 40);
    put_long(&mut out, records.len() as i64);
    put_long(&mut out, data.len() as i64);
    out.extend_from_slice(&data);
    out.extend_from_slice(marker);
    Ok(out)
}

/// Why a header or block could not be read: the bytes ran out, or they are wrong.
#[derive(Debug)]
pub(crate) enum ReadError {
    Eof,
    Invalid(String),
    Io(io::Error),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> ReadError {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            ReadError::Eof
        } else {
            ReadError::Io(e)
        }
    }
}

/// Reads and checks a header (our schema, no codec).
pub(crate) fn read_header(input: &mut impl Read, limit: u64) -> Result<Header, ReadError> {
    let mut magic = [0; 4];
    input.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(ReadError::Invalid(
            "not an avro object container file".to_owned(),
        ));
    }
    let mut metadata = BTreeMap::new();
    loop {
        let mut count = read_long(input)?;
        if count == 0 {
            break;
        }
        if count < 0 {
            // A negative count is followed by the block's byte size.
            read_long(input)?;
            count = count
                .checked_neg()
                .ok_or_else(|| invalid("metadata count"))?;
        }
        for _ in 0..count {
            let key = read_bytes(input, limit)?;
            let value = read_bytes(input, limit)?;
            metadata.insert(key, value);
        }
    }
    let mut marker = [0; 16];
    input.read_exact(&mut marker)?;
    let text = |key: &str| {
        metadata
            .get(key.as_bytes())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    match text("avro.codec").as_deref() {
        None | Some("null") => {}
        Some(codec) => return Err(ReadError::Invalid(format!("unexpected codec {codec}"))),
    }
    if text("avro.schema").as_deref() != Some(AVRO_SCHEMA) {
        return Err(ReadError::Invalid(
            "the schema is not the tributary.ReplayedRecord schema this version writes".to_owned(),
        ));
    }
    let job_id = text(JOB_ID_KEY).ok_or_else(|| invalid("no tributary.job_id"))?;
    Ok(Header { marker, job_id })
}

/// A block's record count and data, its sync marker checked. `limit`: bytes left in the file
/// (a larger size is an unfinished block).
pub(crate) fn read_block(
    input: &mut impl Read,
    marker: &[u8; 16],
    limit: u64,
) -> Result<(u64, Vec<u8>), ReadError> {
    let count = read_long(input)?;
    let size = read_long(input)?;
    let (Ok(count), Ok(size)) = (u64::try_from(count), u64::try_from(size)) else {
        return Err(invalid("negative record count or size"));
    };
    if size > limit {
        return Err(ReadError::Eof);
    }
    let mut data = vec![0; size as usize];
    input.read_exact(&mut data)?;
    let mut found = [0; 16];
    input.read_exact(&mut found)?;
    if &found != marker {
        return Err(invalid("its sync marker differs from the header's"));
    }
    Ok((count, data))
}

fn invalid(what: &str) -> ReadError {
    ReadError::Invalid(what.to_owned())
}

fn put_long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_long(out, bytes.len() as i64);
    out.extend_from_slice(bytes);
}

fn read_long(input: &mut impl Read) -> Result<i64, ReadError> {
    let mut z: u64 = 0;
    for shift in (0..64).step_by(7) {
        let mut byte = [0];
        input.read_exact(&mut byte)?;
        z |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
        }
    }
    Err(invalid("a variable-length integer is too long"))
}

fn read_bytes(input: &mut impl Read, limit: u64) -> Result<Vec<u8>, ReadError> {
    let len = u64::try_from(read_long(input)?).map_err(|_| invalid("negative length"))?;
    if len > limit {
        return Err(ReadError::Eof);
    }
    let mut bytes = vec![0; len as usize];
    input.read_exact(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longs_round_trip_in_avro_zigzag() {
        for n in [0, -1, 1, 63, -64, 64, 1 << 40, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            put_long(&mut out, n);
            let expected = GenericDatumWriter::builder(&apache_avro::Schema::Long)
                .build()
                .unwrap()
                .write_value_to_vec(apache_avro::types::Value::Long(n))
                .unwrap();
            assert_eq!(out, expected, "{n}");
            assert_eq!(read_long(&mut &out[..]).unwrap(), n);
        }
    }

    #[test]
    fn a_header_reads_back() {
        let marker = new_marker("job-1");
        let bytes = header("job-1", &marker);
        let header = read_header(&mut &bytes[..], bytes.len() as u64).unwrap();
        assert_eq!(header.marker, marker);
        assert_eq!(header.job_id, "job-1");
        assert!(matches!(
            read_header(&mut &bytes[..bytes.len() - 1], 100),
            Err(ReadError::Eof)
        ));
    }
}
