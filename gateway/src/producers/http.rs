//! The `/v1/producers` routes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tributary_core::Principal;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ProducerError;
use super::store::{IssuedKey, KeyView, MAX_GRACE, NewProducer, ProducerView, Producers};
use crate::openapi::{KeyPath, PRODUCERS_TAG, ProducerPath};

type Answer = Result<Response, ProducerError>;

/// The `/v1/producers` routes and their OpenAPI description. Requests must pass through the
/// principal middleware first.
pub fn producer_routes(producers: Arc<Producers>) -> OpenApiRouter {
    OpenApiRouter::default()
        .routes(routes!(list, create))
        .routes(routes!(describe))
        .routes(routes!(keys, issue))
        .routes(routes!(revoke))
        .routes(routes!(rotate))
        .routes(routes!(grants))
        .with_state(producers)
}

/// The answer of `GET /v1/producers`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ProducerList {
    producers: Vec<ProducerView>,
}

/// The answer of `GET /v1/producers/{name}/keys`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct KeyList {
    keys: Vec<KeyView>,
}

/// The answer of a rotation: the new key, and when the old one stops working.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Rotation {
    key: IssuedKey,
    rotated: RotatedKey,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct RotatedKey {
    id: i64,
    revoked_at_ms: i64,
}

/// A producer's grants after a change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct GrantList {
    producer: String,
    grants: Vec<String>,
}

/// The principal the request acts as.
struct Caller(Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ProducerError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| ProducerError::Store(String::from("the request has no principal")))
    }
}

fn ok<T: Serialize>(status: StatusCode, value: &T) -> Answer {
    Ok((status, axum::Json(value)).into_response())
}

fn body<T>(body: Result<axum::Json<T>, JsonRejection>) -> Result<T, ProducerError> {
    body.map(|axum::Json(v)| v)
        .map_err(|rejection| match rejection {
            JsonRejection::JsonDataError(e) => ProducerError::Invalid {
                field: String::from("body"),
                reason: e.body_text(),
            },
            other => ProducerError::BadRequest(other.body_text()),
        })
}

fn path<T>(path: Result<Path<T>, PathRejection>) -> Result<T, ProducerError> {
    path.map(|Path(v)| v)
        .map_err(|e| ProducerError::BadRequest(format!("bad path: {}", e.body_text())))
}

/// The secret must not be cached anywhere on its way to the caller.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Create a producer (admins, or members of the owning team).
#[utoipa::path(post, path = "/v1/producers", tag = PRODUCERS_TAG, operation_id = "create_producer",
    request_body = NewProducer,
    responses(
        (status = 201, description = "Created.", body = ProducerView,
            headers(("Location" = String, description = "the producer's URL"))),
        (status = 400, description = "The body is not JSON."),
        (status = 403, description = "The caller may not create producers for that team."),
        (status = 409, description = "A producer of that name exists."),
        (status = 422, description = "A field breaks a rule."),
    ),
)]
async fn create(
    State(producers): State<Arc<Producers>>,
    Caller(who): Caller,
    new: Result<axum::Json<NewProducer>, JsonRejection>,
) -> Answer {
    let created = producers.create(&who, body(new)?).await?;
    let mut response = ok(StatusCode::CREATED, &created)?;
    if let Ok(location) = format!("/v1/producers/{}", created.name).parse() {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// List the producers the caller may see.
#[utoipa::path(get, path = "/v1/producers", tag = PRODUCERS_TAG, operation_id = "list_producers",
    responses((status = 200, description = "The producers.", body = ProducerList)),
)]
async fn list(State(producers): State<Arc<Producers>>, Caller(who): Caller) -> Answer {
    let producers = producers.list(&who).await?;
    ok(StatusCode::OK, &ProducerList { producers })
}

/// One producer with its grants.
#[utoipa::path(get, path = "/v1/producers/{name}", tag = PRODUCERS_TAG, operation_id = "get_producer",
    params(ProducerPath),
    responses(
        (status = 200, description = "The producer.", body = ProducerView),
        (status = 403, description = "The caller may not see it."),
        (status = 404, description = "No such producer."),
    ),
)]
async fn describe(
    State(producers): State<Arc<Producers>>,
    Caller(who): Caller,
    name: Result<Path<String>, PathRejection>,
) -> Answer {
    ok(
        StatusCode::OK,
        &producers.describe(&who, &path(name)?).await?,
    )
}

/// A producer's keys (never their secrets).
#[utoipa::path(get, path = "/v1/producers/{name}/keys", tag = PRODUCERS_TAG, operation_id = "list_keys",
    params(ProducerPath),
    responses(
        (status = 200, description = "The keys.", body = KeyList),
        (status = 403, description = "The caller may not manage this producer."),
        (status = 404, description = "No such producer."),
    ),
)]
async fn keys(
    State(producers): State<Arc<Producers>>,
    Caller(who): Caller,
    name: Result<Path<String>, PathRejection>,
) -> Answer {
    let keys = producers.keys(&who, &path(name)?).await?;
    ok(StatusCode::OK, &KeyList { keys })
}

/// Issue a key. The secret is in this answer only; it is stored hashed.
#[utoipa::path(post, path = "/v1/producers/{name}/keys", tag = PRODUCERS_TAG, operation_id = "issue_key",
    params(ProducerPath),
    responses(
        (status = 201, description = "The new key, with its secret (`Cache-Control: no-store`).", body = IssuedKey),
        (status = 403, description = "The caller may not manage this producer."),
        (status = 404, description = "No such producer."),
    ),
)]
async fn issue(
    State(producers): State<Arc<Producers>>,
    Caller(who): Caller,
    name: Result<Path<String>, PathRejection>,
) -> Answer {
    let issued = producers.issue_key(&who, &path(name)?).await?;
    Ok(no_store(ok(StatusCode::CREATED, &issued)?))
}

/// Rotate a key: issue a new one and revoke the old one now or after a grace period.
#[utoipa::path(post, path = "/v1/producers/{name}/keys/{id}/rotate", tag = PRODUCERS_TAG, operation_id = "rotate_key",
    params(
        KeyPath,
        ("grace_seconds" = Option<u64>, Query, maximum = 604800,
            description = "How long the old key keeps working (default 0, at most a week)."),
    ),
    responses(
        (status = 201, description = "The new key, with its secret (`Cache-Control: no-store`).", body = Rotation),
        (status = 400, description = "The path or query cannot be read."),
        (status = 403, description = "The caller may not manage this producer."),
        (status = 404, description = "No such producer or key."),
        (status = 409, description = "The key is already revoked."),
        (status = 422, description = "`grace_seconds` is out of range."),
    ),
)]
async fn rotate(
    State(producers): State<Arc<Producers>>,
    Caller(who): Caller,
    target: Result<Path<(String, i64)>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Answer {
    let (name, id) = path(target)?;
    let Query(query) =
        query.map_err(|e| ProducerError::BadRequest(format!("bad query: {}", e.body_text())))?;
    let grace = match query.get("grace_seconds") {
        None => Duration::ZERO,
        Some(raw) => match raw.parse::<u64>() {
            Ok(secs) if Duration::from_secs(secs) <= MAX_GRACE => Duration::from_secs(secs),
            _ => {
                return Err(ProducerError::Invalid {
                    field: String::from("grace_seconds"),
                    reason: format!("expected 0 to {} seconds", MAX_GRACE.as_secs()),
                });
            }
        },
    };
    let (issued, revoked_at_ms) = producers.rotate_key(&who, &name, id, grace).await?;
    let answer = Rotation {
        key: issued,
        rotated: RotatedKey { id, revoked_at_ms },
    };
    Ok(no_store(ok(StatusCode::CREATED, &answer)?))
}

/// Revoke a key at once.
#[utoipa::path(delete, path = "/v1/producers/{name}/keys/{id}", tag = PRODUCERS_TAG, operation_id = "revoke_key",
    params(KeyPath),
    responses(
        (status = 204, description = "Revoked."),
        (status = 400, description = "The path cannot be read."),
        (status = 403, description = "The caller may not manage this producer."),
        (status = 404, description = "No such producer or key."),
    ),
)]
async fn revoke(
    State(producers): State<Arc<Producers>>,
    Caller(who): Caller,
    target: Result<Path<(String, i64)>, PathRejection>,
) -> Answer {
    let (name, id) = path(target)?;
    producers.revoke_key(&who, &name, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The body of `PUT /v1/producers/{name}/grants`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Grants {
    grants: Vec<String>,
}

/// Replace a producer's grants: event-type names or globs (`orders.*`).
#[utoipa::path(put, path = "/v1/producers/{name}/grants", tag = PRODUCERS_TAG, operation_id = "set_grants",
    params(ProducerPath),
    request_body = Grants,
    responses(
        (status = 200, description = "The grants now in force.", body = GrantList),
        (status = 400, description = "The body is not JSON."),
        (status = 403, description = "The caller may not manage this producer."),
        (status = 404, description = "No such producer."),
        (status = 422, description = "A grant is not a name or glob, or there are too many."),
    ),
)]
async fn grants(
    State(producers): State<Arc<Producers>>,
    Caller(who): Caller,
    name: Result<Path<String>, PathRejection>,
    new: Result<axum::Json<Grants>, JsonRejection>,
) -> Answer {
    let name = path(name)?;
    let new = body(new)?;
    let grants = producers.set_grants(&who, &name, &new.grants).await?;
    ok(
        StatusCode::OK,
        &GrantList {
            producer: name,
            grants,
        },
    )
}
