//! Shared set-up of the gateway tests: a real SQLite registry and an event log in temp dirs,
//! and requests sent in-process.

#![allow(dead_code, unreachable_pub)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use tributary_core::{Database, EventTypeName};
use tributary_eventlog::{
    EmbeddedLog, EmbeddedOptions, EventLog, LogError, Retention, StoredRecord, TopicSpec,
};
use tributary_gateway::{
    Enforcement, EventTypeInfo, EventTypes, Gateway, GatewayError, GatewayOptions,
};
use tributary_registry::{
    CompatibilityLevel, NewSchema, RegisterOptions, Registry, RegistryError, SchemaType,
};

pub const ORDER_SCHEMA: &str = r#"{
  "type": "object",
  "properties": {
    "order_id": {"type": "string"},
    "amount": {"type": "number", "minimum": 0},
    "user": {"type": "string"}
  },
  "required": ["order_id", "amount"]
}"#;

pub struct Harness {
    pub app: Router,
    pub gateway: Arc<Gateway>,
    pub log: Arc<dyn EventLog>,
    pub registry: Registry,
    _dir: Option<tempfile::TempDir>,
}

/// A SQLite registry in `dir`.
pub async fn registry_in(dir: &std::path::Path) -> Registry {
    let url = format!("sqlite://{}?mode=rwc", dir.join("meta.db").display());
    let db = Database::connect(&url, Duration::from_secs(10))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    Registry::new(db)
}

pub async fn register(
    registry: &Registry,
    subject: &str,
    schema_type: SchemaType,
    schema: &str,
) -> u32 {
    registry
        .register(
            subject,
            &NewSchema {
                schema_type,
                schema: schema.to_owned(),
                references: Vec::new(),
            },
            RegisterOptions::default(),
        )
        .await
        .unwrap()
}

pub async fn no_compatibility(registry: &Registry, subject: &str) {
    registry
        .set_compatibility(Some(subject), CompatibilityLevel::None)
        .await
        .unwrap();
}

/// Event types fixed by the test, for enforcement modes and keys the registry cannot express.
#[derive(Debug, Default)]
pub struct StaticTypes(pub HashMap<String, EventTypeInfo>);

impl StaticTypes {
    pub fn with(mut self, name: &str, enforcement: Enforcement, key: Option<&str>) -> Self {
        let parsed = EventTypeName::parse(name).unwrap();
        self.0.insert(
            name.to_owned(),
            EventTypeInfo {
                topic: parsed.topic(""),
                subject: parsed.subject(""),
                name: parsed,
                enforcement,
                partition_key: key.map(str::to_owned),
                max_event_bytes: None,
            },
        );
        self
    }
}

#[async_trait]
impl EventTypes for StaticTypes {
    async fn resolve(&self, name: &EventTypeName) -> Result<Option<EventTypeInfo>, GatewayError> {
        Ok(self.0.get(name.as_str()).cloned())
    }
}

impl Harness {
    /// Embedded log + SQLite registry; event types implied by registry subjects.
    pub async fn embedded(options: GatewayOptions) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry_in(dir.path()).await;
        let log: Arc<dyn EventLog> = Arc::new(
            EmbeddedLog::open(EmbeddedOptions::new(dir.path().join("log")))
                .await
                .unwrap(),
        );
        let types = Arc::new(RegistrySubjects::new(registry.clone(), log.clone(), "", 3));
        Harness::build(log, registry, types, options, Some(dir)).await
    }

    /// Embedded log + SQLite registry; event types from `types` (topics created here).
    pub async fn embedded_with(types: StaticTypes, options: GatewayOptions) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry_in(dir.path()).await;
        let log: Arc<dyn EventLog> = Arc::new(
            EmbeddedLog::open(EmbeddedOptions::new(dir.path().join("log")))
                .await
                .unwrap(),
        );
        for info in types.0.values() {
            log.create_topic(&TopicSpec::new(&info.topic, 3))
                .await
                .unwrap();
        }
        Harness::build(log, registry, Arc::new(types), options, Some(dir)).await
    }

    pub async fn build(
        log: Arc<dyn EventLog>,
        registry: Registry,
        types: Arc<dyn EventTypes>,
        options: GatewayOptions,
        dir: Option<tempfile::TempDir>,
    ) -> Harness {
        let gateway = Arc::new(
            Gateway::start(log.clone(), registry.clone(), types, options)
                .await
                .unwrap(),
        );
        Harness {
            app: tributary_gateway::router(gateway.clone()).into(),
            gateway,
            log,
            registry,
            _dir: dir,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    /// POSTs `body` to `path` with a content type and extra headers.
    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Reply {
        let mut request = Request::post(path).header("content-type", content_type);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(body.into()).unwrap()).await
    }

    pub async fn json(&self, path: &str, body: &str) -> Reply {
        self.post(path, "application/json", &[], body.to_owned())
            .await
    }

    /// Every record of every partition of `topic`.
    pub async fn read_all(&self, topic: &str) -> Vec<(u32, StoredRecord)> {
        read_all(self.log.as_ref(), topic).await
    }

    /// The record an `accepted` verdict points at.
    pub async fn record_of(&self, topic: &str, verdict: &Value) -> StoredRecord {
        let partition = u32::try_from(verdict["partition"].as_u64().unwrap()).unwrap();
        self.record_at(topic, partition, verdict["offset"].as_i64().unwrap())
            .await
    }

    pub async fn record_at(&self, topic: &str, partition: u32, offset: i64) -> StoredRecord {
        let mut records = self.log.read(topic, partition, offset, 1).await.unwrap();
        assert_eq!(records.len(), 1, "a record at {topic}/{partition}@{offset}");
        records.remove(0)
    }
}

pub async fn read_all(log: &dyn EventLog, topic: &str) -> Vec<(u32, StoredRecord)> {
    let partitions = match log.describe_topic(topic).await {
        Ok(description) => description.partitions,
        Err(tributary_eventlog::LogError::UnknownTopic(_)) => return Vec::new(),
        Err(e) => panic!("describe {topic}: {e}"),
    };
    read_partitions(log, topic, partitions).await
}

/// Every record of partitions `0..partitions` of `topic`.
pub async fn read_partitions(
    log: &dyn EventLog,
    topic: &str,
    partitions: u32,
) -> Vec<(u32, StoredRecord)> {
    let mut out = Vec::new();
    for partition in 0..partitions {
        let mut offset = log.watermarks(topic, partition).await.unwrap().low;
        loop {
            let batch = log.read(topic, partition, offset, 1000).await.unwrap();
            if batch.is_empty() {
                break;
            }
            offset = batch.last().unwrap().offset + 1;
            out.extend(batch.into_iter().map(|r| (partition, r)));
        }
    }
    out
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn problem_code(&self) -> &str {
        assert_eq!(
            self.headers.get("content-type").unwrap(),
            "application/problem+json",
            "{self:?}"
        );
        self.body["code"].as_str().unwrap()
    }
}

pub fn header<'r>(record: &'r StoredRecord, name: &str) -> &'r str {
    std::str::from_utf8(
        record
            .header(name)
            .unwrap_or_else(|| panic!("header {name}")),
    )
    .unwrap()
}

/// Event types for tests, as the schema registry implies them: a type exists when its subject
/// `{topic_prefix}{type}-value` has a live schema; it is `Enforce`d, keyless, and its topic
/// `{topic_prefix}{type}` is created in the log on first use.
#[derive(Debug)]
pub struct RegistrySubjects {
    registry: Registry,
    log: Arc<dyn EventLog>,
    topic_prefix: String,
    partitions: u32,
    retention: Retention,
    created: Mutex<HashSet<String>>,
}

impl RegistrySubjects {
    /// New topics get `partitions` partitions.
    pub fn new(
        registry: Registry,
        log: Arc<dyn EventLog>,
        topic_prefix: impl Into<String>,
        partitions: u32,
    ) -> RegistrySubjects {
        RegistrySubjects {
            registry,
            log,
            topic_prefix: topic_prefix.into(),
            partitions,
            retention: Retention::default(),
            created: Mutex::new(HashSet::new()),
        }
    }

    /// New topics keep records for `retention` (default: no limit).
    pub fn with_retention(mut self, retention: Retention) -> RegistrySubjects {
        self.retention = retention;
        self
    }

    async fn ensure_topic(&self, topic: &str) -> Result<(), GatewayError> {
        if self
            .created
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(topic)
        {
            return Ok(());
        }
        match self
            .log
            .create_topic(&TopicSpec::new(topic, self.partitions).with_retention(self.retention))
            .await
        {
            Ok(()) | Err(LogError::TopicExists(_)) => {}
            Err(error) => return Err(GatewayError::Registry(format!("create topic: {error}"))),
        }
        self.created
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(topic.to_owned());
        Ok(())
    }
}

#[async_trait]
impl EventTypes for RegistrySubjects {
    async fn resolve(&self, name: &EventTypeName) -> Result<Option<EventTypeInfo>, GatewayError> {
        let subject = name.subject(&self.topic_prefix);
        match self.registry.latest(&subject).await {
            Ok(_) => {}
            Err(RegistryError::SubjectNotFound(_)) => return Ok(None),
            Err(error) => return Err(GatewayError::Registry(error.to_string())),
        }
        let topic = name.topic(&self.topic_prefix);
        self.ensure_topic(&topic).await?;
        Ok(Some(EventTypeInfo {
            name: name.clone(),
            topic,
            subject,
            enforcement: Enforcement::Enforce,
            partition_key: None,
            max_event_bytes: None,
        }))
    }
}
