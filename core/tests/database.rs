//! One metadata-store suite, run on SQLite and on PostgreSQL.

use tributary_core::testkit::{scratch_postgres, scratch_sqlite};
use tributary_core::{Database, DatabaseBackend, MigrationState};

macro_rules! database_suite {
    ($backend:ident, $fresh:path $(, #[$meta:meta])*) => {
        mod $backend {
            use super::*;

            $(#[$meta])*
            #[tokio::test]
            async fn migrations_apply_once_and_report_current() {
                let scratch = $fresh().await;
                cases::migrations_apply_once_and_report_current(scratch.db.clone()).await;
            }

            $(#[$meta])*
            #[tokio::test]
            async fn queries_are_portable() {
                let scratch = $fresh().await;
                cases::queries_are_portable(scratch.db.clone()).await;
            }

            $(#[$meta])*
            #[tokio::test]
            async fn a_write_transaction_that_reads_first_is_not_refused() {
                let scratch = $fresh().await;
                cases::a_write_transaction_that_reads_first_is_not_refused(scratch.db.clone())
                    .await;
            }

            $(#[$meta])*
            #[tokio::test]
            async fn concurrent_migrations_are_safe() {
                let scratch = $fresh().await;
                cases::concurrent_migrations_are_safe(scratch.db.clone()).await;
            }
        }
    };
}

database_suite!(sqlite, scratch_sqlite);
database_suite!(
    postgres,
    scratch_postgres,
    #[ignore = "needs PostgreSQL: set TRIBUTARY_TEST_DATABASE_URL (scripts/test-full does)"]
);

mod cases {
    use super::*;

    pub(super) async fn migrations_apply_once_and_report_current(db: Database) {
        let before = db.migration_report().await.unwrap();
        assert!(!before.is_current());
        assert!(
            before
                .migrations
                .iter()
                .all(|(_, _, s)| *s == MigrationState::Pending),
            "{before}"
        );

        let after = db.migrate().await.unwrap();
        assert!(after.is_current(), "{after}");
        assert_eq!(after.migrations.len(), before.migrations.len());
        let again = db.migrate().await.unwrap();
        assert_eq!(again, after, "migrating twice changes nothing");
        db.ping().await.unwrap();
    }

    /// The same SQL text (with `$n` placeholders) runs on both backends.
    pub(super) async fn queries_are_portable(db: Database) {
        db.migrate().await.unwrap();
        for i in 0..3i64 {
            sqlx::query(
                "INSERT INTO audit_log (at_ms, actor, action, target_kind, target, before_json, after_json) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(1_700_000_000_000 + i)
            .bind("team-a")
            .bind("update")
            .bind("event_type")
            .bind("orders.order_placed")
            .bind(None::<String>)
            .bind(Some(format!("{{\"v\":{i}}}")))
            .execute(db.pool())
            .await
            .unwrap();
        }
        let rows: Vec<(i64, String, Option<String>)> = sqlx::query_as(
            "SELECT at_ms, actor, after_json FROM audit_log WHERE target = $1 AND at_ms >= $2 ORDER BY at_ms DESC",
        )
        .bind("orders.order_placed")
        .bind(1_700_000_000_001i64)
        .fetch_all(db.pool())
        .await
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0],
            (
                1_700_000_000_002,
                String::from("team-a"),
                Some(String::from("{\"v\":2}"))
            )
        );
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO audit_log (at_ms, actor, action, target_kind, target) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(1i64)
        .bind("x")
        .bind("y")
        .bind("z")
        .bind("w")
        .fetch_one(db.pool())
        .await
        .unwrap();
        assert_eq!(id, 4, "ids count up from 1 on both backends");
    }

    /// Another connection writes between a transaction's read and its write (the catalog's
    /// sample flush did this beside the quality history's). On SQLite a deferred transaction
    /// failed its write with "database is locked"; `begin_write` makes the other writer wait.
    pub(super) async fn a_write_transaction_that_reads_first_is_not_refused(db: Database) {
        sqlx::query("CREATE TABLE write_turns (n BIGINT NOT NULL)")
            .execute(db.pool())
            .await
            .unwrap();
        let mut tx = db.begin_write().await.unwrap();
        let (before,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM write_turns")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        let other = tokio::spawn({
            let db = db.clone();
            async move {
                sqlx::query("INSERT INTO write_turns (n) VALUES (2)")
                    .execute(db.pool())
                    .await
            }
        });
        // Time for the other write to commit first, where nothing makes it wait.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        sqlx::query("INSERT INTO write_turns (n) VALUES ($1)")
            .bind(before + 1)
            .execute(&mut *tx)
            .await
            .expect("the transaction's own write goes through");
        tx.commit().await.unwrap();
        other
            .await
            .unwrap()
            .expect("the other write went through too");
        let rows: Vec<(i64,)> = sqlx::query_as("SELECT n FROM write_turns ORDER BY n")
            .fetch_all(db.pool())
            .await
            .unwrap();
        assert_eq!(rows, [(1,), (2,)]);
    }

    pub(super) async fn concurrent_migrations_are_safe(db: Database) {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move { db.migrate().await })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap().unwrap().is_current());
        }
        let backend = db.backend();
        assert!(matches!(
            backend,
            DatabaseBackend::Sqlite | DatabaseBackend::Postgres
        ));
    }
}
