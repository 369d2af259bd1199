//! [`FileSink`]: a replay job's records appended to an export directory's data file, fsynced
//! per batch, and the manifest written at the end.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::container;
use super::manifest::{FORMAT_VERSION, Manifest, Tally, hex};
use super::record::write_line;
use super::scan::scan;
use super::{FileError, MANIFEST_FILE, data_file_name};
use crate::{BoxError, BoxFuture, FileFormat, ReplayRecord, Sink, SinkReport};

/// Writes a job's records to `DIR/events.ndjson` or `DIR/events.avro` and, on `finish`,
/// `DIR/manifest.json`. Each `write` appends one batch (a run of lines, or one Avro block),
/// fsyncs it, and returns the data file's new length: the position to checkpoint and, after a
/// crash, to [`resume`](FileSink::resume) at.
pub struct FileSink {
    /// `None` once an I/O error left the file in an unknown state.
    export: Option<Export>,
}

/// The open export: the data file and what has been written to it.
struct Export {
    dir: PathBuf,
    data_path: PathBuf,
    file: File,
    format: FileFormat,
    job_id: String,
    /// The data file's length: everything before it is written and fsynced.
    position: u64,
    /// Over the data file's first `position` bytes.
    hasher: Sha256,
    tally: Tally,
    /// Avro: the header's sync marker, which ends every block.
    marker: [u8; 16],
}

impl FileSink {
    /// Starts an export in `dir`, which must not exist (an audit is never overwritten) and
    /// whose parent must. An Avro data file gets its header now.
    pub async fn create(
        dir: &Path,
        format: FileFormat,
        job_id: &str,
    ) -> Result<FileSink, FileError> {
        let (dir, job_id) = (dir.to_owned(), job_id.to_owned());
        let export = blocking(move || Export::create(dir, format, job_id)).await?;
        Ok(FileSink {
            export: Some(export),
        })
    }

    /// Reopens the export in `dir` after a crash, at `position`: a value a `write` of this
    /// export returned (0: nothing confirmed). The data file is cut back to it, the running
    /// statistics and hash are rebuilt by reading the file up to it, and a manifest left by an
    /// earlier `finish` is removed (the export is unfinished again until the next `finish`).
    pub async fn resume(
        dir: &Path,
        format: FileFormat,
        job_id: &str,
        position: u64,
    ) -> Result<FileSink, FileError> {
        let (dir, job_id) = (dir.to_owned(), job_id.to_owned());
        let export = blocking(move || Export::resume(dir, format, job_id, position)).await?;
        Ok(FileSink {
            export: Some(export),
        })
    }

    async fn write_batch(&mut self, batch: Vec<ReplayRecord>) -> Result<u64, FileError> {
        let mut export = self.export.take().ok_or(FileError::Broken)?;
        let (export, written) = blocking(move || {
            let written = export.append(&batch);
            Ok((export, written))
        })
        .await?;
        // After an I/O error the file may hold part of the batch: only `resume` may go on.
        if !matches!(written, Err(FileError::Io { .. })) {
            self.export = Some(export);
        }
        written
    }

    async fn finish_export(self) -> Result<PathBuf, FileError> {
        let export = self.export.ok_or(FileError::Broken)?;
        blocking(move || export.finish()).await
    }
}

impl Sink for FileSink {
    fn write<'a>(&'a mut self, batch: Vec<ReplayRecord>) -> BoxFuture<'a, Result<u64, BoxError>> {
        Box::pin(async move { Ok(self.write_batch(batch).await?) })
    }

    fn finish(self: Box<Self>) -> BoxFuture<'static, Result<SinkReport, BoxError>> {
        Box::pin(async move {
            let manifest = self.finish_export().await?;
            Ok(SinkReport {
                manifest: Some(manifest),
                ..SinkReport::default()
            })
        })
    }
}

impl fmt::Debug for FileSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(export) = &self.export else {
            return f.write_str("FileSink(broken)");
        };
        f.debug_struct("FileSink")
            .field("data_path", &export.data_path)
            .field("job_id", &export.job_id)
            .field("position", &export.position)
            .field("records", &export.tally.records)
            .finish_non_exhaustive()
    }
}

impl Export {
    fn create(dir: PathBuf, format: FileFormat, job_id: String) -> Result<Export, FileError> {
        if fs::symlink_metadata(&dir).is_ok() {
            return Err(FileError::Exists { path: dir });
        }
        let parent = match dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        if !parent.is_dir() {
            return Err(FileError::ParentMissing { path: dir });
        }
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(FileError::Exists { path: dir });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(FileError::ParentMissing { path: dir });
            }
            Err(e) => return Err(FileError::io(dir, e)),
        }
        let data_path = dir.join(data_file_name(format));
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&data_path)
            .map_err(|e| FileError::io(&data_path, e))?;
        let mut export = Export {
            dir,
            data_path,
            file,
            format,
            job_id,
            position: 0,
            hasher: Sha256::new(),
            tally: Tally::default(),
            marker: [0; 16],
        };
        export.start()?;
        sync_dir(&export.dir)?;
        sync_dir(&parent)?;
        Ok(export)
    }

    fn resume(
        dir: PathBuf,
        format: FileFormat,
        job_id: String,
        position: u64,
    ) -> Result<Export, FileError> {
        if !dir.is_dir() {
            return Err(FileError::Missing { path: dir });
        }
        let data_path = dir.join(data_file_name(format));
        if !data_path.is_file() {
            return Err(FileError::Missing { path: data_path });
        }
        let refuse = |reason: String| FileError::Position {
            path: data_path.clone(),
            position,
            reason,
        };
        let mut export = Export {
            dir: dir.clone(),
            data_path: data_path.clone(),
            file: OpenOptions::new()
                .append(true)
                .open(&data_path)
                .map_err(|e| FileError::io(&data_path, e))?,
            format,
            job_id,
            position,
            hasher: Sha256::new(),
            tally: Tally::default(),
            marker: [0; 16],
        };
        if position > 0 {
            let scanned = scan(&data_path, format, Some(position), false)?;
            if scanned.bytes < position {
                return Err(refuse(format!("the file has only {} bytes", scanned.bytes)));
            }
            if let Some(problem) = scanned.problems.into_iter().next() {
                return Err(refuse(match problem {
                    FileError::Incomplete { .. } => {
                        "a record or block continues past it; no write ended there".to_owned()
                    }
                    other => other.to_string(),
                }));
            }
            if let Some(header) = scanned.header {
                if header.job_id != export.job_id {
                    return Err(refuse(format!(
                        "the file belongs to job {}, not {}",
                        header.job_id, export.job_id
                    )));
                }
                export.marker = header.marker;
            }
            export.hasher = scanned.hasher;
            export.tally = scanned.tally;
        }
        for stale in [MANIFEST_FILE.to_owned(), format!("{MANIFEST_FILE}.tmp")] {
            let path = dir.join(stale);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(FileError::io(path, e)),
            }
        }
        export
            .file
            .set_len(position)
            .map_err(|e| FileError::io(&data_path, e))?;
        if position == 0 {
            export.start()?;
        } else {
            export.sync()?;
        }
        sync_dir(&dir)?;
        Ok(export)
    }

    /// Writes what an empty data file starts with (an Avro header), and fsyncs.
    fn start(&mut self) -> Result<(), FileError> {
        if self.format == FileFormat::Avro {
            self.marker = container::new_marker(&self.job_id);
            let header = container::header(&self.job_id, &self.marker);
            self.append_bytes(&header)?;
        }
        self.sync()
    }

    /// Appends `batch` (nothing of it when an offset is out of order) and fsyncs.
    fn append(&mut self, batch: &[ReplayRecord]) -> Result<u64, FileError> {
        if batch.is_empty() {
            return Ok(self.position);
        }
        let mut tally = self.tally.clone();
        for record in batch {
            tally.add(record)?;
        }
        let bytes = match self.format {
            FileFormat::Ndjson => {
                let mut lines = Vec::new();
                for record in batch {
                    write_line(record, &mut lines);
                }
                lines
            }
            FileFormat::Avro => container::block(batch, &self.marker)?,
        };
        self.append_bytes(&bytes)?;
        self.sync()?;
        self.tally = tally;
        Ok(self.position)
    }

    fn append_bytes(&mut self, bytes: &[u8]) -> Result<(), FileError> {
        self.file
            .write_all(bytes)
            .map_err(|e| FileError::io(&self.data_path, e))?;
        self.hasher.update(bytes);
        self.position += bytes.len() as u64;
        Ok(())
    }

    fn sync(&self) -> Result<(), FileError> {
        self.file
            .sync_data()
            .map_err(|e| FileError::io(&self.data_path, e))
    }

    /// Writes the manifest (to a temporary name, fsynced, renamed) and returns its path.
    fn finish(self) -> Result<PathBuf, FileError> {
        self.file
            .sync_all()
            .map_err(|e| FileError::io(&self.data_path, e))?;
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            job_id: self.job_id,
            created_at: now_rfc3339(),
            format: self.format,
            data_file: data_file_name(self.format).to_owned(),
            data_bytes: self.position,
            data_sha256: hex(&self.hasher.finalize()),
            records: self.tally.records,
            partitions: self.tally.entries(),
        };
        let mut json = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
        json.push(b'\n');
        let path = self.dir.join(MANIFEST_FILE);
        let temporary = self.dir.join(format!("{MANIFEST_FILE}.tmp"));
        let mut file = File::create(&temporary).map_err(|e| FileError::io(&temporary, e))?;
        file.write_all(&json)
            .and_then(|()| file.sync_all())
            .map_err(|e| FileError::io(&temporary, e))?;
        fs::rename(&temporary, &path).map_err(|e| FileError::io(&path, e))?;
        sync_dir(&self.dir)?;
        Ok(path)
    }
}

/// Makes a directory's entries (files created, renamed or removed in it) durable.
fn sync_dir(dir: &Path) -> Result<(), FileError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| FileError::io(dir, e))
}

fn now_rfc3339() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default();
    chrono::DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Runs blocking file work on the blocking pool.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T, FileError>
where
    F: FnOnce() -> Result<T, FileError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| FileError::Broken)?
}
