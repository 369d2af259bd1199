//! Durability under broker faults: the gateway on the Kafka backend against librdkafka's
//! in-process MockCluster, with the broker going down mid-load. Every event acknowledged with
//! a 2xx is in the log exactly once, at the position the answer gave; a 503 lists only events
//! that are durably in the log.
//!
//! The mock comes from `tributary_eventlog::mock_kafka` (topics are created through it:
//! MockCluster has no CreateTopics).

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::{Harness, ORDER_SCHEMA, StaticTypes, read_partitions, register};
use serde_json::Value;
use tributary_eventlog::mock_kafka::MockKafka;
use tributary_eventlog::{EventLog, TopicSpec};
use tributary_gateway::{Enforcement, GatewayLimits, GatewayOptions};
use tributary_registry::{SchemaType, split_confluent_frame};

const TYPE: &str = "orders.order_placed";
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_mid_load_acknowledges_only_what_is_stored() {
    let log = Arc::new(
        MockKafka::start(|options| {
            options.message_timeout = MESSAGE_TIMEOUT;
            options.request_timeout = Duration::from_secs(5);
        })
        .await,
    );
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
    log.broker_down().await;
    tokio::time::sleep(MESSAGE_TIMEOUT * 2).await;
    log.broker_up().await;
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
