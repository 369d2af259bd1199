//! Request extractors and responses in Confluent's shapes: every refusal, including a
//! malformed body or path, is `{"error_code": N, "message": "…"}` with Confluent's status.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::RegistryError;

/// Confluent's response media type.
pub const SCHEMA_REGISTRY_JSON: &str = "application/vnd.schemaregistry.v1+json";

/// Largest request body accepted (a schema is further limited by `SchemaLimits`).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Media types a request body may be declared as (what Confluent's clients send).
const ACCEPTED_BODY_TYPES: [&str; 4] = [
    "application/vnd.schemaregistry.v1+json",
    "application/vnd.schemaregistry+json",
    "application/json",
    "application/octet-stream",
];

/// A Confluent error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: u32,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: u32, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            message: message.into(),
        }
    }

    pub(crate) fn not_found() -> ApiError {
        ApiError::new(404, 404, "HTTP 404 Not Found")
    }

    pub(crate) fn method_not_allowed() -> ApiError {
        ApiError::new(405, 405, "HTTP 405 Method Not Allowed")
    }
}

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> Self {
        ApiError::new(
            error.http_status(),
            error.confluent_code(),
            error.to_string(),
        )
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error_code: u32,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "schema registry error");
        }
        let body = ErrorBody {
            error_code: self.code,
            message: &self.message,
        };
        (self.status, Sr(body)).into_response()
    }
}

/// A JSON response with Confluent's media type.
#[derive(Debug)]
pub(crate) struct Sr<T>(pub(crate) T);

impl<T: Serialize> IntoResponse for Sr<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(bytes) => ([(header::CONTENT_TYPE, SCHEMA_REGISTRY_JSON)], bytes).into_response(),
            Err(error) => ApiError::new(500, 50001, format!("cannot encode the answer: {error}"))
                .into_response(),
        }
    }
}

/// A JSON request body: declared media type checked, size limited, parse errors answered
/// with 422 as Confluent does.
#[derive(Debug)]
pub(crate) struct Body<T>(pub(crate) T);

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(declared) = request.headers().get(header::CONTENT_TYPE) {
            let declared = declared.to_str().unwrap_or_default();
            let media = declared.split(';').next().unwrap_or_default().trim();
            if !ACCEPTED_BODY_TYPES
                .iter()
                .any(|accepted| accepted.eq_ignore_ascii_case(media))
            {
                return Err(ApiError::new(415, 415, "HTTP 415 Unsupported Media Type"));
            }
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        413,
                        413,
                        format!("Request body is larger than the limit of {MAX_BODY_BYTES} bytes"),
                    )
                } else {
                    ApiError::new(
                        400,
                        400,
                        format!("Cannot read the request body: {rejection}"),
                    )
                }
            })?;
        match serde_json::from_slice(&bytes) {
            Ok(value) => Ok(Body(value)),
            Err(error) => {
                let message = match error.classify() {
                    serde_json::error::Category::Data => format!("Invalid request body: {error}"),
                    _ => format!("JSON parse error: {error}"),
                };
                Err(ApiError::new(422, 422, message))
            }
        }
    }
}

/// Path parameters; a path that does not decode answers Confluent's 404.
#[derive(Debug)]
pub(crate) struct Params<T>(pub(crate) T);

impl<S, T> FromRequestParts<S> for Params<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Params(value)),
            Err(_) => Err(ApiError::not_found()),
        }
    }
}

/// Query parameters by name; flags are true only when spelled `true` (any case), as in
/// Confluent's registry.
#[derive(Debug, Default)]
pub(crate) struct Flags(HashMap<String, String>);

impl Flags {
    pub(crate) fn flag(&self, name: &str) -> bool {
        self.0
            .get(name)
            .is_some_and(|value| value.eq_ignore_ascii_case("true"))
    }

    pub(crate) fn text(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Flags {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<HashMap<String, String>>::from_request_parts(parts, state).await {
            Ok(Query(values)) => Ok(Flags(values)),
            Err(rejection) => Err(ApiError::new(
                400,
                400,
                format!("Invalid query string: {rejection}"),
            )),
        }
    }
}
