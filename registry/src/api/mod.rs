//! The Confluent-compatible Schema Registry REST API, served at the root paths.
//!
//! Handlers are thin: extract, call one [`Registry`] method, shape the answer. Bodies,
//! errors and status codes follow Confluent's registry so its clients work unchanged.

mod extract;
mod handlers;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::store::Registry;

pub(crate) use extract::ApiError;
pub use extract::{MAX_BODY_BYTES, SCHEMA_REGISTRY_JSON};
use handlers as h;

/// The registry's routes with Confluent's 404 for every other path: for serving (or testing)
/// the registry on its own.
pub fn router(registry: Registry) -> Router {
    routes(registry).fallback(not_found)
}

/// The registry's routes without a fallback, for merging into a larger router whose fallback
/// answers [`not_found_response`] for paths it does not own.
pub fn routes(registry: Registry) -> Router {
    Router::new()
        .route("/", get(h::root))
        .route("/contexts", get(h::contexts))
        .route("/schemas", get(h::schemas))
        .route("/schemas/types", get(h::schema_types))
        .route("/schemas/ids/{id}", get(h::schema_by_id))
        .route("/schemas/ids/{id}/schema", get(h::raw_schema_by_id))
        .route("/schemas/ids/{id}/subjects", get(h::subjects_by_id))
        .route("/schemas/ids/{id}/versions", get(h::versions_by_id))
        .route("/subjects", get(h::subjects))
        .route(
            "/subjects/{subject}",
            post(h::lookup).delete(h::delete_subject),
        )
        .route(
            "/subjects/{subject}/versions",
            get(h::versions).post(h::register),
        )
        .route(
            "/subjects/{subject}/versions/{version}",
            get(h::version).delete(h::delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(h::raw_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            get(h::referenced_by),
        )
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(h::compatibility_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(h::compatibility_one),
        )
        .route(
            "/config",
            get(h::global_config)
                .put(h::put_global_config)
                .delete(h::delete_global_config),
        )
        .route(
            "/config/{subject}",
            get(h::subject_config)
                .put(h::put_subject_config)
                .delete(h::delete_subject_config),
        )
        .route("/mode", get(h::global_mode).put(h::put_global_mode))
        .route(
            "/mode/{subject}",
            get(h::subject_mode)
                .put(h::put_subject_mode)
                .delete(h::delete_subject_mode),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(registry)
}

/// Confluent's answer for a path the registry does not serve:
/// 404 `{"error_code":404,"message":"HTTP 404 Not Found"}`.
pub fn not_found_response() -> Response {
    ApiError::not_found().into_response()
}

async fn not_found() -> Response {
    not_found_response()
}

async fn method_not_allowed() -> Response {
    ApiError::method_not_allowed().into_response()
}
