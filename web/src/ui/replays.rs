//! Replay jobs: the list (newest first) and one job with its progress per partition. While
//! any job shown is still running the page asks the browser to reload itself every two
//! seconds (`<meta http-equiv="refresh">`: live progress without any script).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use tributary_core::now_ms;
use tributary_replay::{JobState, JobView, ReplayError, Target};

use super::UiState;
use super::format;
use super::home::unavailable;
use super::layout::{Page, Section};

/// Jobs on the list page.
const LISTED: u32 = 100;
/// Seconds between reloads while something runs.
const REFRESH_SECS: u32 = 2;

pub(crate) async fn list(State(state): State<UiState>) -> Response {
    let now = now_ms();
    let jobs = match state.replays.list(None, LISTED).await {
        Ok(jobs) => jobs,
        Err(error) => return unavailable("the replay jobs", &error),
    };
    let live = jobs.iter().any(|j| !j.job.state.is_final());
    let body = html! {
        h1 { "Replay jobs" }
        p.lede { "Retained events re-emitted to a topic or exported to audit files. Start one with "
            code { "tributary replay create" } " or " code { "POST /v1/replays" } "." }
        @if jobs.is_empty() {
            p.card.muted { "No replay jobs yet." }
        } @else {
            (jobs_table(&jobs, now))
        }
    };
    let page = Page::new("Replay jobs", Section::Replays);
    let page = if live {
        page.refreshing(REFRESH_SECS)
    } else {
        page
    };
    page.respond(&body)
}

/// The jobs table, also shown on an event type's page.
pub(crate) fn jobs_table(jobs: &[JobView], now: i64) -> Markup {
    html! {
        div.table-scroll {
            table.list.replays {
                caption.visually-hidden { "Replay jobs, newest first" }
                thead { tr {
                    th scope="col" { "Job" } th scope="col" { "Event types" } th scope="col" { "State" }
                    th scope="col" { "Progress" } th scope="col" { "Target" } th scope="col" { "Started by" }
                } }
                tbody {
                    @for view in jobs {
                        @let job = &view.job;
                        tr {
                            td { a href={ "/ui/replays/" (format::segment(&job.id)) } { code { (format::clip(&job.id, 12)) } } }
                            td { @for t in &job.event_types { a.type-name href={ "/ui/types/" (format::segment(t)) } { (t) } " " } }
                            td { (state_badge(job.state)) }
                            td { (progress_cell(view)) }
                            td { (target_text(&job.target)) }
                            td { (job.created_by) ", " (format::when(job.created_at_ms, now)) }
                        }
                    }
                }
            }
        }
    }
}

fn state_badge(state: JobState) -> Markup {
    let class = match state {
        JobState::Completed => "badge band-good",
        JobState::Failed | JobState::Cancelled => "badge band-poor",
        JobState::Running => "badge band-fair",
        JobState::Pending | JobState::Paused => "badge band-none",
    };
    html! { span class=(class) { (state.as_str()) } }
}

fn progress_cell(view: &JobView) -> Markup {
    let emitted = view
        .progress
        .as_ref()
        .map_or(view.job.emitted, |p| p.totals.emitted);
    let fraction = view
        .progress
        .as_ref()
        .filter(|p| p.offsets_total > 0)
        .map(|p| p.offsets_done as f64 / p.offsets_total as f64);
    html! {
        @if let Some(fraction) = fraction {
            progress max="100" value=(format!("{:.0}", fraction * 100.0)) aria-label="Share of offsets read" { (format!("{:.0} %", fraction * 100.0)) }
            " "
        }
        (format::count(emitted)) " emitted"
        @if let Some(p) = &view.progress {
            " · " (format!("{:.0}", p.events_per_sec)) "/s"
            @if let Some(eta) = p.eta_secs { " · ETA " (format::duration_ms(i64::try_from(eta.saturating_mul(1000)).unwrap_or(i64::MAX))) }
        }
    }
}

fn target_text(target: &Target) -> Markup {
    html! {
        @match target {
            Target::Topic { topic } => { "topic " code { (topic) } },
            Target::Files { dir, format } => { (format!("{format:?}").to_lowercase()) " files " code { (dir.display().to_string()) } },
            Target::Reingest { fix } => {
                "re-ingested through the gateway"
                @if !fix.is_empty() { ", fixed" }
            },
        }
    }
}

pub(crate) async fn job(State(state): State<UiState>, Path(id): Path<String>) -> Response {
    let now = now_ms();
    let view = match state.replays.get(&id).await {
        Ok(view) => view,
        Err(ReplayError::NotFound(_)) => {
            return Page::error(
                StatusCode::NOT_FOUND,
                "No such replay job",
                &format!("There is no replay job {}.", format::clip(&id, 100)),
            );
        }
        Err(error) => return unavailable("the replay job", &error),
    };
    let job = &view.job;
    let title = format!("Replay {}", format::clip(&job.id, 12));
    let selection = &job.selection;
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" { a href="/ui/replays" { "Replay jobs" } " / " span aria-current="page" { (job.id) } }
        h1 { "Replay " code { (job.id) } }
        dl.facts {
            div { dt { "State" } dd { (state_badge(job.state)) @if job.desired.as_str() != "run" { " (asked: " (job.desired.as_str()) ")" } } }
            div { dt { "Progress" } dd { (progress_cell(&view)) } }
            div { dt { "Range" } dd { (format::utc(selection.from_ms)) " – " (format::utc(selection.to_ms)) } }
            div { dt { "Target" } dd { (target_text(&job.target)) } }
            div { dt { "Started by" } dd { (job.created_by) ", " (format::when(job.created_at_ms, now)) } }
            @if let Some(rate) = job.rate_per_sec { div { dt { "Rate limit" } dd { (rate) " events/s" } } }
            @if let Some(max) = job.max_events { div { dt { "At most" } dd { (format::count(max)) " events" } } }
            @if let Some(finished) = job.finished_at_ms {
                div { dt { "Ended" } dd { (format::when(finished, now))
                    @if let Some(started) = job.started_at_ms { ", after " (format::duration_ms(finished - started)) } } }
            }
        }
        @if let Some(counts) = job.report.as_ref().and_then(|r| r.reingest) {
            section.card aria-labelledby="reingest-h" {
                h2 #reingest-h { "Dead letters re-ingested" }
                dl.facts.compact {
                    div { dt { "Accepted" } dd { (format::count(counts.accepted)) } }
                    div { dt { "Already accepted (duplicates)" } dd { (format::count(counts.duplicates)) } }
                    div { dt { "Rejected again" } dd { (format::count(counts.rejected)) } }
                    div { dt { "Fix did not apply" } dd { (format::count(counts.patch_failed)) } }
                    div { dt { "Unreadable" } dd { (format::count(counts.unreadable)) } }
                }
            }
        }
        @if let Target::Reingest { fix } = &job.target {
            @if !fix.is_empty() {
                section.card aria-labelledby="fix-h" {
                    h2 #fix-h { "Fix (JSON Patch)" }
                    pre { code { (serde_json::to_string_pretty(fix).unwrap_or_default()) } }
                }
            }
        }
        @if let Some(manifest) = job.report.as_ref().and_then(|r| r.manifest.as_ref()) {
            p { "Manifest: " code { (manifest.display().to_string()) } }
        }
        @if let Some(error) = &job.error {
            div.card.error role="alert" { p { (error) } }
        }
        section.card aria-labelledby="filters-h" {
            h2 #filters-h { "Selection" }
            dl.facts.compact {
                div { dt { "Topics" } dd { @for t in &selection.topics { code { (t) } " " } } }
                div { dt { "Keys" } dd { (list_or_any(&selection.keys)) } }
                div { dt { "Producers" } dd { (list_or_any(&selection.producers)) } }
                div { dt { "Schema versions" } dd { (list_or_any(&selection.schema_versions.iter().map(ToString::to_string).collect::<Vec<_>>())) } }
                div { dt { "Emitted / filtered / unreadable" } dd { (job.emitted) " / " (job.filtered) " / " (job.unreadable) } }
            }
        }
        @if let Some(progress) = &view.progress {
            section.card aria-labelledby="partitions-h" {
                h2 #partitions-h { "Partitions" }
                table.list {
                    thead { tr { th scope="col" { "Topic" } th scope="col" { "Partition" } th scope="col" { "Offsets" } th scope="col" { "Next" } th scope="col" { "Emitted" } } }
                    tbody {
                        @for p in &progress.partitions {
                            tr {
                                td { code { (p.topic) } } td.num { (p.partition) }
                                td.num { (p.start) "–" (p.end) } td.num { (p.next_offset) } td.num { (format::count(p.emitted)) }
                            }
                        }
                    }
                }
            }
        }
    };
    let page = Page::new(&title, Section::Replays);
    let page = if job.state.is_final() {
        page
    } else {
        page.refreshing(REFRESH_SECS)
    };
    page.respond(&body)
}

fn list_or_any(values: &[String]) -> Markup {
    html! {
        @if values.is_empty() { span.muted { "any" } }
        @for v in values { code.chip { (v) } " " }
    }
}
