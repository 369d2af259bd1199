//! File-system helpers shared by the embedded log: error mapping, directory fsync, atomic
//! file replacement, and running blocking work off the async runtime.

use std::fmt::Display;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::LogError;

/// Turns an I/O error into a [`LogError`]: a full disk or exhausted quota is retryable
/// (`Unavailable`), anything else means the log cannot be trusted to continue (`Fatal`).
pub(super) fn io_error(context: impl Display, err: &io::Error) -> LogError {
    match err.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
            LogError::Unavailable(format!("{context}: the disk is full ({err})"))
        }
        _ => LogError::Fatal(format!("{context}: {err}")),
    }
}

/// `.context(..)` for I/O results.
pub(super) trait IoContext<T> {
    fn context<C: Display>(self, context: impl FnOnce() -> C) -> Result<T, LogError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn context<C: Display>(self, context: impl FnOnce() -> C) -> Result<T, LogError> {
        self.map_err(|e| io_error(context(), &e))
    }
}

/// Makes the entries of `dir` (files created, renamed or removed in it) durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .context(|| format!("could not sync directory {}", dir.display()))
}

/// Creates `dir` (and its parents) and makes its entry durable in its parent.
pub(super) fn create_dir_durable(dir: &Path) -> Result<(), LogError> {
    fs::create_dir_all(dir).context(|| format!("could not create directory {}", dir.display()))?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new content:
/// write a temporary file, fsync it, rename it over `path`, fsync the directory.
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LogError> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = Path::new(&tmp_name);
    let write = || -> io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(tmp, path)
    };
    write().context(|| format!("could not write {}", path.display()))?;
    match path.parent() {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

/// Reads a whole file, or `None` if it does not exist.
pub(super) fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, LogError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(format!("could not read {}", path.display()), &e)),
    }
}

/// Runs blocking work (file I/O) on tokio's blocking pool.
pub(super) async fn blocking<T, F>(work: F) -> Result<T, LogError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, LogError> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) => Err(LogError::Fatal(format!(
            "an embedded log task did not finish: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_disk_is_retryable_other_errors_are_fatal() {
        let full = io::Error::from(io::ErrorKind::StorageFull);
        assert!(io_error("writing", &full).is_retryable());
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(io_error("writing", &denied).kind(), crate::ErrorKind::Fatal);
    }

    #[test]
    fn atomic_write_replaces_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.json");
        write_atomic(&path, b"one").expect("first write");
        write_atomic(&path, b"two").expect("second write");
        assert_eq!(read_if_exists(&path).expect("read"), Some(b"two".to_vec()));
        assert!(!dir.path().join("x.json.tmp").exists());
        assert_eq!(
            read_if_exists(&dir.path().join("nope")).expect("read"),
            None
        );
    }
}
