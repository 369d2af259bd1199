//! `/v1/replays`: create (or dry-run), list, inspect, pause, resume and cancel replay jobs.

use std::collections::HashMap;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tributary_core::{ErrorCode, PROBLEM_JSON, Problem};
use tributary_registry::{Caller, JsonBody, MAX_METADATA_BODY_BYTES};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ReplayError;
use crate::service::{Created, DryRun, JobView, ReplayRequest, ReplayService};
use crate::store::Desired;

/// Tag of the replay routes in the OpenAPI description.
pub const REPLAY_TAG: &str = "replay";
/// Jobs listed unless `limit` says otherwise, and at most.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

/// The replay routes.
pub fn replay_routes(service: ReplayService) -> OpenApiRouter {
    OpenApiRouter::default()
        .routes(routes!(create_replay, list_replays))
        .routes(routes!(get_replay))
        .routes(routes!(pause_replay))
        .routes(routes!(resume_replay))
        .routes(routes!(cancel_replay))
        .with_state(service)
        .layer(DefaultBodyLimit::max(MAX_METADATA_BODY_BYTES))
}

impl ReplayError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ReplayError::BadRequest(_) => ErrorCode::BadRequest,
            ReplayError::NotFound(_) => ErrorCode::NotFound,
            ReplayError::Forbidden(_) => ErrorCode::Forbidden,
            ReplayError::Conflict(_) => ErrorCode::Conflict,
            _ => ErrorCode::Internal,
        }
    }
}

impl IntoResponse for ReplayError {
    fn into_response(self) -> Response {
        let code = self.code();
        if code == ErrorCode::Internal {
            tracing::error!(error = %self, "replay request failed");
        }
        let problem = Problem::new(code, self.to_string());
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            [(header::CONTENT_TYPE, PROBLEM_JSON)],
            axum::Json(problem),
        )
            .into_response()
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct JobList {
    jobs: Vec<JobView>,
}

/// Start a replay of one or more event types (or of their dead letters) over a time range,
/// to a topic or to audit files; with `dry_run`, only say what it would read and emit. Only
/// the owners of every event type (or admins) may.
#[utoipa::path(post, path = "/v1/replays", tag = REPLAY_TAG, operation_id = "create_replay",
    request_body = ReplayRequest,
    responses(
        (status = 201, description = "The job, pending; the server runs it.", body = JobView),
        (status = 200, description = "Dry run: per partition the offsets it would read and the count it would emit.", body = DryRun),
        (status = 400, description = "A bad range, filter or target.", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "The caller does not own every event type.", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "An unknown event type.", content_type = "application/problem+json", body = Problem),
        (status = 409, description = "The export directory exists.", content_type = "application/problem+json", body = Problem),
        (status = 413, description = "The body is over 1 MiB.", content_type = "application/problem+json", body = Problem),
        (status = 415, description = "The body is not `application/json`.", content_type = "application/problem+json", body = Problem),
        (status = 422, description = "The body is JSON but not a replay request (an unknown or mistyped field); `field` names it.", content_type = "application/problem+json", body = Problem),
    ),
)]
async fn create_replay(
    State(service): State<ReplayService>,
    Caller(who): Caller,
    JsonBody(request): JsonBody<ReplayRequest>,
) -> Result<Response, ReplayError> {
    Ok(match service.create(&who, request).await? {
        Created::Job(view) => (StatusCode::CREATED, axum::Json(view)).into_response(),
        Created::DryRun(dry) => (StatusCode::OK, axum::Json(dry)).into_response(),
    })
}

/// Replay jobs, newest first; `event_type` keeps those reading it.
#[utoipa::path(get, path = "/v1/replays", tag = REPLAY_TAG, operation_id = "list_replays",
    params(
        ("event_type" = Option<String>, Query, description = "Only jobs reading this event type."),
        ("limit" = Option<u32>, Query, description = "At most this many (1–500, default 50)."),
    ),
    responses(
        (status = 200, description = "The jobs.", body = JobList),
        (status = 400, description = "A bad limit.", content_type = "application/problem+json", body = Problem),
    ),
)]
async fn list_replays(
    State(service): State<ReplayService>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ReplayError> {
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                ReplayError::BadRequest(format!("limit must be 1 to {MAX_LIMIT}, not {raw:?}"))
            })?,
    };
    let jobs = service
        .list(params.get("event_type").map(String::as_str), limit)
        .await?;
    Ok(axum::Json(JobList { jobs }).into_response())
}

/// A replay job: its request, state, counts and, while it runs, progress per partition with
/// rate and ETA.
#[utoipa::path(get, path = "/v1/replays/{id}", tag = REPLAY_TAG, operation_id = "get_replay",
    params(("id" = String, Path, description = "The job id.")),
    responses(
        (status = 200, description = "The job.", body = JobView),
        (status = 404, description = "No such job.", content_type = "application/problem+json", body = Problem),
    ),
)]
async fn get_replay(
    State(service): State<ReplayService>,
    Path(id): Path<String>,
) -> Result<Response, ReplayError> {
    Ok(axum::Json(service.get(&id).await?).into_response())
}

async fn change(
    service: &ReplayService,
    who: &tributary_core::Principal,
    id: &str,
    desired: Desired,
) -> Result<Response, ReplayError> {
    Ok(axum::Json(service.request(who, id, desired).await?).into_response())
}

/// Pause a job between batches (its checkpoints stay).
#[utoipa::path(post, path = "/v1/replays/{id}/pause", tag = REPLAY_TAG, operation_id = "pause_replay",
    params(("id" = String, Path, description = "The job id.")),
    responses(
        (status = 200, description = "The job.", body = JobView),
        (status = 403, description = "Not an owner.", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "No such job.", content_type = "application/problem+json", body = Problem),
        (status = 409, description = "The job already ended.", content_type = "application/problem+json", body = Problem),
    ),
)]
async fn pause_replay(
    State(service): State<ReplayService>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Response, ReplayError> {
    change(&service, &who, &id, Desired::Pause).await
}

/// Resume a paused job from its checkpoints.
#[utoipa::path(post, path = "/v1/replays/{id}/resume", tag = REPLAY_TAG, operation_id = "resume_replay",
    params(("id" = String, Path, description = "The job id.")),
    responses(
        (status = 200, description = "The job.", body = JobView),
        (status = 403, description = "Not an owner.", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "No such job.", content_type = "application/problem+json", body = Problem),
        (status = 409, description = "The job already ended.", content_type = "application/problem+json", body = Problem),
    ),
)]
async fn resume_replay(
    State(service): State<ReplayService>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Response, ReplayError> {
    change(&service, &who, &id, Desired::Run).await
}

/// Cancel a job between batches; what it already emitted stays emitted.
#[utoipa::path(post, path = "/v1/replays/{id}/cancel", tag = REPLAY_TAG, operation_id = "cancel_replay",
    params(("id" = String, Path, description = "The job id.")),
    responses(
        (status = 200, description = "The job.", body = JobView),
        (status = 403, description = "Not an owner.", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "No such job.", content_type = "application/problem+json", body = Problem),
        (status = 409, description = "The job already ended.", content_type = "application/problem+json", body = Problem),
    ),
)]
async fn cancel_replay(
    State(service): State<ReplayService>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Response, ReplayError> {
    change(&service, &who, &id, Desired::Cancel).await
}
