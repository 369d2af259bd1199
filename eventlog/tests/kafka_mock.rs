//! The Kafka backend against librdkafka's in-process MockCluster: the broker-fault cases, and
//! the conformance cases the mock can serve.
//!
//! MockCluster implements Produce, Fetch, ListOffsets, Metadata, consumer groups and offset
//! commits, but no admin APIs (CreateTopics, DeleteTopics, DescribeConfigs). So topics are
//! created through the mock's own API (the subject's `create_topic` does that), and the cases
//! that need DeleteTopics or DescribeConfigs — `topics_lifecycle` and `retention` — do not run
//! here; they run against Tansu in `kafka_tansu.rs`. Its ListOffsets does not answer by
//! timestamp, so every `offset_for_time` here goes through the verification fallback.
//!
//! Every case runs twice: with librdkafka's producer appending (module `librdkafka`) and with
//! Tributary's own (module `native`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tributary_eventlog::conformance::{FaultSubject, Subject};
use tributary_eventlog::mock_kafka::MockKafka;
use tributary_eventlog::{EventLog, ProducerKind, Record, TopicSpec};

/// How long an append may wait for a durable answer in these tests.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(3);

struct MockSubject {
    log: Arc<MockKafka>,
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
        self.log.broker_down().await;
    }

    async fn broker_up(&self) {
        self.log.broker_up().await;
    }

    fn append_timeout(&self) -> Duration {
        MESSAGE_TIMEOUT
    }
}

async fn mock(producer: ProducerKind) -> MockSubject {
    let log = MockKafka::start(|options| {
        options.producer = producer;
        options.message_timeout = MESSAGE_TIMEOUT;
        options.request_timeout = Duration::from_secs(5);
        options.session_timeout = Duration::from_millis(6_000);
    })
    .await;
    MockSubject { log: Arc::new(log) }
}

/// With at most 10 records in flight and a broker that takes 100 ms per request, 100 records
/// need at least 10 round trips: the append waits for durable answers instead of queueing
/// everything at once. Every record still ends up durable, in order.
async fn slow_broker_back_pressures_appends(producer: ProducerKind) {
    let log = MockKafka::start(|options| {
        options.producer = producer;
        options.max_in_flight_records = 10;
        options.message_timeout = Duration::from_secs(30);
    })
    .await;
    let topic = tributary_eventlog::conformance::unique_topic("back-pressure");
    log.create_topic(&TopicSpec::new(&topic, 1)).await.unwrap();
    log.round_trip(Duration::from_millis(100)).await;

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

/// Every case, as tests of one producer.
macro_rules! mock_suite {
    ($producer:expr) => {
        tributary_eventlog::fault_suite!(setup: mock($producer));

        // Every conformance case except `topics_lifecycle` and `retention`, which need
        // DeleteTopics and DescribeConfigs (MockCluster has neither).
        tributary_eventlog::conformance_suite!(@cases [] mock($producer);
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

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn slow_broker_back_pressures_appends() {
            super::slow_broker_back_pressures_appends($producer).await;
        }
    };
}

/// librdkafka's producer appending.
mod librdkafka {
    use super::*;
    mock_suite!(ProducerKind::Librdkafka);
}

/// Tributary's own producer appending.
mod native {
    use super::*;
    mock_suite!(ProducerKind::Native);
}
