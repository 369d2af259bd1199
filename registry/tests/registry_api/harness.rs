//! A fresh registry per test, and a client that drives its router in process.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use serde_json::Value;
use tower::ServiceExt;
use tributary_core::Database;
use tributary_core::testkit::{ScratchDatabase, scratch_postgres, scratch_sqlite};
use tributary_registry::{Registry, router};

const TIMEOUT: Duration = Duration::from_secs(10);

/// An empty, migrated database of one kind; `connect` opens further independent pools on it
/// (separate "instances").
pub(crate) struct Fresh {
    pub(crate) url: String,
    pub(crate) db: Database,
    _scratch: ScratchDatabase,
}

impl Fresh {
    pub(crate) fn api(&self) -> Api {
        let registry = Registry::new(self.db.clone());
        Api {
            app: router(registry.clone()),
            registry,
        }
    }

    pub(crate) async fn connect(&self) -> Database {
        Database::connect(&self.url, TIMEOUT).await.unwrap()
    }
}

async fn migrated(scratch: ScratchDatabase) -> Fresh {
    scratch.db.migrate().await.unwrap();
    Fresh {
        url: scratch.url.clone(),
        db: scratch.db.clone(),
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

/// The router of one registry instance.
pub(crate) struct Api {
    pub(crate) app: Router,
    pub(crate) registry: Registry,
}

/// An answer: status, content type and body (JSON when it parses, else a string).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) body: Value,
}

impl Answer {
    /// Asserts a Confluent error answer and returns its message.
    #[track_caller]
    pub(crate) fn error(&self, status: u16, code: u64) -> String {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.body["error_code"], code, "{self:?}");
        assert_eq!(self.content_type, "application/vnd.schemaregistry.v1+json");
        self.body["message"].as_str().unwrap().to_string()
    }

    #[track_caller]
    pub(crate) fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "{self:?}");
        assert_eq!(self.content_type, "application/vnd.schemaregistry.v1+json");
        &self.body
    }
}

impl Api {
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
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
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Answer {
            status,
            content_type,
            body,
        }
    }

    pub(crate) async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None, Vec::new()).await
    }

    pub(crate) async fn delete(&self, path: &str) -> Answer {
        self.send(Method::DELETE, path, None, Vec::new()).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(
            Method::POST,
            path,
            Some("application/vnd.schemaregistry.v1+json"),
            body.to_string().into_bytes(),
        )
        .await
    }

    pub(crate) async fn put(&self, path: &str, body: Value) -> Answer {
        self.send(
            Method::PUT,
            path,
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await
    }

    /// Registers an Avro schema and returns its id.
    pub(crate) async fn register_avro(&self, subject: &str, schema: &Value) -> u64 {
        let answer = self
            .post(
                &format!("/subjects/{subject}/versions"),
                serde_json::json!({ "schema": schema.to_string() }),
            )
            .await;
        answer.ok()["id"].as_u64().unwrap()
    }
}

/// An Avro record named `name` with `fields` (JSON values).
pub(crate) fn record(name: &str, fields: Value) -> Value {
    let mut record = serde_json::json!({ "type": "record", "name": name });
    record["fields"] = fields;
    record
}
