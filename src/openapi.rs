//! `/openapi.json`: the OpenAPI 3.1 document of the native API, assembled from the routers
//! themselves. Every `/v1` route is registered with `utoipa_axum::routes!`, which documents
//! the handler's `#[utoipa::path]` in the same call that routes it, so a route cannot be
//! served without being documented.
//!
//! What the handlers' attributes do not say is added here once, for every operation: the
//! error contract (problem+json bodies with a stable `code`, and the 400 / 401 / 500 / 503
//! any `/v1` request can get from the middleware) and the authentication schemes.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tributary_core::{ErrorCode, MAX_PARTY_NAME_LEN, PRINCIPAL_HEADER, PROBLEM_JSON, Problem};
use utoipa::openapi::path::{Operation, Parameter};
use utoipa::openapi::response::Response as ResponseDoc;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr};
use utoipa::{OpenApi as _, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Security scheme names.
const BEARER: &str = "api_key";
const BASIC: &str = "basic";

const DESCRIPTION: &str = "\
Tributary's native HTTP API: publishing and validating events, event types and their schemas, \
producers and their API keys.

**Errors** under `/v1` are `application/problem+json` (RFC 9457) with a stable `code`; match on \
the code, not the message. Besides the statuses each operation lists, any `/v1` request may get \
400 (a malformed `Tributary-Principal` header), 401 (API keys on, no valid key), 500 and 503.

**Authentication**: with `[auth] mode = \"keys\"` every request except `/healthz` and `/readyz` \
carries an API key, as `Authorization: Bearer <key>` or as the password of HTTP Basic. With auth \
off (allowed only on loopback) no credentials are needed and `Tributary-Principal` names the \
caller (`admin`, `team:NAME`, `producer:NAME`; none means the local admin).

**Confluent Schema Registry API**: the root paths `/subjects`, `/schemas`, `/config`, `/mode`, \
`/compatibility` and `/contexts` serve Confluent's REST API with Confluent's bodies and error \
codes, so that Confluent clients work unchanged. They are not described here: Confluent's API \
reference is their contract, and the test suite checks them against Confluent's own clients.";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Tributary",
        description = DESCRIPTION,
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "events", description = "Publish and validate events."),
        (name = "event-types", description = "Event types: owners, metadata, schemas, audit log."),
        (name = "producers", description = "Producers, their API keys and grants."),
        (name = "quality", description = "Quality rules, scores, history and alerts."),
        (name = "catalog", description = "Search the catalog of event types."),
        (name = "replay", description = "Replay jobs: re-emit retained events or dead letters to a topic or audit files."),
        (name = "operations", description = "Health, readiness, metrics and this document."),
    ),
    components(schemas(Problem)),
)]
struct Base;

/// The document every router merges into: info, tags, the `Problem` schema and the security
/// schemes.
pub(crate) fn base() -> OpenApi {
    let mut doc = Base::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let components = doc.components.get_or_insert_with(Default::default);
    let mut bearer = Http::new(HttpAuthScheme::Bearer);
    bearer.description = Some(String::from("An API key (`trb_…`), or the admin key."));
    components.add_security_scheme(BEARER, SecurityScheme::Http(bearer));
    let mut basic = Http::new(HttpAuthScheme::Basic);
    basic.description = Some(String::from(
        "Any user name, the API key as the password (Confluent's `basic.auth.user.info`).",
    ));
    components.add_security_scheme(BASIC, SecurityScheme::Http(basic));
    doc.security = Some(vec![
        SecurityRequirement::new(BEARER, Vec::<String>::new()),
        SecurityRequirement::new(BASIC, Vec::<String>::new()),
        // Auth off: no credentials.
        SecurityRequirement::default(),
    ]);
    doc
}

/// The serialized document, set once the routers are assembled.
type Served = Arc<OnceLock<String>>;

/// Splits the assembled routers into the axum router and the document, completes the document
/// with the error contract and serves it at `/openapi.json`.
pub(crate) fn serve(api: OpenApiRouter) -> Router {
    let served = Served::default();
    let (router, doc) = api
        .merge(
            OpenApiRouter::default()
                .routes(routes!(openapi_json))
                .with_state(served.clone()),
        )
        .split_for_parts();
    let text = finish(doc).to_json().unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot serialize the OpenAPI document");
        String::from("{}")
    });
    let _ = served.set(text);
    router
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", operation_id = "openapi",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of the native API.",
            content_type = "application/json", body = Object),
        (status = 401, description = "API keys are on and the request has no valid key (Confluent's error body)."),
    ),
)]
async fn openapi_json(State(served): State<Served>) -> Response {
    let text = served.get().cloned().unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// Adds what every `/v1` operation shares: the `Tributary-Principal` header, the statuses the
/// middleware may answer, and problem+json bodies on every error status.
pub(crate) fn finish(mut doc: OpenApi) -> OpenApi {
    for (path, item) in doc.paths.paths.iter_mut() {
        if !path.starts_with("/v1/") {
            continue;
        }
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            complete(operation);
        }
    }
    doc
}

/// Statuses any `/v1` request may get before (or regardless of) its handler.
const COMMON: [(ErrorCode, &str); 4] = [
    (
        ErrorCode::BadRequest,
        "The request cannot be read (for example a malformed `Tributary-Principal` header).",
    ),
    (
        ErrorCode::Unauthenticated,
        "API keys are on and the request has no valid key.",
    ),
    (ErrorCode::Internal, "The server failed; this is a bug."),
    (
        ErrorCode::Unavailable,
        "A dependency (the event log, the metadata store, key verification) cannot answer now; retry.",
    ),
];

fn complete(operation: &mut Operation) {
    let principal: Parameter = serde_json::from_value(json!({
        "name": PRINCIPAL_HEADER,
        "in": "header",
        "required": false,
        "description": "With auth off only: the caller, `admin`, `team:NAME` or `producer:NAME` (default: the local admin). Ignored when API keys are on.",
        "schema": {
            "type": "string",
            "maxLength": MAX_PARTY_NAME_LEN + "producer:".len(),
            "pattern": "^(admin|(team|producer):[a-z0-9][a-z0-9_.-]*)$",
        },
    }))
    .expect("a valid parameter literal");
    operation
        .parameters
        .get_or_insert_with(Vec::new)
        .push(RefOr::T(principal));
    for (code, description) in COMMON {
        operation
            .responses
            .responses
            .entry(code.http_status().to_string())
            .or_insert_with(|| RefOr::T(ResponseDoc::new(description)));
    }
    for (status, response) in operation.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        let error = status.starts_with('4') || status.starts_with('5');
        if error && response.content.is_empty() {
            let problem = Ref::from_schema_name(Problem::name());
            response.content.insert(
                PROBLEM_JSON.to_owned(),
                RefOr::T(Content::new(Some(RefOr::Ref(problem)))),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;

    #[test]
    fn errors_become_problems() {
        let mut operation = Operation::default();
        operation
            .responses
            .responses
            .insert(String::from("404"), RefOr::T(ResponseDoc::new("gone")));
        complete(&mut operation);
        let value = serde_json::to_value(&operation).unwrap();
        for status in ["400", "401", "404", "500", "503"] {
            assert_eq!(
                value["responses"][status]["content"][PROBLEM_JSON]["schema"]["$ref"],
                "#/components/schemas/Problem",
                "{status}"
            );
        }
        assert_eq!(value["parameters"][0]["name"], PRINCIPAL_HEADER);
    }

    #[test]
    fn problem_schema_names_every_field() {
        let documented = serde_json::to_value(Problem::schema()).unwrap();
        let actual = serde_json::to_value(Problem::new(ErrorCode::NotFound, "x")).unwrap();
        let mut fields: Vec<&String> = actual.as_object().unwrap().keys().collect();
        let mut required: Vec<String> = documented["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        fields.sort();
        required.sort();
        assert_eq!(fields, required.iter().collect::<Vec<_>>());
    }
}
