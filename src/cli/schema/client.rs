//! A typed client for the Confluent-compatible registry API that `tributary serve` mounts at
//! the root paths. Every call returns `Result<T, CliError>`; nothing here prints.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a `tributary schema` command failed.
#[derive(Debug)]
pub(crate) enum CliError {
    /// Bad flags or arguments (exit 2).
    Usage(String),
    /// A local input could not be read (exit 1).
    Input(String),
    /// No connection could be made (exit 1).
    Unreachable { server: String, reason: String },
    /// The server took longer than the request timeout (exit 1).
    Timeout { server: String, after: Duration },
    /// The server refused the request with a Confluent error body (exit 1).
    Api { code: u32, message: String },
    /// Registration refused: the schema breaks the subject's compatibility rules (exit 1).
    Incompatible {
        summary: String,
        /// The server's 409 answer.
        code: u32,
        message: String,
        /// The verbose report of the same check.
        report: Compatibility,
    },
    /// `check` found the schema incompatible; the report is already printed (exit 1).
    NotCompatible { subject: String },
    /// The answer was not what the API promises (exit 1).
    Protocol(String),
}

impl CliError {
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            _ => 1,
        }
    }
}

/// A schema to register or check, in Confluent's request shape.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NewSchema {
    pub(crate) schema: String,
    pub(crate) schema_type: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) references: Vec<Reference>,
}

/// Confluent's `references` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Reference {
    pub(crate) name: String,
    pub(crate) subject: String,
    pub(crate) version: i32,
}

/// One version of a subject, as `GET /subjects/{s}/versions/{v}` answers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SchemaVersion {
    pub(crate) subject: String,
    pub(crate) version: i32,
    pub(crate) id: u32,
    /// Absent for AVRO, Confluent's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) schema_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) references: Vec<Reference>,
    pub(crate) schema: String,
}

impl SchemaVersion {
    pub(crate) fn type_name(&self) -> &str {
        self.schema_type.as_deref().unwrap_or("AVRO")
    }

    pub(crate) fn as_new(&self) -> NewSchema {
        NewSchema {
            schema: self.schema.clone(),
            schema_type: self.type_name().to_owned(),
            references: self.references.clone(),
        }
    }
}

/// A schema by id, as `GET /schemas/ids/{id}` answers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SchemaById {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) schema_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) references: Vec<Reference>,
    pub(crate) schema: String,
}

/// A subject and version using a schema id (`GET /schemas/ids/{id}/versions`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SubjectVersionRef {
    pub(crate) subject: String,
    pub(crate) version: i32,
}

/// The verbose answer of the compatibility endpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Compatibility {
    pub(crate) is_compatible: bool,
    #[serde(default)]
    pub(crate) messages: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error_code: u32,
    message: String,
}

/// An RFC 9457 problem, as the `/v1` API answers errors.
#[derive(Debug, Deserialize)]
struct ProblemBody {
    code: String,
    detail: String,
}

/// The media type of the Confluent-compatible API.
const REGISTRY_JSON: &str = "application/vnd.schemaregistry.v1+json";

#[derive(Debug, Deserialize)]
struct Registered {
    id: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigAnswer {
    compatibility_level: String,
}

/// The registry API of one server.
#[derive(Debug)]
pub(crate) struct RegistryClient {
    http: reqwest::Client,
    base: Url,
    timeout: Duration,
}

impl RegistryClient {
    pub(crate) fn new(server: &str, timeout: Duration) -> Result<RegistryClient, CliError> {
        let base = Url::parse(server).map_err(|error| {
            CliError::Usage(format!("--server {server:?} is not a URL: {error}"))
        })?;
        match base.scheme() {
            "http" => {}
            "https" => {
                return Err(CliError::Usage(format!(
                    "--server {server}: this build of tributary speaks plain http only; \
                     put a TLS-terminating proxy's http address here"
                )));
            }
            other => {
                return Err(CliError::Usage(format!(
                    "--server {server}: scheme {other:?} is not supported; use http://HOST:PORT"
                )));
            }
        }
        if base.cannot_be_a_base() {
            return Err(CliError::Usage(format!(
                "--server {server:?} is not a base URL"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("tributary-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| {
                CliError::Protocol(format!("cannot build the http client: {error}"))
            })?;
        Ok(RegistryClient {
            http,
            base,
            timeout,
        })
    }

    /// The server's address as the user gave it (no trailing slash).
    pub(crate) fn server(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_owned()
    }

    /// `GET /schemas?latestOnly=true`: the latest version of every subject under `prefix`.
    pub(crate) async fn latest_versions(
        &self,
        prefix: &str,
        deleted: bool,
    ) -> Result<Vec<SchemaVersion>, CliError> {
        let query = [
            ("subjectPrefix", prefix),
            ("latestOnly", "true"),
            ("deleted", flag(deleted)),
        ];
        self.call(Method::GET, &["schemas"], &query, None).await
    }

    /// `GET /subjects/{subject}/versions`.
    pub(crate) async fn versions(
        &self,
        subject: &str,
        deleted: bool,
    ) -> Result<Vec<i32>, CliError> {
        let query = [("deleted", flag(deleted))];
        self.call(
            Method::GET,
            &["subjects", subject, "versions"],
            &query,
            None,
        )
        .await
    }

    /// `GET /subjects/{subject}/versions/{version}`; `version` is a number or `latest`.
    pub(crate) async fn version(
        &self,
        subject: &str,
        version: &str,
        deleted: bool,
    ) -> Result<SchemaVersion, CliError> {
        let query = [("deleted", flag(deleted))];
        let path = ["subjects", subject, "versions", version];
        self.call(Method::GET, &path, &query, None).await
    }

    /// `GET /schemas/ids/{id}`.
    pub(crate) async fn schema_by_id(&self, id: u32) -> Result<SchemaById, CliError> {
        let id = id.to_string();
        self.call(Method::GET, &["schemas", "ids", &id], &[], None)
            .await
    }

    /// `GET /schemas/ids/{id}/versions`.
    pub(crate) async fn versions_of_id(&self, id: u32) -> Result<Vec<SubjectVersionRef>, CliError> {
        let id = id.to_string();
        let path = ["schemas", "ids", &id, "versions"];
        self.call(Method::GET, &path, &[], None).await
    }

    /// `POST /subjects/{subject}`: the version already holding `schema`, if any.
    pub(crate) async fn lookup(
        &self,
        subject: &str,
        schema: &NewSchema,
        normalize: bool,
    ) -> Result<Option<SchemaVersion>, CliError> {
        let body = to_body(schema)?;
        let query = [("normalize", flag(normalize))];
        match self
            .call(Method::POST, &["subjects", subject], &query, Some(&body))
            .await
        {
            Ok(found) => Ok(Some(found)),
            // 40401: no such subject; 40403: the subject does not hold this schema.
            Err(CliError::Api {
                code: 40401 | 40403,
                ..
            }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// `POST /subjects/{subject}/versions`: the schema's id.
    pub(crate) async fn register(
        &self,
        subject: &str,
        schema: &NewSchema,
        normalize: bool,
    ) -> Result<u32, CliError> {
        let body = to_body(schema)?;
        let query = [("normalize", flag(normalize))];
        let path = ["subjects", subject, "versions"];
        let answer: Registered = self.call(Method::POST, &path, &query, Some(&body)).await?;
        Ok(answer.id)
    }

    /// `POST /compatibility/subjects/{subject}/versions[/{version}]?verbose=true`; `None`
    /// checks against every version the subject's level looks at when registering.
    pub(crate) async fn check(
        &self,
        subject: &str,
        against: Option<&str>,
        schema: &NewSchema,
        normalize: bool,
    ) -> Result<Compatibility, CliError> {
        let body = to_body(schema)?;
        let query = [("verbose", "true"), ("normalize", flag(normalize))];
        let mut path = vec!["compatibility", "subjects", subject, "versions"];
        if let Some(version) = against {
            path.push(version);
        }
        self.call(Method::POST, &path, &query, Some(&body)).await
    }

    /// `GET /config/{subject}?defaultToGlobal=true`: the level that applies to `subject`.
    pub(crate) async fn effective_level(&self, subject: &str) -> Result<String, CliError> {
        let query = [("defaultToGlobal", "true")];
        let answer: ConfigAnswer = self
            .call(Method::GET, &["config", subject], &query, None)
            .await?;
        Ok(answer.compatibility_level)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<T, CliError> {
        self.request(method, path, query, body, REGISTRY_JSON).await
    }

    /// A call to the native API under `/v1` (`path` without the `v1`): JSON both ways, errors
    /// as problem+json.
    pub(crate) async fn v1<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<T, CliError> {
        let mut full = Vec::with_capacity(path.len() + 1);
        full.push("v1");
        full.extend_from_slice(path);
        self.request(method, &full, query, body, "application/json")
            .await
    }

    async fn request<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, &str)],
        body: Option<&Value>,
        media_type: &str,
    ) -> Result<T, CliError> {
        let url = self.url(path, query)?;
        let mut request = self
            .http
            .request(method, url)
            .header(reqwest::header::ACCEPT, media_type);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, media_type)
                .body(body.to_string());
        }
        let response = request.send().await.map_err(|e| self.transport(&e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.transport(&e))?;
        if !status.is_success() {
            return Err(api_error(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|error| {
            CliError::Protocol(format!(
                "unexpected answer from {} ({status}): {error}",
                self.server()
            ))
        })
    }

    fn url(&self, path: &[&str], query: &[(&str, &str)]) -> Result<Url, CliError> {
        let mut url = self.base.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| CliError::Usage(format!("{} is not a base URL", self.server())))?;
            segments.pop_if_empty();
            for segment in path {
                segments.push(segment);
            }
        }
        {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in query {
                if !value.is_empty() {
                    pairs.append_pair(name, value);
                }
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        Ok(url)
    }

    fn transport(&self, error: &reqwest::Error) -> CliError {
        if error.is_timeout() {
            return CliError::Timeout {
                server: self.server(),
                after: self.timeout,
            };
        }
        CliError::Unreachable {
            server: self.server(),
            reason: root_cause(error),
        }
    }
}

fn flag(on: bool) -> &'static str {
    if on { "true" } else { "" }
}

fn to_body(schema: &NewSchema) -> Result<Value, CliError> {
    serde_json::to_value(schema)
        .map_err(|error| CliError::Protocol(format!("cannot encode the request: {error}")))
}

/// A Confluent error body when the server sent one, else the status and the start of the body.
fn api_error(status: StatusCode, bytes: &[u8]) -> CliError {
    if let Ok(body) = serde_json::from_slice::<ErrorBody>(bytes) {
        return CliError::Api {
            code: body.error_code,
            message: body.message,
        };
    }
    if let Ok(problem) = serde_json::from_slice::<ProblemBody>(bytes) {
        return CliError::Api {
            code: u32::from(status.as_u16()),
            message: format!("{} ({})", problem.detail, problem.code),
        };
    }
    let text = String::from_utf8_lossy(bytes);
    let text: String = text.trim().chars().take(200).collect();
    let message = if text.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {text}")
    };
    CliError::Api {
        code: u32::from(status.as_u16()),
        message,
    }
}

/// The innermost cause of a transport error, in the words people know ("connection refused").
fn root_cause(error: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = error;
    while let Some(next) = source.source() {
        if let Some(io) = next.downcast_ref::<std::io::Error>() {
            return io_reason(io);
        }
        source = next;
    }
    source.to_string()
}

fn io_reason(error: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        ErrorKind::ConnectionReset => "connection reset".to_owned(),
        ErrorKind::ConnectionAborted => "connection aborted".to_owned(),
        ErrorKind::TimedOut => "timed out".to_owned(),
        ErrorKind::AddrNotAvailable => "address not available".to_owned(),
        _ => {
            let text = error.to_string();
            // "Name or service not known (os error -2)" → without the os error suffix.
            match text.split_once(" (os error") {
                Some((words, _)) => words.to_lowercase(),
                None => text,
            }
        }
    }
}
