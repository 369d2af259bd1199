//! Errors of the producer API, each one problem+json with a stable code.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tributary_core::{ErrorCode, PROBLEM_JSON, Problem};

/// Why a producer request was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ProducerError {
    #[error("{0}")]
    BadRequest(String),
    #[error("invalid {field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("metadata store failed: {0}")]
    Store(String),
}

impl ProducerError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ProducerError::BadRequest(_) => ErrorCode::BadRequest,
            ProducerError::Invalid { .. } => ErrorCode::Unprocessable,
            ProducerError::Forbidden(_) => ErrorCode::Forbidden,
            ProducerError::NotFound(_) => ErrorCode::NotFound,
            ProducerError::Conflict(_) => ErrorCode::Conflict,
            ProducerError::Store(_) => ErrorCode::Internal,
        }
    }
}

impl From<sqlx::Error> for ProducerError {
    fn from(error: sqlx::Error) -> ProducerError {
        ProducerError::Store(error.to_string())
    }
}

impl IntoResponse for ProducerError {
    fn into_response(self) -> Response {
        let code = self.code();
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(error = %self, "producer request failed");
        }
        (
            status,
            [(header::CONTENT_TYPE, PROBLEM_JSON)],
            axum::Json(Problem::new(code, self.to_string())),
        )
            .into_response()
    }
}
