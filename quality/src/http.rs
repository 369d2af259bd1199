//! What the quality routes share: the path extractor, the JSON answer, the OpenAPI tag.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::QualityError;

/// Tag of the quality routes in the OpenAPI description.
pub const QUALITY_TAG: &str = "quality";

pub(crate) type Answer = Result<Response, QualityError>;

/// The event-type name in the path (`{name}`, as the event-type routes call it: one router
/// may not name the same segment two ways).
#[derive(Debug)]
pub(crate) struct TypeName(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for TypeName {
    type Rejection = QualityError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(name)) => Ok(TypeName(name)),
            Err(rejection) => Err(QualityError::BadRequest(format!("bad path: {rejection}"))),
        }
    }
}

/// 200 with `value` as JSON.
pub(crate) fn ok<T: Serialize>(value: &T) -> Answer {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| QualityError::Store(format!("cannot encode the answer: {e}")))?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        bytes,
    )
        .into_response())
}
