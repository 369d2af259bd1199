//! `GET /v1/search`: the catalog's search, answered from the index on the blocking pool
//! (tantivy searches are CPU work).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tributary_core::{ErrorCode, Problem};
use tributary_registry::{
    CatalogIndex, QualityBand, SearchRequest, SearchResults, problem_response,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Tag of the catalog routes in the OpenAPI description.
pub const CATALOG_TAG: &str = "catalog";
/// Hits per page unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 20;
/// Most hits per page.
const MAX_LIMIT: usize = 100;

/// The catalog's search routes.
pub fn search_routes(index: CatalogIndex) -> OpenApiRouter {
    OpenApiRouter::default()
        .routes(routes!(search))
        .with_state(index)
}

/// Search the catalog: event types by name, description, field paths and docs, tags, owners
/// and producers, typo-tolerant, names ranked first; facets for owner, tag and quality band.
#[utoipa::path(get, path = "/v1/search", tag = CATALOG_TAG, operation_id = "search_catalog",
    params(
        ("q" = Option<String>, Query, description = "Free text (no query syntax); empty lists every event type by name."),
        ("owner" = Option<String>, Query, description = "Only this team's event types."),
        ("tag" = Option<String>, Query, description = "Only event types with this tag."),
        ("quality" = Option<String>, Query, description = "Only this quality band: `good`, `fair` or `poor`."),
        ("limit" = Option<usize>, Query, description = "Hits per page, 1–100 (default 20)."),
        ("offset" = Option<usize>, Query, description = "Hits to skip."),
    ),
    responses(
        (status = 200, description = "The hits of this page and facet counts over all matches.", body = SearchResults),
        (status = 400, description = "A parameter that does not read.", content_type = "application/problem+json", body = Problem),
    ),
)]
async fn search(
    State(index): State<CatalogIndex>,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let request = match request_of(query) {
        Ok(request) => request,
        Err(detail) => return problem_response(ErrorCode::BadRequest, detail),
    };
    match tokio::task::spawn_blocking(move || index.search(&request)).await {
        Ok(Ok(results)) => (StatusCode::OK, axum::Json(results)).into_response(),
        Ok(Err(error)) => {
            tracing::error!(%error, "catalog search failed");
            problem_response(ErrorCode::Internal, format!("search failed: {error}"))
        }
        Err(error) => problem_response(ErrorCode::Internal, format!("search failed: {error}")),
    }
}

fn request_of(
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<SearchRequest, String> {
    let Query(params) = query.map_err(|e| format!("bad query string: {e}"))?;
    let text = |name: &str| params.get(name).filter(|v| !v.is_empty()).cloned();
    let number = |name: &str, default: usize| match params.get(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse::<usize>()
            .map_err(|_| format!("{name} {raw:?} is not a non-negative integer")),
    };
    let limit = number("limit", DEFAULT_LIMIT)?;
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(format!("limit must be 1 to {MAX_LIMIT}, not {limit}"));
    }
    let quality = match text("quality").as_deref() {
        None => None,
        Some("good") => Some(QualityBand::Good),
        Some("fair") => Some(QualityBand::Fair),
        Some("poor") => Some(QualityBand::Poor),
        Some(other) => {
            return Err(format!(
                "quality {other:?} is not a band: use good, fair or poor"
            ));
        }
    };
    Ok(SearchRequest {
        q: params.get("q").cloned().unwrap_or_default(),
        owner: text("owner"),
        tag: text("tag"),
        quality,
        limit,
        offset: number("offset", 0)?,
    })
}
