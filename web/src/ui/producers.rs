//! Producers: the registered ones (owner, grants) next to what the quality history saw each
//! of them send — event types, schema versions, when last — and the producers seen without
//! registration (named in a header while auth is off).

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use maud::html;
use tributary_core::{Principal, now_ms};
use tributary_quality::ProducerSeen;

use super::UiState;
use super::format;
use super::home::unavailable;
use super::layout::{Page, Section};

/// Traffic within this window is listed.
const WINDOW_MS: i64 = 30 * 24 * 3_600_000;

pub(crate) async fn page(
    State(state): State<UiState>,
    principal: Option<Extension<Principal>>,
) -> Response {
    let now = now_ms();
    let who = principal
        .map(|e| e.0)
        .unwrap_or_else(Principal::local_admin);
    let registered = match state.producers.list(&who).await {
        Ok(registered) => registered,
        Err(error) => return unavailable("the producers", &error),
    };
    let seen = match state.history.producers(None, now - WINDOW_MS).await {
        Ok(seen) => seen,
        Err(error) => return unavailable("the quality history", &error),
    };
    let mut by_producer: BTreeMap<&str, Vec<&ProducerSeen>> = BTreeMap::new();
    for s in &seen {
        by_producer.entry(s.producer.as_str()).or_default().push(s);
    }
    let unregistered: Vec<&str> = by_producer
        .keys()
        .copied()
        .filter(|name| !registered.iter().any(|r| r.name == *name))
        .collect();
    let traffic = |name: &str| {
        html! {
            @match by_producer.get(name) {
                None => p.muted { "No events in the last 30 days." },
                Some(types) => table.list {
                    caption.visually-hidden { "Event types " (name) " sent in the last 30 days" }
                    thead { tr { th scope="col" { "Event type" } th scope="col" { "Schema versions" } th scope="col" { "Last seen" } } }
                    tbody {
                        @for s in types {
                            tr {
                                td { a.type-name href={ "/ui/types/" (format::segment(&s.event_type)) } { (s.event_type) } }
                                td { @for v in &s.schema_versions { span.chip { "v" (v) } " " } }
                                td { (format::when(s.last_seen_ms, now)) }
                            }
                        }
                    }
                },
            }
        }
    };
    let body = html! {
        h1 { "Producers" }
        p.lede { "Who publishes what: registered producers with their grants, and the event types and schema versions each actually sent in the last 30 days." }
        @if registered.is_empty() && unregistered.is_empty() {
            p.card.muted { "No producers yet. Register one with " code { "POST /v1/producers" } "." }
        }
        @for producer in &registered {
            section.card id=(producer.name) aria-labelledby={ "p-" (producer.name) } {
                h2 id={ "p-" (producer.name) } { (producer.name) }
                dl.facts.compact {
                    div { dt { "Owner" } dd { (producer.owner) } }
                    div { dt { "Registered" } dd { (format::when(producer.created_at_ms, now)) " by " (producer.created_by) } }
                    div { dt { "May publish" } dd {
                        @if producer.grants.is_empty() { span.muted { "nothing yet" } }
                        @for g in &producer.grants { code.chip { (g) } " " }
                    } }
                }
                @if !producer.description.is_empty() { p { (producer.description) } }
                (traffic(&producer.name))
            }
        }
        @if !unregistered.is_empty() {
            h2 { "Seen without registration" }
            p.muted { "Names sent in the Tributary-Principal header while authentication was off." }
            @for name in &unregistered {
                section.card id=(name) aria-label=(name) {
                    h3 { (name) }
                    (traffic(name))
                }
            }
        }
    };
    Page::new("Producers", Section::Producers).respond(&body)
}
