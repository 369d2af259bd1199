//! The replay engine over both event logs: the embedded log always, the Kafka broker of
//! `TRIBUTARY_TEST_KAFKA` (Tansu on `sqlite://` in `scripts/test-full`) when it is set.
//!
//! Every case is an `async fn` over an `Arc<dyn EventLog>` in [`suite`]; [`replay_suite!`]
//! turns each into one test per backend.

mod suite;

use std::sync::Arc;
use std::time::Duration;

use tributary_eventlog::{EmbeddedLog, EmbeddedOptions, EventLog, KafkaLog, KafkaOptions};

/// A backend and whatever must outlive the case.
struct Backend {
    log: Arc<dyn EventLog>,
    _dir: Option<tempfile::TempDir>,
    _turn: Option<tokio::sync::MutexGuard<'static, ()>>,
}

async fn embedded() -> Backend {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(EmbeddedOptions::new(dir.path()))
        .await
        .expect("open embedded log");
    Backend {
        log: Arc::new(log),
        _dir: Some(dir),
        _turn: None,
    }
}

/// One case at a time against the shared broker: two cores, and Tansu's `sqlite://` engine
/// misbehaves under concurrent topic churn (see eventlog/tests/kafka_tansu.rs).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn kafka() -> Backend {
    let turn = ONE_AT_A_TIME.lock().await;
    let servers = std::env::var("TRIBUTARY_TEST_KAFKA").unwrap_or_else(|_| {
        panic!("TRIBUTARY_TEST_KAFKA is not set: point it at a Kafka broker (scripts/test-full)")
    });
    let mut options = KafkaOptions::new(servers);
    options.session_timeout = Duration::from_millis(6_000);
    let log = KafkaLog::connect(options)
        .await
        .expect("connect to the broker in TRIBUTARY_TEST_KAFKA");
    Backend {
        log: Arc::new(log),
        _dir: None,
        _turn: Some(turn),
    }
}

/// One test per case and backend.
macro_rules! replay_suite {
    ($($case:ident),* $(,)?) => {
        mod on_embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::embedded().await;
                    super::suite::$case(backend.log.clone()).await;
                }
            )*
        }
        mod on_kafka {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs Kafka: set TRIBUTARY_TEST_KAFKA (scripts/test-full does)"]
                async fn $case() {
                    let backend = super::kafka().await;
                    super::suite::$case(backend.log.clone()).await;
                }
            )*
        }
    };
}

replay_suite!(
    time_boundaries_are_exact,
    key_and_producer_filters,
    schema_version_and_predicate_filters,
    interrupted_job_resumes_exactly_once,
    partitions_are_replayed_side_by_side,
    a_failure_ends_a_paused_run,
    rate_limit_is_honoured,
    max_events_stops_the_job,
    dry_run_counts_what_a_run_emits,
    plan_upper_bound_is_fixed,
    plan_survives_a_lying_offset_for_time,
    pause_holds_the_job_between_batches,
    bad_requests_are_refused_up_front,
    empty_reads_lose_nothing,
);

/// Retention can be applied on demand only on the embedded log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_before_retention_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = EmbeddedOptions::new(dir.path()).with_segment_bytes(16 << 10);
    let log = Arc::new(EmbeddedLog::open(options).await.expect("open"));
    suite::retention_warnings(log.clone(), || {
        let log = log.clone();
        async move { log.enforce_retention().await.expect("enforce retention") }
    })
    .await;
}
