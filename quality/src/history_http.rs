//! The quality routes: reports over the history, the overview, and alert settings and
//! states. Handlers are thin: extract, call one function, shape the answer; every refusal
//! is problem+json.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use serde_json::json;
use tributary_core::Database;
use tributary_registry::{Caller, EventTypes, JsonBody};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::QualityError;
use crate::alerts::{AlertOptions, AlertSettings, Alerts};
use crate::history::{By, History, HistoryOptions, now_ms};
use crate::http::{Answer, QUALITY_TAG, TypeName, ok};
use crate::samples::{SamplesService, samples_routes};

/// The longest range a report or overview may cover.
pub const MAX_RANGE_MS: i64 = 400 * 86_400_000;
const DEFAULT_RANGE_MS: i64 = 3_600_000;
const DEFAULT_OVERVIEW_LIMIT: usize = 50;
const MAX_OVERVIEW_LIMIT: usize = 1000;

/// What the quality routes need.
#[derive(Debug, Clone)]
pub struct HistoryService {
    history: History,
    alerts: Alerts,
    event_types: EventTypes,
    samples: SamplesService,
}

impl HistoryService {
    /// `options` tells reports when minutes become hours.
    pub fn new(db: Database, event_types: EventTypes, options: &HistoryOptions) -> Self {
        HistoryService {
            history: History::with_options(db.clone(), options),
            alerts: Alerts::new(db.clone(), AlertOptions::default()),
            samples: SamplesService::new(db, event_types.clone()),
            event_types,
        }
    }
}

/// The quality routes and their OpenAPI description, with the catalog-data routes (samples
/// and dead-letter reasons of an event type).
pub fn history_routes(service: HistoryService) -> OpenApiRouter {
    let samples = samples_routes(service.samples.clone());
    OpenApiRouter::default()
        .routes(routes!(report))
        .routes(routes!(overview))
        .routes(routes!(get_alerts, put_alerts))
        .routes(routes!(alert_states))
        .with_state(service)
        .merge(samples)
}

/// Query parameters by name.
#[derive(Debug, Default)]
struct Params(HashMap<String, String>);

impl Params {
    fn text(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `from` and `to` (default: the last hour), checked.
    fn range(&self, now: i64) -> Result<(i64, i64), QualityError> {
        let to = match self.text("to") {
            Some(text) => parse_time("to", text, now)?,
            None => now,
        };
        let from = match self.text("from") {
            Some(text) => parse_time("from", text, now)?,
            None => to - DEFAULT_RANGE_MS,
        };
        if from >= to {
            return Err(QualityError::BadRequest(String::from(
                "from must be before to",
            )));
        }
        if to - from > MAX_RANGE_MS {
            return Err(QualityError::BadRequest(String::from(
                "the range may cover at most 400 days",
            )));
        }
        Ok((from, to))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = QualityError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<HashMap<String, String>>::from_request_parts(parts, state).await {
            Ok(Query(values)) => Ok(Params(values)),
            Err(rejection) => Err(QualityError::BadRequest(format!(
                "invalid query string: {rejection}"
            ))),
        }
    }
}

/// A time: RFC 3339, `now`, or `now` minus a duration (`-6h`, `-30m`, `-1h30m`).
pub fn parse_time(name: &str, text: &str, now_ms: i64) -> Result<i64, QualityError> {
    if text == "now" {
        return Ok(now_ms);
    }
    if let Some(ago) = text.strip_prefix('-') {
        let ago = humantime::parse_duration(ago).map_err(|e| {
            QualityError::BadRequest(format!("{name}: {text:?} is not a relative time: {e}"))
        })?;
        let ago = i64::try_from(ago.as_millis()).unwrap_or(i64::MAX);
        return Ok(now_ms.saturating_sub(ago));
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            QualityError::BadRequest(format!(
                "{name}: {text:?} is neither RFC 3339, `now` nor relative like `-6h`: {e}"
            ))
        })
}

/// The quality of an event type over a range, optionally split.
#[utoipa::path(get, path = "/v1/event-types/{name}/quality", tag = QUALITY_TAG, operation_id = "event_type_quality",
    params(
        ("name" = String, Path, description = "The event type."),
        ("from" = Option<String>, Query, description = "Start: RFC 3339, `now`, or relative (`-6h`); default one hour before `to`."),
        ("to" = Option<String>, Query, description = "End (excluded), same forms; default now."),
        ("by" = Option<String>, Query, description = "Split: `producer`, `version` or `field`."),
    ),
    responses(
        (status = 200, description = "The report: totals, series of points (minute resolution when the range is younger than the rollup age, else hours), and with `by=field` completeness per field."),
        (status = 400, description = "Bad `from`, `to` or `by`, `from` not before `to`, or a range over 400 days."),
        (status = 404, description = "No such event type."),
    ),
)]
async fn report(
    State(service): State<HistoryService>,
    TypeName(name): TypeName,
    params: Params,
) -> Answer {
    let (from, to) = params.range(now_ms())?;
    let by = params.text("by").map(str::parse::<By>).transpose()?;
    service.event_types.get(&name).await?;
    ok(&service.history.report(&name, from, to, by).await?)
}

/// Every event type with history in a range, worst mean score first.
#[utoipa::path(get, path = "/v1/quality", tag = QUALITY_TAG, operation_id = "quality_overview",
    params(
        ("from" = Option<String>, Query, description = "Start: RFC 3339, `now`, or relative (`-6h`); default one hour before `to`."),
        ("to" = Option<String>, Query, description = "End (excluded), same forms; default now."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "At most this many event types (default 50)."),
    ),
    responses(
        (status = 200, description = "Event types with volume, mean score and dead-letter rate, worst first."),
        (status = 400, description = "Bad `from`, `to` or `limit`."),
    ),
)]
async fn overview(State(service): State<HistoryService>, params: Params) -> Answer {
    let (from, to) = params.range(now_ms())?;
    let limit = match params.text("limit") {
        None => DEFAULT_OVERVIEW_LIMIT,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_OVERVIEW_LIMIT).contains(&n) => n,
            _ => {
                return Err(QualityError::BadRequest(format!(
                    "limit: {text:?} is not a number from 1 to {MAX_OVERVIEW_LIMIT}"
                )));
            }
        },
    };
    ok(&service.history.overview(from, to, limit).await?)
}

async fn alerts_of(service: &HistoryService, name: &str) -> Answer {
    let settings = service.alerts.settings(name).await?;
    let states: Vec<_> = service
        .alerts
        .states()
        .await?
        .into_iter()
        .filter(|s| s.event_type == name)
        .collect();
    ok(&json!({ "event_type": name, "settings": settings, "states": states }))
}

/// The alert settings of an event type (null when none) and the state of its alerts.
#[utoipa::path(get, path = "/v1/event-types/{name}/quality/alerts", tag = QUALITY_TAG, operation_id = "get_quality_alerts",
    params(("name" = String, Path, description = "The event type.")),
    responses(
        (status = 200, description = "`settings` and `states`."),
        (status = 404, description = "No such event type."),
    ),
)]
async fn get_alerts(State(service): State<HistoryService>, TypeName(name): TypeName) -> Answer {
    service.event_types.get(&name).await?;
    alerts_of(&service, &name).await
}

/// Replace the alert settings of an event type (its owners or an admin).
#[utoipa::path(put, path = "/v1/event-types/{name}/quality/alerts", tag = QUALITY_TAG, operation_id = "put_quality_alerts",
    params(("name" = String, Path, description = "The event type.")),
    request_body(content = String, content_type = "application/json", description = "`{webhook_url, window, min_score, max_dead_letter_rate, max_freshness_lag_p99, volume_drop_pct, volume_spike_pct, baseline, min_events}`, every field optional."),
    responses(
        (status = 200, description = "The settings as stored, and the states."),
        (status = 400, description = "The body is not JSON."),
        (status = 403, description = "The caller does not own the event type."),
        (status = 404, description = "No such event type."),
        (status = 415, description = "The body is not `application/json`."),
        (status = 422, description = "A field breaks a rule; `field` names it."),
    ),
)]
async fn put_alerts(
    State(service): State<HistoryService>,
    Caller(who): Caller,
    TypeName(name): TypeName,
    JsonBody(settings): JsonBody<AlertSettings>,
) -> Answer {
    let event_type = service.event_types.get(&name).await?;
    if !who.acts_for(&event_type.owner) {
        return Err(QualityError::Forbidden(format!(
            "{who} may not change the alerts of {name}: only team {} or an admin may",
            event_type.owner
        )));
    }
    service
        .alerts
        .set_settings(&name, &settings, &who.to_string(), now_ms())
        .await?;
    alerts_of(&service, &name).await
}

/// The state of every alert of every event type.
#[utoipa::path(get, path = "/v1/quality/alerts", tag = QUALITY_TAG, operation_id = "quality_alert_states",
    responses((status = 200, description = "`alerts`: event type, alert, state (`ok` | `firing`), since, value, threshold.")),
)]
async fn alert_states(State(service): State<HistoryService>) -> Answer {
    ok(&json!({ "alerts": service.alerts.states().await? }))
}
