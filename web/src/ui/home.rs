//! The catalog's front page (search box, counts, the worst-quality and the newest event
//! types) and the search results page.

use std::collections::{BTreeSet, HashMap};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use tributary_core::{Principal, now_ms};
use tributary_registry::{QualityBand, SearchRequest};

use super::format::{self, query_string};
use super::layout::{Page, Section};
use super::{UiState, markdown};

/// Event types listed in each box of the front page.
const LISTED: usize = 8;
/// The window of the front page's quality and volume.
const DAY_MS: i64 = 24 * 3_600_000;
/// Hits per search page.
const PAGE_SIZE: usize = 20;
/// How much of a query the page repeats back.
const ECHO_CHARS: usize = 200;

pub(crate) async fn home(State(state): State<UiState>) -> Response {
    let now = now_ms();
    let types = match state.event_types.list(None, None).await {
        Ok(types) => types,
        Err(error) => return unavailable("the event types", &error),
    };
    let overview = match state.history.overview(now - DAY_MS, now, 100_000).await {
        Ok(overview) => overview,
        Err(error) => return unavailable("the quality history", &error),
    };
    let producers = match state.producers.list(&Principal::local_admin()).await {
        Ok(producers) => producers.len(),
        Err(error) => return unavailable("the producers", &error),
    };
    let owners: BTreeSet<&str> = types.iter().map(|t| t.event_type.owner.as_str()).collect();
    let live: HashMap<&str, ()> = types
        .iter()
        .map(|t| (t.event_type.name.as_str(), ()))
        .collect();
    let events_today: u64 = overview.event_types.iter().map(|t| t.volume).sum();
    let worst: Vec<_> = overview
        .event_types
        .iter()
        .filter(|t| t.mean_score.is_some() && live.contains_key(t.event_type.as_str()))
        .take(LISTED)
        .collect();
    let mut newest: Vec<_> = types.iter().collect();
    newest.sort_by_key(|t| std::cmp::Reverse(t.event_type.created_at_ms));
    newest.truncate(LISTED);

    let body = html! {
        section.hero {
            h1 { "Event catalog" }
            p.lede { "Every event type flowing through Tributary: who owns and produces it, its schema, samples and quality." }
            form.bigsearch role="search" action="/ui/search" method="get" {
                label for="home-q" { "Search by name, field, description, tag, owner or producer" }
                div.row {
                    input #home-q type="search" name="q" placeholder="e.g. checkout, customer_id, payments" autofocus;
                    button type="submit" { "Search" }
                }
            }
        }
        section.stats aria-label="Counts" {
            (stat("Event types", &format::count(types.len() as u64), Some("/ui/search")))
            (stat("Owning teams", &format::count(owners.len() as u64), None))
            (stat("Registered producers", &format::count(producers as u64), Some("/ui/producers")))
            (stat("Events in the last 24 h", &format::count(events_today), None))
        }
        div.columns {
            section.card aria-labelledby="worst-h" {
                h2 #worst-h { "Lowest quality, last 24 h" }
                @if worst.is_empty() {
                    p.muted { "No traffic in the last 24 hours." }
                } @else {
                    table.list {
                        caption.visually-hidden { "Event types by mean quality score, worst first" }
                        thead { tr { th scope="col" { "Event type" } th scope="col" { "Score" } th scope="col" { "Dead letters" } th scope="col" { "Events" } } }
                        tbody {
                            @for t in &worst {
                                tr {
                                    td { a.type-name href={ "/ui/types/" (format::segment(&t.event_type)) } { (t.event_type) } }
                                    td { (format::score_badge(t.mean_score)) }
                                    td.num { @if let Some(rate) = t.dead_letter_rate { (format::percent(rate)) } @else { "—" } }
                                    td.num { (format::count(t.volume)) }
                                }
                            }
                        }
                    }
                }
            }
            section.card aria-labelledby="newest-h" {
                h2 #newest-h { "Newest event types" }
                @if newest.is_empty() {
                    p.muted { "No event types yet. Create one with " code { "POST /v1/event-types" } "." }
                } @else {
                    ul.plain {
                        @for t in &newest {
                            li {
                                a.type-name href={ "/ui/types/" (format::segment(t.event_type.name.as_str())) } { (t.event_type.name.as_str()) }
                                " "
                                span.muted { "by " (t.event_type.owner) ", " (format::when(t.event_type.created_at_ms, now)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Page::new("Catalog", Section::Catalog).respond(&body)
}

fn stat(label: &str, value: &str, link: Option<&str>) -> Markup {
    html! {
        div.stat {
            @match link {
                Some(href) => a href=(href) { span.value { (value) } span.label { (label) } },
                None => { span.value { (value) } span.label { (label) } },
            }
        }
    }
}

pub(crate) async fn search(
    State(state): State<UiState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let text = |name: &str| params.get(name).cloned().unwrap_or_default();
    let (q, owner, tag, quality) = (text("q"), text("owner"), text("tag"), text("quality"));
    let band = match quality.as_str() {
        "" => None,
        "good" => Some(QualityBand::Good),
        "fair" => Some(QualityBand::Fair),
        "poor" => Some(QualityBand::Poor),
        _ => {
            return Page::error(
                StatusCode::BAD_REQUEST,
                "Unknown quality band",
                "The quality filter is one of good, fair or poor.",
            );
        }
    };
    let page: usize = params
        .get("page")
        .and_then(|p| p.parse().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    let request = SearchRequest {
        q: q.clone(),
        owner: (!owner.is_empty()).then(|| owner.clone()),
        tag: (!tag.is_empty()).then(|| tag.clone()),
        quality: band,
        limit: PAGE_SIZE,
        offset: (page - 1).saturating_mul(PAGE_SIZE),
    };
    let index = state.index.clone();
    let results = match tokio::task::spawn_blocking(move || index.search(&request)).await {
        Ok(Ok(results)) => results,
        Ok(Err(error)) => {
            tracing::error!(%error, "catalog search failed");
            return Page::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Search failed",
                "The search index could not answer; try again.",
            );
        }
        Err(_) => {
            return Page::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Search failed",
                "The search stopped unexpectedly; try again.",
            );
        }
    };
    let link = |owner: &str, tag: &str, quality: &str, page: usize| {
        let page = if page > 1 {
            page.to_string()
        } else {
            String::new()
        };
        format!(
            "/ui/search{}",
            query_string(&[
                ("q", &q),
                ("owner", owner),
                ("tag", tag),
                ("quality", quality),
                ("page", &page)
            ])
        )
    };
    let echo = format::clip(&q, ECHO_CHARS);
    let title = if q.is_empty() {
        String::from("All event types")
    } else {
        format!("Search: {echo}")
    };
    let pages = results.total.div_ceil(PAGE_SIZE).max(1);
    let facet = |name: &str,
                 label: &str,
                 values: &[(String, usize)],
                 active: &str,
                 make: &dyn Fn(&str) -> String| {
        html! {
            @if !values.is_empty() {
                fieldset.facet {
                    legend { (label) }
                    ul.plain {
                        @if !active.is_empty() {
                            li { a href=(make("")) { "Any " (name) } }
                        }
                        @for (value, n) in values {
                            li {
                                @if value == active {
                                    strong aria-current="true" { (value) } " " span.muted { "(" (n) ")" }
                                } @else {
                                    a href=(make(value)) { (value) } " " span.muted { "(" (n) ")" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let body = html! {
        h1 { (if q.is_empty() { "All event types" } else { "Search results" }) }
        p.result-count role="status" {
            (format::count(results.total as u64)) " event type" @if results.total != 1 { "s" }
            @if !q.is_empty() { @if results.total == 1 { " matches " } @else { " match " } q.query { (echo) } }
            @if !owner.is_empty() { " · owner " strong { (owner) } }
            @if !tag.is_empty() { " · tag " strong { (tag) } }
            @if !quality.is_empty() { " · quality " strong { (quality) } }
        }
        div.search-layout {
            aside.facets aria-label="Filters" {
                (facet("owner", "Owner", &results.facets.owners, &owner, &|v| link(v, &tag, &quality, 1)))
                (facet("tag", "Tag", &results.facets.tags, &tag, &|v| link(&owner, v, &quality, 1)))
                (facet("quality", "Quality", &results.facets.quality, &quality, &|v| link(&owner, &tag, v, 1)))
            }
            section.results aria-label="Results" {
                @if results.hits.is_empty() {
                    p.card.muted { "Nothing matches. Try fewer or different words; typos and word beginnings are matched." }
                }
                ol.hits {
                    @for hit in &results.hits {
                        li.card.hit {
                            h2 { a.type-name href={ "/ui/types/" (format::segment(&hit.name)) } { (hit.name) } }
                            p.meta { span.muted { "Owner " } (hit.owner) }
                            @let line = markdown::summary(&hit.description, 240);
                            @if !line.is_empty() { p.desc { (line) } }
                            @if !hit.matched.is_empty() {
                                p.matched {
                                    span.muted { "Matched: " }
                                    @for part in &hit.matched { span.chip { (format::clip(part, 80)) } " " }
                                }
                            }
                        }
                    }
                }
                @if pages > 1 {
                    nav.pager aria-label="Pages" {
                        @if page > 1 { a rel="prev" href=(link(&owner, &tag, &quality, page - 1)) { "← Previous" } }
                        span { "Page " (page) " of " (pages) }
                        @if page < pages { a rel="next" href=(link(&owner, &tag, &quality, page + 1)) { "Next →" } }
                    }
                }
            }
        }
    };
    Page::new(&title, Section::Catalog)
        .with_query(&q)
        .respond(&body)
}

/// A page saying which store could not be read.
pub(crate) fn unavailable(what: &str, error: &dyn std::fmt::Display) -> Response {
    tracing::warn!(%error, "a catalog page cannot read {what}");
    Page::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        &format!("Cannot read {what} right now; try again shortly."),
    )
}
