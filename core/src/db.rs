//! The metadata database handle: SQLite by default, PostgreSQL for several instances.
//!
//! Every crate queries through one [`sqlx::AnyPool`], so queries are written once in the SQL
//! both databases understand (`$1` placeholders, `INSERT … ON CONFLICT`, `RETURNING`, times as
//! integer milliseconds). Schema differences live only in the migrations.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Once;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::{AnyPool, Connection};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

/// Which database the handle talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseBackend {
    Sqlite,
    Postgres,
}

impl DatabaseBackend {
    /// The backend a URL names, by its scheme.
    pub fn from_url(url: &str) -> Option<Self> {
        let scheme = url.split_once(':')?.0;
        match scheme {
            "sqlite" => Some(DatabaseBackend::Sqlite),
            "postgres" | "postgresql" => Some(DatabaseBackend::Postgres),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DatabaseBackend::Sqlite => "sqlite",
            DatabaseBackend::Postgres => "postgres",
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            DatabaseBackend::Sqlite => &SQLITE_MIGRATIONS,
            DatabaseBackend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

/// Errors opening or migrating the metadata database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database url {0:?}: use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    #[error("cannot connect: {source}")]
    Connect { source: sqlx::Error },
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
}

/// Where one migration stands in a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationState {
    Applied,
    Pending,
    /// Applied, but the file shipped in this binary differs from what was applied.
    ChecksumMismatch,
    /// Applied by a newer binary: this binary does not know it.
    Unknown,
}

/// The state of every migration, by version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    pub migrations: Vec<(i64, String, MigrationState)>,
}

impl MigrationReport {
    /// True when every migration this binary ships is applied unchanged and none is unknown.
    pub fn is_current(&self) -> bool {
        self.migrations
            .iter()
            .all(|(_, _, state)| *state == MigrationState::Applied)
    }
}

impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (version, description, state) in &self.migrations {
            let state = match state {
                MigrationState::Applied => "applied",
                MigrationState::Pending => "pending",
                MigrationState::ChecksumMismatch => "CHANGED since it was applied",
                MigrationState::Unknown => "unknown to this binary (applied by a newer version)",
            };
            writeln!(f, "{version:>4}  {description:<32} {state}")?;
        }
        Ok(())
    }
}

/// A shared handle to the metadata database.
#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
    backend: DatabaseBackend,
}

impl Database {
    /// Opens a pool on `url`, waiting at most `timeout` for the first connection. SQLite files
    /// are created if missing and put in WAL mode.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, DbError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);

        let backend = DatabaseBackend::from_url(url)
            .ok_or_else(|| DbError::UnsupportedUrl(redact_url(url)))?;
        let options: AnyConnectOptions =
            url.parse().map_err(|source| DbError::Connect { source })?;
        let max_connections = match backend {
            DatabaseBackend::Sqlite => 4,
            DatabaseBackend::Postgres => 16,
        };
        let connect = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == DatabaseBackend::Sqlite {
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = FULL",
                            "PRAGMA busy_timeout = 5000",
                            "PRAGMA foreign_keys = ON",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options);
        let pool = match tokio_timeout(timeout, connect).await {
            Some(Ok(pool)) => pool,
            Some(Err(source)) => {
                return Err(DbError::Connect { source });
            }
            None => {
                return Err(DbError::Connect {
                    source: sqlx::Error::PoolTimedOut,
                });
            }
        };
        Ok(Database { pool, backend })
    }

    /// Creates database `name` on the PostgreSQL server `admin_url` points at and returns
    /// the URL of the new database (same server and credentials). For test suites and
    /// benchmarks that need a database of their own; `name` is `[a-z0-9_]`, at most 63 bytes.
    pub async fn create_postgres_database(
        admin_url: &str,
        name: &str,
        timeout: Duration,
    ) -> Result<String, DbError> {
        let valid = !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        let base = admin_url.rsplit_once('/').map(|(base, _)| base);
        let (true, Some(base), Some(DatabaseBackend::Postgres)) =
            (valid, base, DatabaseBackend::from_url(admin_url))
        else {
            return Err(DbError::UnsupportedUrl(format!(
                "{} (database {name:?})",
                redact_url(admin_url)
            )));
        };
        let admin = Database::connect(admin_url, timeout).await?;
        let created = sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(admin.pool())
            .await;
        admin.close().await;
        created?;
        Ok(format!("{base}/{name}"))
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a transaction that is going to write. Every write transaction starts here.
    ///
    /// On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`). A deferred transaction
    /// that reads first and writes later cannot upgrade its read snapshot once another
    /// connection has committed in between (WAL): SQLite then fails the write with "database
    /// is locked" at once, without waiting out `busy_timeout`. An immediate transaction
    /// waits its turn instead. On PostgreSQL this is a plain `BEGIN`.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            DatabaseBackend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            DatabaseBackend::Postgres => self.pool.begin().await,
        }
    }

    pub fn backend(&self) -> DatabaseBackend {
        self.backend
    }

    /// Applies every pending migration. Safe to run from several instances at once: the
    /// migrator takes an advisory lock on PostgreSQL; SQLite has no such lock, so callers in
    /// one process are serialised, and a migration that lost a race with another process is
    /// accepted once the database shows it applied.
    pub async fn migrate(&self) -> Result<MigrationReport, DbError> {
        static IN_PROCESS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _guard = IN_PROCESS.lock().await;
        if let Err(err) = self.backend.migrator().run(&self.pool).await {
            let report = self.migration_report().await?;
            if self.backend == DatabaseBackend::Sqlite && report.is_current() {
                return Ok(report);
            }
            return Err(err.into());
        }
        self.migration_report().await
    }

    /// Compares the migrations this binary ships with those applied, changing nothing.
    pub async fn migration_report(&self) -> Result<MigrationReport, DbError> {
        let mut conn = self.pool.acquire().await?;
        let applied = if self.migrations_table_exists(&mut conn).await? {
            conn.list_applied_migrations().await?
        } else {
            Vec::new()
        };
        let mut applied: BTreeMap<i64, _> = applied.into_iter().map(|m| (m.version, m)).collect();
        let mut migrations = Vec::new();
        for migration in self.backend.migrator().iter() {
            let state = match applied.remove(&migration.version) {
                None => MigrationState::Pending,
                Some(done) if done.checksum != migration.checksum => {
                    MigrationState::ChecksumMismatch
                }
                Some(_) => MigrationState::Applied,
            };
            migrations.push((migration.version, migration.description.to_string(), state));
        }
        for version in applied.into_keys() {
            migrations.push((version, String::from("?"), MigrationState::Unknown));
        }
        migrations.sort_by_key(|(version, _, _)| *version);
        Ok(MigrationReport { migrations })
    }

    async fn migrations_table_exists(
        &self,
        conn: &mut sqlx::AnyConnection,
    ) -> Result<bool, DbError> {
        let sql = match self.backend {
            DatabaseBackend::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            DatabaseBackend::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = '_sqlx_migrations' \
                 AND table_schema = current_schema()"
            }
        };
        let count: i64 = sqlx::query_scalar(sql).fetch_one(&mut *conn).await?;
        Ok(count > 0)
    }

    /// A round trip to the database, for `/readyz`.
    pub async fn ping(&self) -> Result<(), DbError> {
        let mut conn = self.pool.acquire().await?;
        conn.ping().await?;
        Ok(())
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

async fn tokio_timeout<F: std::future::Future>(limit: Duration, fut: F) -> Option<F::Output> {
    // sqlx re-exports no timer; use tokio's through sqlx's runtime feature.
    tokio::time::timeout(limit, fut).await.ok()
}

/// The URL with its password hidden, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact_url("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(redact_url("sqlite://data/t.db"), "sqlite://data/t.db");
    }

    #[test]
    fn backends_by_scheme() {
        assert_eq!(
            DatabaseBackend::from_url("sqlite://x.db"),
            Some(DatabaseBackend::Sqlite)
        );
        assert_eq!(
            DatabaseBackend::from_url("postgresql://h/d"),
            Some(DatabaseBackend::Postgres)
        );
        assert_eq!(DatabaseBackend::from_url("mysql://h/d"), None);
        assert_eq!(DatabaseBackend::from_url("nonsense"), None);
    }
}
