//! The Kafka backend against librdkafka's in-process MockCluster: the broker-fault cases, and
//! the conformance cases the mock can serve.
//!
//! MockCluster implements Produce, Fetch, ListOffsets, Metadata, consumer groups and offset
//! commits, but no admin APIs (CreateTopics, DeleteTopics, DescribeConfigs). So topics are
//! created through the mock's own API (the subject's `create_topic` does that), and the cases
//! that need DeleteTopics or DescribeConfigs — `topics_lifecycle` and `retention` — do not run
//! here; they run against Tansu in `kafka_tansu.rs`. Its ListOffsets does not answer by
//! timestamp, so every `offset_for_time` here goes through the verification fallback.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::mocking::MockCluster;
use tokio::sync::oneshot;
use tributary_eventlog::conformance::{FaultSubject, Subject};
use tributary_eventlog::{
    AppendResult, EventLog, GroupConsumer, KafkaLog, KafkaOptions, LogError, Record, StoredRecord,
    TopicDescription, TopicSpec, Watermarks,
};

/// The broker every test talks to. MockCluster is not `Send`, so it lives on its own thread
/// and takes commands.
enum Command {
    Down(oneshot::Sender<()>),
    Up(oneshot::Sender<()>),
    CreateTopic(String, i32, oneshot::Sender<Result<(), String>>),
    RoundTrip(Duration, oneshot::Sender<()>),
}

#[derive(Debug)]
struct Mock {
    commands: mpsc::Sender<Command>,
    bootstrap: String,
}

/// The mock's only broker.
const BROKER: i32 = 1;

impl Mock {
    fn start() -> Mock {
        let (commands, inbox) = mpsc::channel::<Command>();
        let (ready, bootstrap) = mpsc::channel();
        std::thread::spawn(move || {
            let cluster = MockCluster::new(1).expect("start MockCluster");
            ready.send(cluster.bootstrap_servers()).unwrap();
            // Runs until the test drops its `Mock`.
            for command in inbox {
                match command {
                    Command::Down(done) => {
                        cluster.broker_down(BROKER).expect("broker down");
                        let _ = done.send(());
                    }
                    Command::Up(done) => {
                        cluster.broker_up(BROKER).expect("broker up");
                        let _ = done.send(());
                    }
                    Command::RoundTrip(delay, done) => {
                        cluster
                            .broker_round_trip_time(BROKER, delay)
                            .expect("round-trip delay");
                        let _ = done.send(());
                    }
                    Command::CreateTopic(name, partitions, done) => {
                        let created = cluster
                            .create_topic(&name, partitions, 1)
                            .map_err(|e| e.to_string());
                        let _ = done.send(created);
                    }
                }
            }
        });
        Mock {
            commands,
            bootstrap: bootstrap.recv().expect("mock cluster address"),
        }
    }

    async fn ask<T>(&self, command: impl FnOnce(oneshot::Sender<T>) -> Command) -> T {
        let (tx, rx) = oneshot::channel();
        self.commands.send(command(tx)).expect("mock thread alive");
        rx.await.expect("mock thread answered")
    }
}

/// The Kafka log, with topics created through the mock (which has no CreateTopics).
#[derive(Debug)]
struct MockLog {
    inner: KafkaLog,
    mock: Mock,
}

#[async_trait]
impl EventLog for MockLog {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn create_topic(&self, spec: &TopicSpec) -> Result<(), LogError> {
        spec.validate()?;
        if self.inner.read(&spec.name, 0, 0, 0).await.is_ok() {
            return Err(LogError::TopicExists(spec.name.clone()));
        }
        let name = spec.name.clone();
        let partitions = spec.partitions as i32;
        self.mock
            .ask(|done| Command::CreateTopic(name, partitions, done))
            .await
            .map_err(LogError::Fatal)?;
        // Wait until metadata shows every partition.
        let last = spec.partitions - 1;
        for _ in 0..100 {
            if self.inner.read(&spec.name, last, 0, 0).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(LogError::Timeout(format!("{} never appeared", spec.name)))
    }

    async fn delete_topic(&self, topic: &str) -> Result<(), LogError> {
        self.inner.delete_topic(topic).await
    }

    async fn list_topics(&self) -> Result<Vec<TopicDescription>, LogError> {
        self.inner.list_topics().await
    }

    async fn describe_topic(&self, topic: &str) -> Result<TopicDescription, LogError> {
        self.inner.describe_topic(topic).await
    }

    async fn append(
        &self,
        topic: &str,
        records: Vec<Record>,
    ) -> Result<Vec<AppendResult>, LogError> {
        self.inner.append(topic, records).await
    }

    async fn read(
        &self,
        topic: &str,
        partition: u32,
        offset: i64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>, LogError> {
        self.inner.read(topic, partition, offset, max_records).await
    }

    async fn offset_for_time(
        &self,
        topic: &str,
        partition: u32,
        timestamp_ms: i64,
    ) -> Result<i64, LogError> {
        self.inner
            .offset_for_time(topic, partition, timestamp_ms)
            .await
    }

    async fn watermarks(&self, topic: &str, partition: u32) -> Result<Watermarks, LogError> {
        self.inner.watermarks(topic, partition).await
    }

    async fn subscribe(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<Box<dyn GroupConsumer>, LogError> {
        self.inner.subscribe(group, topics).await
    }

    async fn committed_offsets(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<Vec<(u32, Option<i64>)>, LogError> {
        self.inner.committed_offsets(group, topic).await
    }

    async fn check_health(&self) -> Result<(), LogError> {
        self.inner.check_health().await
    }

    async fn close(&self) -> Result<(), LogError> {
        self.inner.close().await
    }
}

/// How long an append may wait for a durable answer in these tests.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(3);

struct MockSubject {
    log: Arc<MockLog>,
}

#[async_trait]
impl Subject for MockSubject {
    fn log(&self) -> Arc<dyn EventLog> {
        self.log.clone()
    }
}

#[async_trait]
impl FaultSubject for MockSubject {
    async fn broker_down(&self) {
        self.log.mock.ask(Command::Down).await;
    }

    async fn broker_up(&self) {
        self.log.mock.ask(Command::Up).await;
    }

    fn append_timeout(&self) -> Duration {
        MESSAGE_TIMEOUT
    }
}

async fn mock() -> MockSubject {
    let mock = Mock::start();
    let mut options = KafkaOptions::new(mock.bootstrap.clone());
    options.message_timeout = MESSAGE_TIMEOUT;
    options.request_timeout = Duration::from_secs(5);
    options.session_timeout = Duration::from_millis(6_000);
    let inner = KafkaLog::connect(options)
        .await
        .expect("connect to the mock");
    MockSubject {
        log: Arc::new(MockLog { inner, mock }),
    }
}

tributary_eventlog::fault_suite!(setup: mock());

// Every conformance case except `topics_lifecycle` and `retention`, which need DeleteTopics
// and DescribeConfigs (MockCluster has neither).
tributary_eventlog::conformance_suite!(@cases [] mock();
    invalid_topics_are_rejected,
    keyed_records_keep_partition_order,
    offsets_are_contiguous_from_zero,
    records_round_trip_exactly,
    reads_start_mid_batch_and_respect_bounds,
    unknown_topic_and_partition_are_rejected,
    read_by_time_has_exact_boundaries,
    read_by_time_on_an_empty_partition,
    consumer_group_resumes_without_redelivery,
    batch_of_ten_thousand,
    concurrent_appends_keep_offsets_unique,
);

/// With at most 10 records in flight and a broker that takes 100 ms per request, 100 records
/// need at least 10 round trips: the append waits for durable answers instead of queueing
/// everything at once. Every record still ends up durable, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_broker_back_pressures_appends() {
    let mock = Mock::start();
    let mut options = KafkaOptions::new(mock.bootstrap.clone());
    options.max_in_flight_records = 10;
    options.message_timeout = Duration::from_secs(30);
    let inner = KafkaLog::connect(options)
        .await
        .expect("connect to the mock");
    let log = MockLog { inner, mock };
    let topic = tributary_eventlog::conformance::unique_topic("back-pressure");
    log.create_topic(&TopicSpec::new(&topic, 1)).await.unwrap();
    log.mock
        .ask(|done| Command::RoundTrip(Duration::from_millis(100), done))
        .await;

    let started = std::time::Instant::now();
    let records = (0..100)
        .map(|i| Record::new(format!("r{i}"), 1_700_000_000_000))
        .collect();
    let results = log.append(&topic, records).await.unwrap();
    let took = started.elapsed();
    let offsets: Vec<i64> = results.iter().map(|r| r.as_ref().unwrap().offset).collect();
    assert_eq!(offsets, (0..100).collect::<Vec<_>>());
    assert!(
        took >= Duration::from_millis(900),
        "100 records with 10 in flight at 100 ms per round trip took only {took:?}"
    );
}
