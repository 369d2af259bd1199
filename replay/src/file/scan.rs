//! Reading a data file back, once, front to back: its SHA-256, its records and their per-partition
//! statistics, and everything wrong with it. `verify` reads whole files; `resume` reads up to
//! the checkpointed position to rebuild the sink's running state. Blocking; run it on the
//! blocking pool.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use apache_avro::reader::datum::GenericDatumReader;
use sha2::{Digest, Sha256};

use super::FileError;
use super::container::{self, Header, ReadError};
use super::manifest::Tally;
use super::record::{SCHEMA, from_avro, read_line};
use crate::{FileFormat, ReplayRecord};

/// What a data file holds, as far as it could be read.
#[derive(Debug)]
pub(crate) struct Scan {
    pub(crate) tally: Tally,
    /// Over every byte scanned (the readable part and any damaged rest).
    pub(crate) hasher: Sha256,
    /// Bytes scanned.
    pub(crate) bytes: u64,
    /// Where the last complete line or block ends.
    pub(crate) end: u64,
    /// Avro only: the header, when it could be read.
    pub(crate) header: Option<Header>,
    /// Corrupt records, disordered offsets, broken framing and an unfinished tail
    /// ([`FileError::Incomplete`]), in file order.
    pub(crate) problems: Vec<FileError>,
    /// The records, when asked for.
    pub(crate) records: Vec<ReplayRecord>,
}

/// Scans the first `limit` bytes of `path` (all of it when `None`), keeping the records when
/// `collect`. Only an I/O error ends it early; what is wrong with the data is in `problems`.
pub(crate) fn scan(
    path: &Path,
    format: FileFormat,
    limit: Option<u64>,
    collect: bool,
) -> Result<Scan, FileError> {
    let io_error = |e| FileError::io(path, e);
    let file = File::open(path).map_err(io_error)?;
    let file_len = file.metadata().map_err(io_error)?.len();
    let len = limit.map_or(file_len, |limit| limit.min(file_len));
    let mut input = BufReader::new(Hashing {
        inner: file.take(len),
        hasher: Sha256::new(),
        bytes: 0,
    });
    let mut scan = Scan {
        tally: Tally::default(),
        hasher: Sha256::new(),
        bytes: 0,
        end: 0,
        header: None,
        problems: Vec::new(),
        records: Vec::new(),
    };
    match format {
        FileFormat::Ndjson => scan_lines(path, &mut input, collect, &mut scan).map_err(io_error)?,
        FileFormat::Avro => scan_blocks(path, &mut input, len, collect, &mut scan)?,
    }
    // Whatever was not parsed still counts towards the hash.
    io::copy(&mut input, &mut io::sink()).map_err(io_error)?;
    let hashing = input.into_inner();
    scan.hasher = hashing.hasher;
    scan.bytes = hashing.bytes;
    Ok(scan)
}

fn scan_lines(
    path: &Path,
    input: &mut impl BufRead,
    collect: bool,
    scan: &mut Scan,
) -> io::Result<()> {
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        let read = input.read_until(b'\n', &mut line)?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        if line.last() != Some(&b'\n') {
            scan.problems.push(FileError::Incomplete {
                path: path.to_owned(),
                from: scan.end,
                bytes: read as u64,
            });
            return Ok(());
        }
        scan.end += read as u64;
        let corrupt = |reason: String| FileError::CorruptLine {
            path: path.to_owned(),
            line: number,
            reason,
        };
        match read_line(&line[..read - 1]) {
            Ok(record) => {
                if let Err(e) = scan.tally.add(&record) {
                    scan.problems.push(corrupt(e.to_string()));
                }
                if collect {
                    scan.records.push(record);
                }
            }
            Err(reason) => scan.problems.push(corrupt(reason)),
        }
    }
}

fn scan_blocks(
    path: &Path,
    input: &mut impl Read,
    len: u64,
    collect: bool,
    scan: &mut Scan,
) -> Result<(), FileError> {
    let mut input = Counting {
        inner: input,
        read: 0,
    };
    let header = match container::read_header(&mut input, len) {
        Ok(header) => header,
        Err(ReadError::Io(e)) => return Err(FileError::io(path, e)),
        Err(ReadError::Eof) => {
            scan.problems.push(FileError::CorruptHeader {
                path: path.to_owned(),
                reason: format!("the file ends inside the header ({len} bytes)"),
            });
            return Ok(());
        }
        Err(ReadError::Invalid(reason)) => {
            scan.problems.push(FileError::CorruptHeader {
                path: path.to_owned(),
                reason,
            });
            return Ok(());
        }
    };
    scan.end = input.read;
    let marker = header.marker;
    scan.header = Some(header);
    let mut number = 0;
    while input.read < len {
        number += 1;
        let left = len - input.read;
        let data = match container::read_block(&mut input, &marker, left) {
            Ok(block) => block,
            Err(ReadError::Io(e)) => return Err(FileError::io(path, e)),
            Err(ReadError::Eof) => {
                scan.problems.push(FileError::Incomplete {
                    path: path.to_owned(),
                    from: scan.end,
                    bytes: len - scan.end,
                });
                return Ok(());
            }
            Err(ReadError::Invalid(reason)) => {
                scan.problems.push(FileError::CorruptBlock {
                    path: path.to_owned(),
                    block: number,
                    reason,
                });
                return Ok(());
            }
        };
        scan.end = input.read;
        for reason in decode_block(data, collect, scan) {
            scan.problems.push(FileError::CorruptBlock {
                path: path.to_owned(),
                block: number,
                reason,
            });
        }
    }
    Ok(())
}

/// Counts (and keeps) the records of one block, and says what is wrong with them; a record
/// that cannot be decoded ends the block.
fn decode_block((count, data): (u64, Vec<u8>), collect: bool, scan: &mut Scan) -> Vec<String> {
    let mut problems = Vec::new();
    let reader = match GenericDatumReader::builder(&SCHEMA).build() {
        Ok(reader) => reader,
        Err(e) => return vec![e.to_string()],
    };
    let mut rest = &data[..];
    for index in 1..=count {
        let decoded = reader
            .read_value(&mut rest)
            .map_err(|e| e.to_string())
            .and_then(from_avro);
        let record = match decoded {
            Ok(record) => record,
            Err(e) => {
                problems.push(format!("record {index} of {count}: {e}"));
                return problems;
            }
        };
        if let Err(e) = scan.tally.add(&record) {
            problems.push(format!("record {index} of {count}: {e}"));
        }
        if collect {
            scan.records.push(record);
        }
    }
    if !rest.is_empty() {
        problems.push(format!("{} bytes after its {count} records", rest.len()));
    }
    problems
}

/// Hashes and counts every byte read through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        self.bytes += read as u64;
        Ok(read)
    }
}

/// Counts the bytes the parser consumed.
struct Counting<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.read += read as u64;
        Ok(read)
    }
}
