//! rdkafka's in-process MockCluster behind the [`EventLog`] trait, for fault tests of this
//! crate and of the crates above it (feature `conformance`).
//!
//! MockCluster implements Produce, Fetch, ListOffsets, Metadata, consumer groups and offset
//! commits, but no admin APIs (CreateTopics, DeleteTopics, DescribeConfigs): topics are created
//! through the mock's own API. Its ListOffsets does not answer by timestamp, so every
//! `offset_for_time` here goes through the verification fallback.

use std::sync::mpsc;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::mocking::MockCluster;
use tokio::sync::oneshot;

use crate::{
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

/// The Kafka backend on a one-broker MockCluster, with topics created through the mock
/// (which has no CreateTopics) and the broker's faults under the test's control.
#[derive(Debug)]
pub struct MockKafka {
    inner: KafkaLog,
    mock: Mock,
}

impl MockKafka {
    /// Starts a MockCluster and connects a [`KafkaLog`] to it; `configure` adjusts the
    /// options (timeouts, in-flight limits) before connecting.
    pub async fn start(configure: impl FnOnce(&mut KafkaOptions)) -> MockKafka {
        let mock = Mock::start();
        let mut options = KafkaOptions::new(mock.bootstrap.clone());
        configure(&mut options);
        let inner = KafkaLog::connect(options)
            .await
            .expect("connect to the mock");
        MockKafka { inner, mock }
    }

    /// Takes the broker down: requests fail or wait until [`MockKafka::broker_up`].
    pub async fn broker_down(&self) {
        self.mock.ask(Command::Down).await;
    }

    pub async fn broker_up(&self) {
        self.mock.ask(Command::Up).await;
    }

    /// Delays every broker answer by `delay`.
    pub async fn round_trip(&self, delay: Duration) {
        self.mock.ask(|done| Command::RoundTrip(delay, done)).await;
    }
}

#[async_trait]
impl EventLog for MockKafka {
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
