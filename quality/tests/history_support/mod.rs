//! A fresh, migrated metadata database per test (SQLite file or PostgreSQL database), shared
//! by the history and alert suites.

use std::time::Duration;

use tributary_core::Database;
use tributary_core::testkit::{ScratchDatabase, scratch_postgres, scratch_sqlite};

pub(crate) struct Fresh {
    pub(crate) db: Database,
    scratch: ScratchDatabase,
}

pub(crate) async fn fresh_sqlite() -> Fresh {
    migrated(scratch_sqlite().await).await
}

/// A new database on the server named by TRIBUTARY_TEST_DATABASE_URL.
pub(crate) async fn fresh_postgres() -> Fresh {
    migrated(scratch_postgres().await).await
}

async fn migrated(scratch: ScratchDatabase) -> Fresh {
    scratch.db.migrate().await.unwrap();
    Fresh {
        db: scratch.db.clone(),
        scratch,
    }
}

impl Fresh {
    /// A second, independent pool on the same database: another gateway instance.
    pub(crate) async fn other_instance(&self) -> Database {
        Database::connect(&self.scratch.url, Duration::from_secs(10))
            .await
            .unwrap()
    }
}

/// One test per case on SQLite (`mod sqlite`) and one on PostgreSQL (`mod postgres`,
/// ignored unless asked for); a case is an `async fn(Fresh)` at the crate root.
macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::$case($crate::history_support::fresh_sqlite().await).await;
                }
            )*
        }

        mod postgres {
            $(
                #[ignore = "needs PostgreSQL: set TRIBUTARY_TEST_DATABASE_URL (scripts/test-full does)"]
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::$case($crate::history_support::fresh_postgres().await).await;
                }
            )*
        }
    };
}

pub(crate) use suite;
