//! The quality error contract: one enum, mapped once to a stable problem+json code.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tributary_core::{ErrorCode, PROBLEM_JSON, Problem};
use tributary_registry::EventTypeError;

/// Why a quality operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum QualityError {
    /// A field of a request breaks a rule; `field` names it (e.g. `rules[2].pattern`).
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// The request cannot be read at all (bad query, bad range).
    #[error("{0}")]
    BadRequest(String),
    #[error("event type {0} does not exist")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    /// Another writer kept changing the same thing meanwhile; retry.
    #[error("the quality rules of {0} kept changing meanwhile; retry")]
    Concurrent(String),
    /// The metadata database failed.
    #[error("metadata database: {0}")]
    Store(String),
    /// The event-type catalog refused or failed; its own problem is answered.
    #[error(transparent)]
    EventType(#[from] EventTypeError),
}

impl QualityError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> QualityError {
        QualityError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            QualityError::Invalid { .. } => ErrorCode::Unprocessable,
            QualityError::BadRequest(_) => ErrorCode::BadRequest,
            QualityError::NotFound(_) => ErrorCode::NotFound,
            QualityError::Forbidden(_) => ErrorCode::Forbidden,
            QualityError::Concurrent(_) => ErrorCode::Conflict,
            QualityError::Store(_) => ErrorCode::Internal,
            QualityError::EventType(inner) => inner.code(),
        }
    }
}

impl From<sqlx::Error> for QualityError {
    fn from(error: sqlx::Error) -> QualityError {
        QualityError::Store(error.to_string())
    }
}

#[derive(Serialize)]
struct Body {
    #[serde(flatten)]
    problem: Problem,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

impl IntoResponse for QualityError {
    fn into_response(self) -> Response {
        if let QualityError::EventType(inner) = self {
            return inner.into_response();
        }
        let code = self.code();
        if code == ErrorCode::Internal {
            tracing::error!(code = code.as_str(), error = %self, "quality request failed");
        }
        let problem = Problem::new(code, self.to_string());
        let field = match self {
            QualityError::Invalid { field, .. } => Some(field),
            _ => None,
        };
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = serde_json::to_vec(&Body { problem, field }).unwrap_or_default();
        (status, [(header::CONTENT_TYPE, PROBLEM_JSON)], bytes).into_response()
    }
}
