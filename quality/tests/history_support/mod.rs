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

/// The event-type service over a fresh embedded event log (kept open while the directory
/// lives), with `orders.placed` (and `more`) created, owned by `orders`.
#[allow(dead_code)] // not every suite has event types
pub(crate) async fn event_types_with(
    db: &Database,
    more: &[&str],
) -> (tributary_registry::EventTypes, tempfile::TempDir) {
    use std::sync::Arc;

    use tributary_eventlog::{EmbeddedLog, EmbeddedOptions, EventLog};
    use tributary_registry::{EventTypeSettings, EventTypes, NewEventType, Registry};

    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(EmbeddedOptions::new(dir.path().join("log")))
        .await
        .unwrap();
    let log: Arc<dyn EventLog> = Arc::new(log);
    let event_types = EventTypes::new(
        db.clone(),
        Registry::new(db.clone()),
        log,
        EventTypeSettings {
            topic_prefix: String::new(),
            default_partitions: 1,
            default_retention: Some(Duration::from_secs(86_400)),
        },
    );
    for name in std::iter::once(&"orders.placed").chain(more) {
        event_types
            .create(
                &tributary_core::Principal::local_admin(),
                NewEventType {
                    name: (*name).to_owned(),
                    owner: String::from("orders"),
                    ..NewEventType::default()
                },
            )
            .await
            .unwrap();
    }
    (event_types, dir)
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
