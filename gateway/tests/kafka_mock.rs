//! Durability under broker faults: the gateway on the Kafka backend against librdkafka's
//! in-process MockCluster, with the broker going down mid-load. Every event acknowledged with
//! a 2xx is in the log exactly once, at the position the answer gave; a 503 lists only events
//! that are durably in the log.
//!
//! MockCluster has no CreateTopics, so topics are created through the mock (as in
//! `eventlog/tests/kafka_mock.rs`).

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use async_trait::async_trait;
use common::{Harness, ORDER_SCHEMA, StaticTypes, read_partitions, register};
use rdkafka::mocking::MockCluster;
use serde_json::Value;
use tokio::sync::oneshot;
use tributary_eventlog::{
    AppendResult, EventLog, GroupConsumer, KafkaLog, KafkaOptions, LogError, Record, StoredRecord,
    TopicDescription, TopicSpec, Watermarks,
};
use tributary_gateway::{Enforcement, GatewayLimits, GatewayOptions};
use tributary_registry::{SchemaType, split_confluent_frame};

const TYPE: &str = "orders.order_placed";
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(3);
const BROKER: i32 = 1;

enum Command {
    Down(oneshot::Sender<()>),
    Up(oneshot::Sender<()>),
    CreateTopic(String, i32, oneshot::Sender<Result<(), String>>),
}

/// The mock broker; MockCluster is not `Send`, so it lives on its own thread.
#[derive(Debug)]
struct Mock {
    commands: mpsc::Sender<Command>,
    bootstrap: String,
}

impl Mock {
    fn start() -> Mock {
        let (commands, inbox) = mpsc::channel::<Command>();
        let (ready, bootstrap) = mpsc::channel();
        std::thread::spawn(move || {
            let cluster = MockCluster::new(1).expect("start MockCluster");
            ready.send(cluster.bootstrap_servers()).unwrap();
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
                    Command::CreateTopic(name, partitions, done) => {
                        let _ = done.send(
                            cluster
                                .create_topic(&name, partitions, 1)
                                .map_err(|e| e.to_string()),
                        );
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

/// The Kafka log with topics created through the mock.
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
        let (name, partitions) = (spec.name.clone(), spec.partitions as i32);
        self.mock
            .ask(|done| Command::CreateTopic(name, partitions, done))
            .await
            .map_err(LogError::Fatal)?;
        for _ in 0..100 {
            if self
                .inner
                .read(&spec.name, spec.partitions - 1, 0, 0)
                .await
                .is_ok()
            {
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
        max: usize,
    ) -> Result<Vec<StoredRecord>, LogError> {
        self.inner.read(topic, partition, offset, max).await
    }
    async fn offset_for_time(&self, topic: &str, partition: u32, ts: i64) -> Result<i64, LogError> {
        self.inner.offset_for_time(topic, partition, ts).await
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_mid_load_acknowledges_only_what_is_stored() {
    let mock = Mock::start();
    let mut options = KafkaOptions::new(mock.bootstrap.clone());
    options.message_timeout = MESSAGE_TIMEOUT;
    options.request_timeout = Duration::from_secs(5);
    let inner = KafkaLog::connect(options)
        .await
        .expect("connect to the mock");
    let log = Arc::new(MockLog { inner, mock });
    log.create_topic(&TopicSpec::new(TYPE, 2)).await.unwrap();
    log.create_topic(&TopicSpec::new("tributary.dlq", 1))
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let registry = common::registry_in(dir.path()).await;
    register(
        &registry,
        "orders.order_placed-value",
        SchemaType::Json,
        ORDER_SCHEMA,
    )
    .await;
    let types = StaticTypes::default().with(TYPE, Enforcement::Enforce, None);
    let dyn_log: Arc<dyn EventLog> = log.clone();
    let options = GatewayOptions {
        limits: GatewayLimits {
            request_timeout: Duration::from_secs(20),
            ..GatewayLimits::default()
        },
        ..GatewayOptions::default()
    };
    let h =
        Arc::new(Harness::build(dyn_log.clone(), registry, Arc::new(types), options, None).await);

    let load = {
        let h = Arc::clone(&h);
        tokio::spawn(async move {
            let mut replies = Vec::new();
            for request in 0..40 {
                let mut events: Vec<Value> = (0..50)
                    .map(|i| serde_json::json!({"order_id": format!("r{request}-e{i}"), "amount": i}))
                    .collect();
                events.push(serde_json::json!({"order_id": format!("r{request}-bad")}));
                let reply = h
                    .json(
                        &format!("/v1/events/{TYPE}"),
                        &Value::from(events).to_string(),
                    )
                    .await;
                replies.push((request, reply));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            replies
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    log.mock.ask(Command::Down).await;
    tokio::time::sleep(MESSAGE_TIMEOUT * 2).await;
    log.mock.ask(Command::Up).await;
    let replies = load.await.unwrap();

    // What the log holds, by order id.
    let mut stored: HashMap<String, Vec<(u32, i64)>> = HashMap::new();
    for (partition, record) in read_partitions(dyn_log.as_ref(), TYPE, 2).await {
        let (_, payload) = split_confluent_frame(&record.value).unwrap();
        let value: Value = serde_json::from_slice(payload).unwrap();
        stored
            .entry(value["order_id"].as_str().unwrap().to_owned())
            .or_default()
            .push((partition, record.offset));
    }

    let (mut ok, mut unavailable) = (0, 0);
    for (request, reply) in &replies {
        let acknowledged: Vec<&Value> = match reply.status.as_u16() {
            200 | 207 => {
                ok += 1;
                assert_eq!(reply.status, 207, "the bad event is rejected: {reply:?}");
                let results = reply.body["results"].as_array().unwrap();
                assert_eq!(results[50]["status"], "rejected");
                results
                    .iter()
                    .filter(|r| r["status"] == "accepted")
                    .collect()
            }
            503 => {
                unavailable += 1;
                assert_eq!(reply.problem_code(), "unavailable");
                assert!(reply.body.get("results").is_none());
                reply.body["written"].as_array().unwrap().iter().collect()
            }
            other => panic!("request {request}: unexpected {other}: {reply:?}"),
        };
        if reply.status != 503 {
            assert_eq!(acknowledged.len(), 50, "request {request}: {reply:?}");
        }
        for r in acknowledged {
            let index = r["index"].as_u64().unwrap();
            let id = format!("r{request}-e{index}");
            let position = (
                r["partition"].as_u64().unwrap() as u32,
                r["offset"].as_i64().unwrap(),
            );
            assert_eq!(
                stored.get(&id).map(Vec::as_slice),
                Some(&[position][..]),
                "acknowledged {id} must be stored exactly once, at {position:?}"
            );
        }
    }
    assert!(ok > 0, "requests before the outage were acknowledged");
    assert!(unavailable > 0, "requests during the outage got 503");
}
