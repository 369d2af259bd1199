//! Scratch metadata databases for test suites (feature `testkit`): an empty SQLite file in a
//! temporary directory, or a new database on the PostgreSQL server named by
//! `TRIBUTARY_TEST_DATABASE_URL` (which `scripts/test-full` starts and sets).

use std::time::Duration;

use crate::Database;

const TIMEOUT: Duration = Duration::from_secs(10);

/// The variable naming the PostgreSQL server test suites create their databases on.
pub const TEST_DATABASE_URL: &str = "TRIBUTARY_TEST_DATABASE_URL";

/// An empty, unmigrated database of its own; the SQLite file lives as long as this value.
#[derive(Debug)]
pub struct ScratchDatabase {
    pub db: Database,
    /// For opening further, independent pools on the same database.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

/// A new SQLite file in a temporary directory.
pub async fn scratch_sqlite() -> ScratchDatabase {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("meta.db").display());
    let db = Database::connect(&url, TIMEOUT)
        .await
        .expect("open the SQLite file");
    ScratchDatabase {
        db,
        url,
        _dir: Some(dir),
    }
}

/// A new database on the server of `TRIBUTARY_TEST_DATABASE_URL`; panics with a clear
/// message when the variable is not set.
pub async fn scratch_postgres() -> ScratchDatabase {
    let admin_url = std::env::var(TEST_DATABASE_URL).unwrap_or_else(|_| {
        panic!("{TEST_DATABASE_URL} is not set: run scripts/test-full, which starts PostgreSQL")
    });
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let url = Database::create_postgres_database(&admin_url, &name, TIMEOUT)
        .await
        .expect("create a scratch database");
    let db = Database::connect(&url, TIMEOUT)
        .await
        .expect("open the scratch database");
    ScratchDatabase {
        db,
        url,
        _dir: None,
    }
}
