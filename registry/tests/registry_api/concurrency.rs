//! Several independent instances (separate pools on one database) registering overlapping
//! schemas under overlapping subjects at the same time.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;
use tributary_registry::{NewSchema, RegisterOptions, Registry, SchemaType};

use crate::harness::{Fresh, record};

const INSTANCES: usize = 4;
const SUBJECTS: usize = 3;
const SCHEMAS: usize = 6;

pub(crate) async fn instances_register_concurrently(fresh: Fresh) {
    let api = fresh.api();
    api.put("/config", json!({ "compatibility": "NONE" }))
        .await
        .ok();
    let schemas: Vec<NewSchema> = (0..SCHEMAS)
        .map(|i| NewSchema {
            schema_type: SchemaType::Avro,
            schema: record(&format!("S{i}"), json!([{ "name": "f", "type": "int" }])).to_string(),
            references: Vec::new(),
        })
        .collect();

    let mut tasks = Vec::new();
    for instance in 0..INSTANCES {
        let registry = Registry::new(fresh.connect().await);
        let schemas = schemas.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            // Every instance registers every pair, each in its own order.
            for step in 0..SUBJECTS * SCHEMAS {
                let pair = (step * (instance + 1) * 5 + instance) % (SUBJECTS * SCHEMAS);
                let (subject, schema) = (pair / SCHEMAS, pair % SCHEMAS);
                let subject = format!("subject-{subject}");
                let id = registry
                    .register(&subject, &schemas[schema], RegisterOptions::default())
                    .await
                    .unwrap_or_else(|e| panic!("instance {instance}: {e}"));
                got.push((subject, schema, id));
            }
            got
        }));
    }
    let mut id_of_schema: BTreeMap<usize, u32> = BTreeMap::new();
    for task in tasks {
        for (subject, schema, id) in task.await.unwrap() {
            let known = *id_of_schema.entry(schema).or_insert(id);
            assert_eq!(known, id, "schema {schema} got two ids ({subject})");
        }
    }
    let distinct: BTreeSet<u32> = id_of_schema.values().copied().collect();
    assert_eq!(
        distinct.len(),
        SCHEMAS,
        "no id shared by different schemas: {id_of_schema:?}"
    );
    assert_eq!(
        distinct,
        (1..=SCHEMAS as u32).collect(),
        "ids handed out without gaps"
    );

    for subject in 0..SUBJECTS {
        let subject = format!("subject-{subject}");
        let versions = api.get(&format!("/subjects/{subject}/versions")).await;
        let expected: Vec<i32> = (1..=SCHEMAS as i32).collect();
        assert_eq!(
            versions.ok(),
            &json!(expected),
            "{subject}: contiguous, one per schema"
        );
        let mut ids = BTreeSet::new();
        for version in 1..=SCHEMAS {
            let answer = api
                .get(&format!("/subjects/{subject}/versions/{version}"))
                .await;
            ids.insert(answer.ok()["id"].as_u64().unwrap() as u32);
        }
        assert_eq!(ids, distinct, "{subject} holds each schema once");
    }
}
