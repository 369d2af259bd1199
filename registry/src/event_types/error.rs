//! The event-type error contract: one enum, mapped once to a stable problem+json code.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tributary_core::{DbError, ErrorCode, PROBLEM_JSON, Problem};
use tributary_eventlog::{ErrorKind, LogError};

use crate::store::RegistryError;

/// One way a schema breaks its subject's compatibility level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncompatibilityOut {
    /// The kind of break, e.g. `READER_FIELD_MISSING_DEFAULT_VALUE`.
    pub kind: String,
    /// Where in the schema, e.g. `/fields/1`.
    pub path: String,
    pub message: String,
}

/// Why an event-type operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum EventTypeError {
    /// A field breaks a rule; `field` names it.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// The request cannot be read at all (bad JSON, bad query or path).
    #[error("{0}")]
    BadRequest(String),
    #[error("request body is too large: metadata bodies may have 1 MiB, schema bodies 16 MiB")]
    PayloadTooLarge,
    #[error("request body must be application/json, not {0:?}")]
    UnsupportedMediaType(String),
    #[error("event type {0} does not exist")]
    NotFound(String),
    #[error("event type {0} already exists")]
    Exists(String),
    #[error("{0}")]
    Forbidden(String),
    #[error(
        "topic {topic} already exists with {actual} partitions, not {wanted}: delete the topic or ask for {actual} partitions"
    )]
    TopicMismatch {
        topic: String,
        actual: u32,
        wanted: u32,
    },
    #[error(
        "schema is incompatible with earlier versions of subject {subject} at level {level} ({} incompatibilities)",
        .incompatibilities.len()
    )]
    Incompatible {
        subject: String,
        level: String,
        incompatibilities: Vec<IncompatibilityOut>,
    },
    /// The schema registry refused or failed (its message is Confluent's wording).
    #[error("{0}")]
    Registry(RegistryError),
    #[error("event log: {0}")]
    Log(LogError),
    #[error("metadata store: {0}")]
    Store(String),
    #[error("event type {0} kept changing while being changed; try again")]
    Concurrent(String),
    /// The server was wired without the principal layer: refuse rather than guess.
    #[error("no principal on the request: the server is misconfigured")]
    NoPrincipal,
}

impl EventTypeError {
    pub fn code(&self) -> ErrorCode {
        match self {
            EventTypeError::Invalid { .. } => ErrorCode::Unprocessable,
            EventTypeError::BadRequest(_) => ErrorCode::BadRequest,
            EventTypeError::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            EventTypeError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            EventTypeError::NotFound(_) => ErrorCode::NotFound,
            EventTypeError::Exists(_)
            | EventTypeError::Concurrent(_)
            | EventTypeError::TopicMismatch { .. }
            | EventTypeError::Incompatible { .. } => ErrorCode::Conflict,
            EventTypeError::Forbidden(_) => ErrorCode::Forbidden,
            EventTypeError::Registry(error) => match error.http_status() {
                400 => ErrorCode::BadRequest,
                403 => ErrorCode::Forbidden,
                404 => ErrorCode::NotFound,
                409 => ErrorCode::Conflict,
                422 => ErrorCode::Unprocessable,
                _ => ErrorCode::Internal,
            },
            EventTypeError::Log(error) if error.kind() == ErrorKind::Retryable => {
                ErrorCode::Unavailable
            }
            EventTypeError::Log(_) | EventTypeError::Store(_) | EventTypeError::NoPrincipal => {
                ErrorCode::Internal
            }
        }
    }
}

impl From<RegistryError> for EventTypeError {
    fn from(error: RegistryError) -> Self {
        EventTypeError::Registry(error)
    }
}

impl From<LogError> for EventTypeError {
    fn from(error: LogError) -> Self {
        EventTypeError::Log(error)
    }
}

impl From<sqlx::Error> for EventTypeError {
    fn from(error: sqlx::Error) -> Self {
        EventTypeError::Store(error.to_string())
    }
}

impl From<DbError> for EventTypeError {
    fn from(error: DbError) -> Self {
        EventTypeError::Store(error.to_string())
    }
}

/// A problem document with this API's extension members.
#[derive(Serialize)]
struct Body {
    #[serde(flatten)]
    problem: Problem,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    incompatibilities: Option<Vec<IncompatibilityOut>>,
}

impl IntoResponse for EventTypeError {
    fn into_response(self) -> Response {
        let code = self.code();
        if code == ErrorCode::Internal || code == ErrorCode::Unavailable {
            tracing::error!(code = code.as_str(), error = %self, "event-type request failed");
        }
        let problem = Problem::new(code, self.to_string());
        let (field, incompatibilities) = match self {
            EventTypeError::Invalid { field, .. } => (Some(field), None),
            EventTypeError::Incompatible {
                incompatibilities, ..
            } => (None, Some(incompatibilities)),
            _ => (None, None),
        };
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = Body {
            problem,
            field,
            incompatibilities,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        (status, [(header::CONTENT_TYPE, PROBLEM_JSON)], bytes).into_response()
    }
}

/// Reads the structured incompatibilities back out of the registry's Confluent-style
/// messages (`{errorType:'…', description:'…', additionalInfo:'PATH'}`); the trailing
/// version, schema and level entries are skipped.
pub(crate) fn incompatibilities(messages: &[String]) -> Vec<IncompatibilityOut> {
    let mut out = Vec::new();
    for message in messages {
        let Some(rest) = message.strip_prefix("{errorType:'") else {
            continue;
        };
        let Some((kind, rest)) = rest.split_once("', description:'") else {
            continue;
        };
        let rest = rest.strip_suffix("'}").unwrap_or(rest);
        let (description, path) = rest
            .rsplit_once("', additionalInfo:'")
            .unwrap_or((rest, ""));
        out.push(IncompatibilityOut {
            kind: kind.to_owned(),
            path: path.to_owned(),
            message: description.to_owned(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incompatibilities_are_read_back() {
        let messages = vec![
            String::from(
                "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'the new schema cannot read data written with the old one: field age has no default', additionalInfo:'/fields/1'}",
            ),
            String::from("{oldSchemaVersion: 1}"),
            String::from("{compatibility: 'BACKWARD'}"),
        ];
        let found = incompatibilities(&messages);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, "READER_FIELD_MISSING_DEFAULT_VALUE");
        assert_eq!(found[0].path, "/fields/1");
        assert!(found[0].message.ends_with("field age has no default"));
    }
}
