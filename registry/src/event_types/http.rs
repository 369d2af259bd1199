//! The native `/v1/event-types` routes, their extractors, and the principal middleware.
//!
//! Handlers are thin: extract, call one [`EventTypes`] method, shape the answer. Every
//! refusal, including a malformed body, path or query, is problem+json.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tributary_core::{
    AuthMode, Authentication, ErrorCode, PRINCIPAL_HEADER, PROBLEM_JSON, Principal, Problem,
};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::schema::{SchemaReference, SchemaType};
use crate::store::NewSchema;

use super::error::EventTypeError;
use super::model::{EventTypePatch, NewEventType};
use super::openapi::{
    AuditList, EVENT_TYPES_TAG, EventTypeList, EventTypePatchDoc, EventTypePath, EventTypeViewDoc,
    NewEventTypeDoc, PiiBodyDoc, PiiMarks, RegisteredVersionDoc, SchemaBodyDoc, SchemaVersions,
};
use super::service::EventTypes;

/// Largest metadata body (create, patch).
pub const MAX_METADATA_BODY_BYTES: usize = 1024 * 1024;

/// Most audit entries one request may ask for, and the number answered by default.
const MAX_AUDIT_LIMIT: u32 = 1000;
const DEFAULT_AUDIT_LIMIT: u32 = 100;

type Answer = Result<Response, EventTypeError>;

/// The `/v1/event-types` routes and their OpenAPI description (no fallback, no principal
/// layer).
pub(crate) fn routes(event_types: EventTypes) -> OpenApiRouter {
    let (schemas_docs, schemas_paths, schemas_routes) = routes!(schemas, register);
    let schema_routes = (
        schemas_docs,
        schemas_paths,
        schemas_routes.layer(DefaultBodyLimit::max(crate::api::MAX_BODY_BYTES)),
    );
    OpenApiRouter::default()
        .routes(routes!(list, create))
        .routes(routes!(describe, update, delete))
        .routes(routes!(audit))
        .routes(routes!(get_pii, put_pii))
        .routes(schema_routes)
        .layer(DefaultBodyLimit::max(MAX_METADATA_BODY_BYTES))
        .with_state(event_types)
}

/// Middleware: puts the request's [`Principal`] in its extensions. With auth off the
/// caller is read from the `Tributary-Principal` header (a malformed one is a 400), and is
/// the unauthenticated local admin when there is none. In keys mode use [`authenticate`]:
/// here, without a key verifier, every keyed request is refused.
pub async fn identify(State(mode): State<AuthMode>, request: Request, next: Next) -> Response {
    authenticate(State(Authentication::from(mode)), request, next).await
}

/// Paths answered without a principal in keys mode, so load balancers can probe.
const OPEN_PATHS: [&str; 2] = ["/healthz", "/readyz"];

/// Middleware: [`identify`] for every [`AuthMode`]. In keys mode the request must carry an API
/// key, `Authorization: Bearer <key>` or HTTP Basic with the key as the password (any user
/// name: Confluent clients send `basic.auth.user.info`). A missing, unknown or revoked key is a
/// 401 — problem+json under `/v1`, Confluent's `{"error_code":40101}` elsewhere. The verified
/// principal, and a producer's [`tributary_core::PublishGrants`], go in the extensions.
pub async fn authenticate(
    State(auth): State<Authentication>,
    mut request: Request,
    next: Next,
) -> Response {
    let principal = match auth.mode {
        AuthMode::Off => match request.headers().get(PRINCIPAL_HEADER) {
            None => Ok(Principal::local_admin()),
            Some(value) => match value.to_str() {
                Ok(text) => Principal::from_header(text)
                    .map_err(|e| format!("bad {PRINCIPAL_HEADER} header: {e}")),
                Err(_) => Err(format!("{PRINCIPAL_HEADER} header is not visible ASCII")),
            },
        },
        AuthMode::Keys => {
            let path = request.uri().path().to_owned();
            if OPEN_PATHS.contains(&path.as_str()) {
                return next.run(request).await;
            }
            let Some(key) = presented_key(request.headers()) else {
                return unauthenticated(
                    &path,
                    "an API key is required: send `Authorization: Bearer <key>` (or HTTP Basic with the key as the password)",
                );
            };
            let Some(verifier) = auth.keys.as_ref() else {
                return unauthenticated(&path, "API keys cannot be verified by this server");
            };
            match verifier.verify(&key).await {
                Ok(Some(found)) => {
                    if let Some(grants) = found.grants {
                        request.extensions_mut().insert(grants);
                    }
                    Ok(found.principal)
                }
                Ok(None) => {
                    return unauthenticated(&path, "the API key is unknown or revoked");
                }
                Err(reason) => {
                    tracing::warn!(%reason, "cannot verify an API key");
                    let body = Problem::new(
                        ErrorCode::Unavailable,
                        "cannot verify the API key now; retry",
                    );
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [(header::CONTENT_TYPE, PROBLEM_JSON)],
                        axum::Json(body),
                    )
                        .into_response();
                }
            }
        }
    };
    match principal {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(reason) => EventTypeError::BadRequest(reason).into_response(),
    }
}

/// The API key of a request: a bearer token, or the password of HTTP Basic.
fn presented_key(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return (!rest.is_empty()).then(|| rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = String::from_utf8(base64_decode(rest)?).ok()?;
        let (_, password) = decoded.split_once(':')?;
        return (!password.is_empty()).then(|| password.to_owned());
    }
    None
}

/// Standard base64 (padding optional); `None` when malformed.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0u32;
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

/// 401 with a challenge: problem+json under `/v1`, Confluent's body elsewhere.
fn unauthenticated(path: &str, detail: &str) -> Response {
    let challenge = [(
        header::WWW_AUTHENTICATE,
        "Bearer realm=\"tributary\", Basic realm=\"tributary\"",
    )];
    if path == "/v1" || path.starts_with("/v1/") {
        let body = Problem::new(ErrorCode::Unauthenticated, detail);
        (
            StatusCode::UNAUTHORIZED,
            challenge,
            [(header::CONTENT_TYPE, PROBLEM_JSON)],
            axum::Json(body),
        )
            .into_response()
    } else if path == "/ui" || path.starts_with("/ui/") {
        // A browser asks for the key (any user name, the key as the password) and shows this
        // page when the prompt is cancelled.
        let detail = detail
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let page = format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in · Tributary</title></head><body><main><h1>Sign in</h1><p>{detail}.</p><p>Enter any user name and your API key as the password.</p></main></body></html>"
        );
        (
            StatusCode::UNAUTHORIZED,
            challenge,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            page,
        )
            .into_response()
    } else {
        let body = json!({ "error_code": 40101, "message": detail });
        (StatusCode::UNAUTHORIZED, challenge, axum::Json(body)).into_response()
    }
}

/// A `/v1` problem+json answer with the status of `code`: for routes whose errors are not
/// one of the crates' error enums (the fallback, small routes of the binary and the UI crate).
pub fn problem_response(code: ErrorCode, detail: impl Into<String>) -> Response {
    let body = Problem::new(code, detail);
    let status = StatusCode::from_u16(body.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, PROBLEM_JSON)],
        axum::Json(body),
    )
        .into_response()
}

/// The principal the request acts as; refused (500) when no middleware identified it.
#[derive(Debug)]
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = EventTypeError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller)
            .ok_or(EventTypeError::NoPrincipal)
    }
}

/// A JSON body: media type checked, size limited, errors answered as problems naming the
/// field (422) or the syntax error (400).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = EventTypeError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(declared) = request.headers().get(header::CONTENT_TYPE) {
            let declared = declared.to_str().unwrap_or_default();
            let media = declared.split(';').next().unwrap_or_default().trim();
            let json = media.eq_ignore_ascii_case("application/json")
                || media.to_ascii_lowercase().ends_with("+json");
            if !json {
                return Err(EventTypeError::UnsupportedMediaType(media.to_owned()));
            }
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    EventTypeError::PayloadTooLarge
                } else {
                    EventTypeError::BadRequest(format!("cannot read the request body: {rejection}"))
                }
            })?;
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value: T = match serde_path_to_error::deserialize(&mut deserializer) {
            Ok(value) => value,
            Err(error) => {
                let path = error.path().to_string();
                let inner = error.into_inner();
                if inner.classify() != serde_json::error::Category::Data {
                    return Err(EventTypeError::BadRequest(format!(
                        "request body is not valid JSON: {inner}"
                    )));
                }
                let field = if path == "." || path.is_empty() {
                    String::from("body")
                } else {
                    path
                };
                return Err(EventTypeError::Invalid {
                    field,
                    reason: inner.to_string(),
                });
            }
        };
        deserializer.end().map_err(|e| {
            EventTypeError::BadRequest(format!("request body is not valid JSON: {e}"))
        })?;
        Ok(JsonBody(value))
    }
}

/// The event-type name in the path.
#[derive(Debug)]
pub(crate) struct Name(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for Name {
    type Rejection = EventTypeError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(name)) => Ok(Name(name)),
            Err(rejection) => Err(EventTypeError::BadRequest(format!("bad path: {rejection}"))),
        }
    }
}

/// Query parameters by name.
#[derive(Debug, Default)]
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    fn text(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = EventTypeError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<HashMap<String, String>>::from_request_parts(parts, state).await {
            Ok(Query(values)) => Ok(Params(values)),
            Err(rejection) => Err(EventTypeError::BadRequest(format!(
                "invalid query string: {rejection}"
            ))),
        }
    }
}

fn ok<T: Serialize>(status: StatusCode, value: &T) -> Answer {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| EventTypeError::Store(format!("cannot encode the answer: {e}")))?;
    Ok((status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

/// Create an event type, and its topic in the event log.
#[utoipa::path(post, path = "/v1/event-types", tag = EVENT_TYPES_TAG, operation_id = "create_event_type",
    request_body = NewEventTypeDoc,
    responses(
        (status = 201, description = "Created.", body = EventTypeViewDoc,
            headers(("Location" = String, description = "the event type's URL"))),
        (status = 400, description = "The body is not JSON."),
        (status = 403, description = "The caller may not create event types for that team."),
        (status = 409, description = "The event type exists, or its topic exists with other settings."),
        (status = 413, description = "The body is over 1 MiB."),
        (status = 415, description = "The body is not `application/json`."),
        (status = 422, description = "A field breaks a rule; `field` names it."),
        (status = 503, description = "The event log cannot create the topic now."),
    ),
)]
async fn create(
    State(service): State<EventTypes>,
    Caller(who): Caller,
    JsonBody(body): JsonBody<NewEventType>,
) -> Answer {
    let created = service.create(&who, body).await?;
    let view = service.describe(created.name.as_str()).await?;
    let mut response = ok(StatusCode::CREATED, &view)?;
    if let Ok(location) = format!("/v1/event-types/{}", created.name).parse() {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// List live event types, optionally by owner or tag.
#[utoipa::path(get, path = "/v1/event-types", tag = EVENT_TYPES_TAG, operation_id = "list_event_types",
    params(
        ("owner" = Option<String>, Query, description = "Only this team's event types."),
        ("tag" = Option<String>, Query, description = "Only event types with this tag."),
    ),
    responses(
        (status = 200, description = "The event types (without `latest_schema`).", body = EventTypeList),
        (status = 400, description = "The query cannot be read."),
    ),
)]
async fn list(State(service): State<EventTypes>, params: Params) -> Answer {
    let found = service
        .list(params.text("owner"), params.text("tag"))
        .await?;
    ok(StatusCode::OK, &json!({ "event_types": found }))
}

/// One event type with its topic, subject and latest schema.
#[utoipa::path(get, path = "/v1/event-types/{name}", tag = EVENT_TYPES_TAG, operation_id = "get_event_type",
    params(EventTypePath),
    responses(
        (status = 200, description = "The event type.", body = EventTypeViewDoc),
        (status = 404, description = "No such event type."),
    ),
)]
async fn describe(State(service): State<EventTypes>, Name(name): Name) -> Answer {
    ok(StatusCode::OK, &service.describe(&name).await?)
}

/// Change an event type's metadata (its owners or an admin).
#[utoipa::path(patch, path = "/v1/event-types/{name}", tag = EVENT_TYPES_TAG, operation_id = "update_event_type",
    params(EventTypePath),
    request_body = EventTypePatchDoc,
    responses(
        (status = 200, description = "The event type as changed.", body = EventTypeViewDoc),
        (status = 400, description = "The body is not JSON."),
        (status = 403, description = "The caller does not own the event type."),
        (status = 404, description = "No such event type."),
        (status = 409, description = "It kept changing meanwhile; retry."),
        (status = 413, description = "The body is over 1 MiB."),
        (status = 415, description = "The body is not `application/json`."),
        (status = 422, description = "A field breaks a rule; `field` names it."),
    ),
)]
async fn update(
    State(service): State<EventTypes>,
    Caller(who): Caller,
    Name(name): Name,
    JsonBody(patch): JsonBody<EventTypePatch>,
) -> Answer {
    service.update(&who, &name, patch).await?;
    ok(StatusCode::OK, &service.describe(&name).await?)
}

/// Delete an event type (its owners or an admin). Its topic and schemas stay.
#[utoipa::path(delete, path = "/v1/event-types/{name}", tag = EVENT_TYPES_TAG, operation_id = "delete_event_type",
    params(EventTypePath),
    responses(
        (status = 204, description = "Deleted."),
        (status = 403, description = "The caller does not own the event type."),
        (status = 404, description = "No such event type."),
        (status = 409, description = "It kept changing meanwhile; retry."),
    ),
)]
async fn delete(
    State(service): State<EventTypes>,
    Caller(who): Caller,
    Name(name): Name,
) -> Answer {
    service.delete(&who, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The audit log of an event type, newest first.
#[utoipa::path(get, path = "/v1/event-types/{name}/audit", tag = EVENT_TYPES_TAG, operation_id = "event_type_audit",
    params(
        EventTypePath,
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "At most this many entries (default 100)."),
    ),
    responses(
        (status = 200, description = "The entries.", body = AuditList),
        (status = 404, description = "No such event type."),
        (status = 422, description = "`limit` is out of range."),
    ),
)]
async fn audit(State(service): State<EventTypes>, Name(name): Name, params: Params) -> Answer {
    let limit = match params.text("limit") {
        None => DEFAULT_AUDIT_LIMIT,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=MAX_AUDIT_LIMIT).contains(&n) => n,
            _ => {
                return Err(EventTypeError::Invalid {
                    field: String::from("limit"),
                    reason: format!("{text:?} is not a number from 1 to {MAX_AUDIT_LIMIT}"),
                });
            }
        },
    };
    let entries = service.audit(&name, limit).await?;
    ok(StatusCode::OK, &json!({ "entries": entries }))
}

/// The body of `PUT /v1/event-types/{name}/pii`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PiiBody {
    pointers: Vec<String>,
}

/// The fields of an event type marked as personal data (PII), sorted by pointer.
#[utoipa::path(get, path = "/v1/event-types/{name}/pii", tag = EVENT_TYPES_TAG, operation_id = "get_pii_marks",
    params(EventTypePath),
    responses(
        (status = 200, description = "The marks.", body = PiiMarks),
        (status = 404, description = "No such event type."),
    ),
)]
async fn get_pii(State(service): State<EventTypes>, Name(name): Name) -> Answer {
    let marks = service.pii_marks(&name).await?;
    ok(StatusCode::OK, &json!({ "pointers": marks }))
}

/// Replace the fields of an event type marked as personal data (its owners or an admin).
/// Sample events and dead-letter examples show them as `"[redacted]"`.
#[utoipa::path(put, path = "/v1/event-types/{name}/pii", tag = EVENT_TYPES_TAG, operation_id = "put_pii_marks",
    params(EventTypePath),
    request_body = PiiBodyDoc,
    responses(
        (status = 200, description = "The marks as stored; marks that stayed keep who marked them and when.", body = PiiMarks),
        (status = 400, description = "The body is not JSON."),
        (status = 403, description = "The caller does not own the event type."),
        (status = 404, description = "No such event type."),
        (status = 413, description = "The body is over 1 MiB."),
        (status = 415, description = "The body is not `application/json`."),
        (status = 422, description = "A pointer is not a field pointer, or there are over 1,000; `field` names it."),
    ),
)]
async fn put_pii(
    State(service): State<EventTypes>,
    Caller(who): Caller,
    Name(name): Name,
    JsonBody(body): JsonBody<PiiBody>,
) -> Answer {
    let marks = service.set_pii_marks(&who, &name, body.pointers).await?;
    ok(StatusCode::OK, &json!({ "pointers": marks }))
}

/// A schema to register: `schema` as text, or as the JSON document itself.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SchemaBody {
    schema: Value,
    #[serde(default, alias = "schema_type")]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<ReferenceBody>,
    #[serde(default)]
    normalize: bool,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReferenceBody {
    name: String,
    subject: String,
    version: i32,
}

impl SchemaBody {
    fn into_new(self) -> Result<(NewSchema, bool), EventTypeError> {
        let schema_type = match self.schema_type.as_deref() {
            None => SchemaType::Avro,
            Some(text) => text
                .parse::<SchemaType>()
                .map_err(|e| EventTypeError::Invalid {
                    field: String::from("schemaType"),
                    reason: e.to_string(),
                })?,
        };
        let schema = match self.schema {
            Value::String(text) => text,
            other => other.to_string(),
        };
        let references = self
            .references
            .into_iter()
            .map(|r| SchemaReference {
                name: r.name,
                subject: r.subject,
                version: r.version,
            })
            .collect();
        Ok((
            NewSchema {
                schema_type,
                schema,
                references,
            },
            self.normalize,
        ))
    }
}

/// Register a schema version for an event type (its owners or an admin), checked against the
/// subject's compatibility level.
#[utoipa::path(post, path = "/v1/event-types/{name}/schemas", tag = EVENT_TYPES_TAG, operation_id = "register_schema",
    params(EventTypePath),
    request_body = SchemaBodyDoc,
    responses(
        (status = 200, description = "Already registered: nothing changed.", body = RegisteredVersionDoc),
        (status = 201, description = "Registered as a new version.", body = RegisteredVersionDoc),
        (status = 400, description = "The body is not JSON."),
        (status = 403, description = "The caller does not own the event type."),
        (status = 404, description = "No such event type."),
        (status = 409, description = "Incompatible with earlier versions; `incompatibilities` lists why."),
        (status = 413, description = "The body is over 16 MiB."),
        (status = 415, description = "The body is not `application/json`."),
        (status = 422, description = "The schema is invalid, or a field breaks a rule."),
    ),
)]
async fn register(
    State(service): State<EventTypes>,
    Caller(who): Caller,
    Name(name): Name,
    JsonBody(body): JsonBody<SchemaBody>,
) -> Answer {
    let (new, normalize) = body.into_new()?;
    let registered = service
        .register_schema(&who, &name, &new, normalize)
        .await?;
    let status = if registered.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    ok(status, &registered)
}

#[derive(Debug, Serialize)]
struct VersionOut {
    version: i32,
    id: u32,
    schema_type: &'static str,
    schema: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    references: Vec<ReferenceBody>,
}

/// The schema versions of an event type.
#[utoipa::path(get, path = "/v1/event-types/{name}/schemas", tag = EVENT_TYPES_TAG, operation_id = "list_schemas",
    params(EventTypePath),
    responses(
        (status = 200, description = "The versions, oldest first.", body = SchemaVersions),
        (status = 404, description = "No such event type."),
    ),
)]
async fn schemas(State(service): State<EventTypes>, Name(name): Name) -> Answer {
    let (subject, versions) = service.schema_versions(&name).await?;
    let versions: Vec<VersionOut> = versions
        .into_iter()
        .map(|v| VersionOut {
            version: v.version,
            id: v.schema.id,
            schema_type: v.schema.schema_type.as_str(),
            schema: v.schema.schema,
            references: v
                .schema
                .references
                .into_iter()
                .map(|r| ReferenceBody {
                    name: r.name,
                    subject: r.subject,
                    version: r.version,
                })
                .collect(),
        })
        .collect();
    ok(
        StatusCode::OK,
        &json!({ "subject": subject, "versions": versions }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(authorization: &str) -> Option<String> {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(header::AUTHORIZATION, authorization.parse().unwrap());
        presented_key(&headers)
    }

    #[test]
    fn keys_come_from_bearer_or_basic() {
        assert_eq!(key_of("Bearer trb_abc").as_deref(), Some("trb_abc"));
        assert_eq!(key_of("bearer  trb_abc ").as_deref(), Some("trb_abc"));
        // "checkout:trb_abc" and ":s3cr:et" in base64.
        assert_eq!(
            key_of("Basic Y2hlY2tvdXQ6dHJiX2FiYw==").as_deref(),
            Some("trb_abc")
        );
        assert_eq!(key_of("Basic OnMzY3I6ZXQ").as_deref(), Some("s3cr:et"));
        for bad in [
            "Bearer",
            "Bearer ",
            "Basic !!!",
            "Basic Y2hlY2tvdXQ=",
            "Token x",
        ] {
            assert_eq!(key_of(bad), None, "{bad:?}");
        }
        assert_eq!(presented_key(&axum::http::HeaderMap::new()), None);
    }
}
