//! The `/v1/producers` routes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tributary_core::Principal;

use super::error::ProducerError;
use super::store::{MAX_GRACE, NewProducer, Producers};

type Answer = Result<Response, ProducerError>;

/// The `/v1/producers` routes. Requests must pass through the principal middleware first.
pub fn producer_routes(producers: Arc<Producers>) -> Router {
    Router::new()
        .route("/v1/producers", get(list).post(create))
        .route("/v1/producers/{name}", get(describe))
        .route("/v1/producers/{name}/keys", get(keys).post(issue))
        .route(
            "/v1/producers/{name}/keys/{id}",
            axum::routing::delete(revoke),
        )
        .route("/v1/producers/{name}/keys/{id}/rotate", post(rotate))
        .route("/v1/producers/{name}/grants", put(grants))
        .with_state(producers)
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

async fn list(State(producers): State<Arc<Producers>>, Caller(who): Caller) -> Answer {
    ok(
        StatusCode::OK,
        &json!({ "producers": producers.list(&who).await? }),
    )
}

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

async fn keys(
    State(producers): State<Arc<Producers>>,
    Caller(who): Caller,
    name: Result<Path<String>, PathRejection>,
) -> Answer {
    let name = path(name)?;
    ok(
        StatusCode::OK,
        &json!({ "keys": producers.keys(&who, &name).await? }),
    )
}

async fn issue(
    State(producers): State<Arc<Producers>>,
    Caller(who): Caller,
    name: Result<Path<String>, PathRejection>,
) -> Answer {
    let issued = producers.issue_key(&who, &path(name)?).await?;
    Ok(no_store(ok(StatusCode::CREATED, &issued)?))
}

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
    let answer = json!({
        "key": issued,
        "rotated": { "id": id, "revoked_at_ms": revoked_at_ms },
    });
    Ok(no_store(ok(StatusCode::CREATED, &answer)?))
}

async fn revoke(
    State(producers): State<Arc<Producers>>,
    Caller(who): Caller,
    target: Result<Path<(String, i64)>, PathRejection>,
) -> Answer {
    let (name, id) = path(target)?;
    producers.revoke_key(&who, &name, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Grants {
    grants: Vec<String>,
}

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
        &json!({ "producer": name, "grants": grants }),
    )
}
