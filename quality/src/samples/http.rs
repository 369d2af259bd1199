//! The catalog-data routes: samples and dead-letter reasons of an event type. Read by anyone
//! who may read the catalog (like the quality reports); answered only for live event types.

use std::collections::HashMap;

use axum::extract::{Query, State};
use serde_json::json;
use tributary_core::Database;
use tributary_registry::EventTypes;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{DeadLetterReason, Sample, Samples};
use crate::QualityError;
use crate::http::{Answer, QUALITY_TAG, TypeName, ok};

const DEFAULT_REASONS_LIMIT: u32 = 10;
const MAX_REASONS_LIMIT: u32 = 100;

/// What the catalog-data routes need.
#[derive(Debug, Clone)]
pub(crate) struct SamplesService {
    samples: Samples,
    event_types: EventTypes,
}

impl SamplesService {
    pub(crate) fn new(db: Database, event_types: EventTypes) -> SamplesService {
        SamplesService {
            samples: Samples::new(db),
            event_types,
        }
    }
}

/// The answer of `GET /v1/event-types/{name}/samples`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only
struct SampleList {
    /// Every schema version, newest first: at most 5 per version.
    samples: Vec<Sample>,
}

/// The answer of `GET /v1/event-types/{name}/dead-letters/reasons`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only
struct DeadLetterReasonList {
    /// Most frequent first.
    reasons: Vec<DeadLetterReason>,
}

/// The catalog-data routes and their OpenAPI description.
pub(crate) fn samples_routes(service: SamplesService) -> OpenApiRouter {
    OpenApiRouter::default()
        .routes(routes!(samples))
        .routes(routes!(dead_letter_reasons))
        .with_state(service)
}

/// Recent accepted events of an event type, PII fields redacted.
#[utoipa::path(get, path = "/v1/event-types/{name}/samples", tag = QUALITY_TAG, operation_id = "event_type_samples",
    params(("name" = String, Path, description = "The event type.")),
    responses(
        (status = 200, description = "The samples: up to 5 per schema version, at most one per second per gateway instance, newest first.", body = SampleList),
        (status = 404, description = "No such event type."),
    ),
)]
async fn samples(State(service): State<SamplesService>, TypeName(name): TypeName) -> Answer {
    service.event_types.get(&name).await?;
    ok(&json!({ "samples": service.samples.recent(&name).await? }))
}

/// Why events of an event type were rejected, most frequent reason first, with the latest
/// example of each (PII fields redacted).
#[utoipa::path(get, path = "/v1/event-types/{name}/dead-letters/reasons", tag = QUALITY_TAG, operation_id = "event_type_dead_letter_reasons",
    params(
        ("name" = String, Path, description = "The event type."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "At most this many reasons (default 10)."),
    ),
    responses(
        (status = 200, description = "The reasons with their counts and examples.", body = DeadLetterReasonList),
        (status = 400, description = "`limit` is not a number from 1 to 100."),
        (status = 404, description = "No such event type."),
    ),
)]
async fn dead_letter_reasons(
    State(service): State<SamplesService>,
    TypeName(name): TypeName,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let Query(params) =
        query.map_err(|e| QualityError::BadRequest(format!("invalid query string: {e}")))?;
    let limit = match params.get("limit").map(String::as_str) {
        None | Some("") => DEFAULT_REASONS_LIMIT,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=MAX_REASONS_LIMIT).contains(&n) => n,
            _ => {
                return Err(QualityError::BadRequest(format!(
                    "limit: {text:?} is not a number from 1 to {MAX_REASONS_LIMIT}"
                )));
            }
        },
    };
    service.event_types.get(&name).await?;
    let reasons = service.samples.dead_letter_reasons(&name, limit).await?;
    ok(&json!({ "reasons": reasons }))
}
