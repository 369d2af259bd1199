//! The gateway's one error contract: every request-level failure is a [`GatewayError`], and
//! each maps to one [`ErrorCode`] and a problem+json answer.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tributary_core::{ErrorCode, PROBLEM_JSON, Problem};
use tributary_eventlog::LogError;

use crate::verdict::Written;

/// Seconds a producer is told to wait after a 503 because the log cannot take writes.
const LOG_RETRY_AFTER_SECS: u64 = 5;
/// Seconds a producer is told to wait after a 503 because the gateway is at capacity.
const BUSY_RETRY_AFTER_SECS: u64 = 1;

/// Why a request as a whole was refused or failed. Messages are lowercase.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    #[error("event type {0:?} does not exist")]
    UnknownEventType(String),
    #[error("no schema is registered for subject {0:?}")]
    NoSchema(String),
    #[error("subject {subject:?} has no version {version}")]
    UnknownSchemaVersion { subject: String, version: i32 },
    #[error("schema id {id} is not a version of subject {subject:?}")]
    UnknownSchemaId { subject: String, id: i64 },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Busy(String),
    #[error("producer {producer:?} is over its rate limit; retry in {retry_after_secs} s")]
    RateLimited {
        producer: String,
        retry_after_secs: u64,
    },
    /// The log could not take writes. `written` lists the events of the request that were
    /// durably written before the failure; nothing else was acknowledged.
    #[error("event log cannot take writes: {error}")]
    LogUnavailable {
        error: LogError,
        written: Vec<Written>,
    },
    #[error("request did not finish within {0:?}; none of its events are acknowledged")]
    Timeout(Duration),
    #[error("schema registry failed: {0}")]
    Registry(String),
    #[error("{0}")]
    Internal(String),
}

impl GatewayError {
    /// The stable code (and so the HTTP status) of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            GatewayError::UnknownEventType(_) => ErrorCode::NotFound,
            GatewayError::NoSchema(_)
            | GatewayError::UnknownSchemaVersion { .. }
            | GatewayError::UnknownSchemaId { .. } => ErrorCode::Unprocessable,
            GatewayError::BadRequest(_) => ErrorCode::BadRequest,
            GatewayError::Forbidden(_) => ErrorCode::Forbidden,
            GatewayError::RateLimited { .. } => ErrorCode::RateLimited,
            GatewayError::TooLarge(_) => ErrorCode::PayloadTooLarge,
            GatewayError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            GatewayError::Busy(_)
            | GatewayError::LogUnavailable { .. }
            | GatewayError::Timeout(_)
            | GatewayError::Registry(_) => ErrorCode::Unavailable,
            GatewayError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// A log failure as a request-level error: retryable ones are 503, the rest 500.
    pub(crate) fn from_log(error: LogError, written: Vec<Written>) -> GatewayError {
        if error.is_retryable() {
            GatewayError::LogUnavailable { error, written }
        } else {
            GatewayError::Internal(format!("event log refused the write: {error}"))
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            GatewayError::Busy(_) => Some(BUSY_RETRY_AFTER_SECS),
            GatewayError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            GatewayError::LogUnavailable { .. }
            | GatewayError::Timeout(_)
            | GatewayError::Registry(_) => Some(LOG_RETRY_AFTER_SECS),
            _ => None,
        }
    }
}

/// problem+json, plus on a 503 from the log the events that were durably written.
#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(flatten)]
    problem: Problem,
    #[serde(skip_serializing_if = "Option::is_none")]
    written: Option<&'a [Written]>,
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let code = self.code();
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(error = %self, "gateway request failed");
        }
        let written = match &self {
            GatewayError::LogUnavailable { written, .. } => Some(written.as_slice()),
            _ => None,
        };
        let body = ProblemBody {
            problem: Problem::new(code, self.to_string()),
            written,
        };
        let mut response = (
            status,
            [(header::CONTENT_TYPE, PROBLEM_JSON)],
            axum::Json(body),
        )
            .into_response();
        if let Some(secs) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
