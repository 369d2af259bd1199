//! A fresh database and embedded event log per test, and a client for the router.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use axum::middleware;
use serde_json::Value;
use tower::ServiceExt;
use tributary_core::testkit::{ScratchDatabase, scratch_postgres, scratch_sqlite};
use tributary_core::{AuthMode, Database};
use tributary_eventlog::{EmbeddedLog, EmbeddedOptions, EventLog};
use tributary_registry::{EventTypeSettings, EventTypes, Registry, api_routes, identify};

pub(crate) struct Fresh {
    pub(crate) db: Database,
    pub(crate) log: Arc<EmbeddedLog>,
    _dirs: Vec<tempfile::TempDir>,
    _scratch: ScratchDatabase,
}

async fn open_log() -> (Arc<EmbeddedLog>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(EmbeddedOptions::new(dir.path().join("log")))
        .await
        .unwrap();
    (Arc::new(log), dir)
}

async fn migrated(scratch: ScratchDatabase) -> Fresh {
    scratch.db.migrate().await.unwrap();
    let (log, log_dir) = open_log().await;
    Fresh {
        db: scratch.db.clone(),
        log,
        _dirs: vec![log_dir],
        _scratch: scratch,
    }
}

pub(crate) async fn fresh_sqlite() -> Fresh {
    migrated(scratch_sqlite().await).await
}

/// A new database on the server named by TRIBUTARY_TEST_DATABASE_URL.
pub(crate) async fn fresh_postgres() -> Fresh {
    migrated(scratch_postgres().await).await
}

impl Fresh {
    pub(crate) fn api(&self) -> Api {
        let log: Arc<dyn EventLog> = self.log.clone();
        let event_types = EventTypes::new(
            self.db.clone(),
            Registry::new(self.db.clone()),
            log,
            EventTypeSettings {
                topic_prefix: String::new(),
                default_partitions: 3,
                default_retention: Some(Duration::from_secs(7 * 86_400)),
            },
        );
        let app = Router::from(
            api_routes(event_types).layer(middleware::from_fn_with_state(AuthMode::Off, identify)),
        );
        Api { app }
    }
}

pub(crate) struct Api {
    app: Router,
}

/// An answer: status, content type, `Location`, and the body (JSON when it parses).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) location: Option<String>,
    pub(crate) body: Value,
}

impl Answer {
    /// Asserts a problem+json answer with `status` and `code`; returns the body.
    #[track_caller]
    pub(crate) fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.content_type, "application/problem+json", "{self:?}");
        assert_eq!(self.body["code"], code, "{self:?}");
        assert_eq!(self.body["status"], status, "{self:?}");
        &self.body
    }

    /// Asserts a 422 naming `field`.
    #[track_caller]
    pub(crate) fn invalid(&self, field: &str) -> &Value {
        let body = self.problem(422, "unprocessable");
        assert_eq!(body["field"], field, "{self:?}");
        body
    }

    /// Asserts a Confluent error answer.
    #[track_caller]
    pub(crate) fn confluent_error(&self, status: u16, code: u64) -> String {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.body["error_code"], code, "{self:?}");
        self.body["message"].as_str().unwrap().to_owned()
    }

    #[track_caller]
    pub(crate) fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "{self:?}");
        &self.body
    }
}

impl Api {
    /// Sends a request as `principal` (a `Tributary-Principal` value; `None`: no header).
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        principal: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(principal) = principal {
            request = request.header("Tributary-Principal", principal);
        }
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &axum::http::HeaderValue| v.to_str().unwrap().to_owned())
        };
        let content_type = text(header::CONTENT_TYPE).unwrap_or_default();
        let location = text(header::LOCATION);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Answer {
            status,
            content_type,
            location,
            body,
        }
    }

    pub(crate) async fn json(
        &self,
        method: Method,
        path: &str,
        principal: Option<&str>,
        body: &Value,
    ) -> Answer {
        self.send(
            method,
            path,
            principal,
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await
    }

    pub(crate) async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None, None, Vec::new()).await
    }

    pub(crate) async fn delete(&self, path: &str, principal: Option<&str>) -> Answer {
        self.send(Method::DELETE, path, principal, None, Vec::new())
            .await
    }

    /// Creates an event type as an admin; returns the answer body.
    pub(crate) async fn create(&self, body: Value) -> Value {
        let answer = self
            .json(Method::POST, "/v1/event-types", Some("admin"), &body)
            .await;
        answer.ok(201).clone()
    }

    /// The audit entries of an event type, newest first.
    pub(crate) async fn audit(&self, name: &str) -> Vec<Value> {
        let answer = self.get(&format!("/v1/event-types/{name}/audit")).await;
        answer.ok(200)["entries"].as_array().unwrap().clone()
    }
}

/// An Avro record schema (as text) named `name` with `fields`.
pub(crate) fn avro(name: &str, fields: Value) -> String {
    let mut record = serde_json::json!({ "type": "record", "name": name });
    record["fields"] = fields;
    record.to_string()
}
