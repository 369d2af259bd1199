//! Ownership on the Confluent write routes: a subject that is an event type's subject may
//! only be changed by its owning team or an admin, and the global settings only by an
//! admin. Refusals keep Confluent's error shape (`40301`). Subjects of no event type stay
//! open, as in Confluent. Every successful change is audited.

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tributary_core::Principal;

use crate::api::ApiError;

use super::changes::{Change, Touches};
use super::service::EventTypes;

/// Confluent's error code for an authorization failure.
const FORBIDDEN: u32 = 40301;

/// What a write route changes: the audit action, what it touches, and whether it names a
/// subject (`false`: the global setting).
fn classify(method: &Method, route: &str) -> Option<(&'static str, Touches, bool)> {
    let found = match (method.as_str(), route) {
        ("POST", "/subjects/{subject}/versions") => ("schema.register", Touches::Schemas, true),
        ("DELETE", "/subjects/{subject}/versions/{version}") => {
            ("schema.delete", Touches::Schemas, true)
        }
        ("DELETE", "/subjects/{subject}") => ("subject.delete", Touches::Schemas, true),
        ("PUT", "/config/{subject}") => ("config.set", Touches::Compatibility, true),
        ("DELETE", "/config/{subject}") => ("config.delete", Touches::Compatibility, true),
        ("PUT", "/mode/{subject}") => ("mode.set", Touches::Mode, true),
        ("DELETE", "/mode/{subject}") => ("mode.delete", Touches::Mode, true),
        ("PUT", "/config") => ("config.set", Touches::Compatibility, false),
        ("DELETE", "/config") => ("config.delete", Touches::Compatibility, false),
        ("PUT", "/mode") => ("mode.set", Touches::Mode, false),
        _ => return None,
    };
    Some(found)
}

fn store_error(error: impl std::fmt::Display) -> Response {
    ApiError::new(
        500,
        50001,
        format!("Error in the backend data store: {error}"),
    )
    .into_response()
}

/// Route middleware over the Confluent routes (needs [`MatchedPath`], so it is a
/// `route_layer`).
pub(crate) async fn guard(
    State(service): State<EventTypes>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let Some((action, touches, scoped)) = route
        .as_deref()
        .and_then(|route| classify(request.method(), route))
    else {
        return next.run(request).await;
    };
    let (mut parts, body) = request.into_parts();
    let Some(who) = parts.extensions.get::<Principal>().cloned() else {
        return store_error("no principal on the request: the server is misconfigured");
    };
    let mut subject = None;
    if scoped {
        let params = RawPathParams::from_request_parts(&mut parts, &()).await;
        subject = params.ok().and_then(|params| {
            params
                .iter()
                .find(|(key, _)| *key == "subject")
                .map(|(_, value)| value.to_owned())
        });
    }
    let mut owned_by = None;
    match &subject {
        Some(subject) => match service.owner_of_subject(subject).await {
            Ok(Some(event_type)) => {
                if !who.acts_for(&event_type.owner) {
                    return ApiError::new(
                        403,
                        FORBIDDEN,
                        format!(
                            "User {who} is denied operation Write on Subject: {subject} (it belongs to event type {}, owned by team {})",
                            event_type.name, event_type.owner
                        ),
                    )
                    .into_response();
                }
                owned_by = Some(event_type.name);
            }
            Ok(None) => {}
            Err(error) => return store_error(error),
        },
        None if scoped => return next.run(Request::from_parts(parts, body)).await,
        None => {
            if !who.is_admin() {
                return ApiError::new(
                    403,
                    FORBIDDEN,
                    format!("User {who} is denied operation Write on the global registry settings: only an admin may change them"),
                )
                .into_response();
            }
        }
    }

    let change = Change {
        actor: &who,
        action,
        subject: subject.as_deref(),
        touches,
    };
    let registry = service.registry();
    let before = match change.snapshot(registry).await {
        Ok(before) => before,
        Err(error) => return ApiError::from(error).into_response(),
    };
    let response = next.run(Request::from_parts(parts, body)).await;
    if !response.status().is_success() {
        return response;
    }
    match change.snapshot(registry).await {
        Ok(after) => change.record(service.db(), before, after).await,
        Err(error) => {
            tracing::error!(%error, action, "cannot read the state after a change; not audited")
        }
    }
    if let (Some(name), Touches::Compatibility) = (&owned_by, touches)
        && let Err(error) = service.note_compatibility(name).await
    {
        tracing::error!(%error, event_type = %name, "cannot record the new compatibility level on the event type");
    }
    response
}
