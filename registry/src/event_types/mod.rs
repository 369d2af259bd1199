//! Event types: the native `/v1/event-types` API and the ownership of schemas.
//!
//! An event type has an owner (a team), a description, tags, a partition key, an
//! enforcement mode and topic settings. Creating one creates its topic in the event log;
//! its schemas are the versions of its subject (`{topic}-value`) in the registry. Only the
//! owning team or an admin changes its metadata or its schemas — through this API or the
//! Confluent one — and every change is recorded in the audit log. See
//! `docs/event-types.md`.

mod changes;
mod error;
mod guard;
mod http;
mod model;
mod openapi;
mod pii;
mod rows;
mod service;

use axum::middleware;
use utoipa_axum::router::OpenApiRouter;

pub use error::{EventTypeError, IncompatibilityOut};
pub use http::{
    Caller, JsonBody, MAX_METADATA_BODY_BYTES, authenticate, identify, problem_response,
};
pub use model::{
    Enforcement, EventType, EventTypePatch, EventTypeSettings, MAX_DESCRIPTION_BYTES, MAX_TAGS,
    NewEventType,
};
pub use pii::{MAX_PII_MARKS, PiiMark, pii_pointers};
pub use service::{EventTypeView, EventTypes, LatestSchema, RegisteredVersion};

/// The registry's whole HTTP surface: the Confluent routes, guarded by event-type
/// ownership and audited, and the `/v1/event-types` routes with their OpenAPI description
/// (the Confluent routes follow Confluent's API and are not in it). No fallback; requests
/// must pass through [`identify`] (or another layer that inserts a `Principal`) first.
pub fn api_routes(event_types: EventTypes) -> OpenApiRouter {
    let confluent = crate::api::routes(event_types.registry().clone()).route_layer(
        middleware::from_fn_with_state(event_types.clone(), guard::guard),
    );
    OpenApiRouter::from(confluent).merge(http::routes(event_types))
}
