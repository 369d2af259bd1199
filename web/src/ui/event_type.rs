//! The page of one event type — description, owner and tags, quality over time, fields,
//! schema versions side by side, producers — and the owner's edit form.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use maud::{Markup, html};
use tributary_core::{Principal, now_ms};
use tributary_quality::{DeadLetterReason, Sample};
use tributary_registry::{
    EventType, EventTypeError, EventTypePatch, Field, MAX_PII_MARKS, SubjectVersion,
};

use super::chart::{self, Span};
use super::format::{self, query_string};
use super::home::unavailable;
use super::layout::{Page, Section};
use super::{UiState, diff, markdown};

/// The quality chart's ranges, as `?range=` names them.
const RANGES: [(&str, &str, i64); 3] = [
    ("24h", "24 hours", 24 * 3_600_000),
    ("7d", "7 days", 7 * 24 * 3_600_000),
    ("30d", "30 days", 30 * 24 * 3_600_000),
];
/// Producers seen within this window are listed.
const PRODUCERS_WINDOW_MS: i64 = 30 * 24 * 3_600_000;
/// Rule failures listed under the chart.
const RULES_LISTED: usize = 10;
/// Dead-letter reasons listed.
const REASONS_LISTED: u32 = 10;
/// Replay jobs of the type shown, newest first.
const REPLAYS_LISTED: u32 = 10;
/// Longest sample shown whole (pretty-printed); longer ones are cut with a note.
const SAMPLE_CHARS: usize = 8 * 1024;

pub(crate) async fn page(
    State(state): State<UiState>,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    principal: Option<Extension<Principal>>,
) -> Response {
    let now = now_ms();
    let event_type = match state.event_types.get(&name).await {
        Ok(found) if found.deleted_at_ms.is_none() => found,
        Ok(_) | Err(EventTypeError::NotFound(_)) => return no_such_type(&name),
        Err(error) => return unavailable("the event type", &error),
    };
    let (range_key, range_label, range_ms) = params
        .get("range")
        .and_then(|r| RANGES.iter().find(|(key, _, _)| key == r))
        .copied()
        .unwrap_or(RANGES[0]);
    let from = now - range_ms;
    let Loaded {
        versions,
        fields,
        report,
        producers,
        pii,
        samples,
        reasons,
        replays,
    } = match Loaded::read(&state, &name, from, now).await {
        Ok(loaded) => loaded,
        Err((what, error)) => return unavailable(what, &error),
    };
    let may_edit = principal.is_some_and(|Extension(p)| p.acts_for(&event_type.owner));
    let here = format!("/ui/types/{}", format::segment(&name));
    let points = report
        .series
        .first()
        .map(|s| s.points.as_slice())
        .unwrap_or(&[]);
    let totals = &report.totals;
    let mut failures: Vec<(&String, &u64)> = totals.rule_failures.iter().collect();
    failures.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    failures.truncate(RULES_LISTED);

    let body = html! {
        nav.crumbs aria-label="Breadcrumb" { a href="/ui" { "Catalog" } " / " span aria-current="page" { (name) } }
        header.type-head {
            h1.type-name { (name) }
            @if may_edit { a.button href={ (here) "/edit" } { "Edit description, tags and PII marks" } }
        }
        dl.facts {
            div { dt { "Owner" } dd { a href={ "/ui/search" (query_string(&[("owner", &event_type.owner)])) } { (event_type.owner) } } }
            div { dt { "Topic" } dd { code { (state.event_types.topic(&event_type.name)) } } }
            div { dt { "Enforcement" } dd { (event_type.enforcement.as_str()) } }
            div { dt { "Quality, " (range_label) } dd { (format::score_badge(totals.mean_score)) } }
            div { dt { "Updated" } dd { (format::when(event_type.updated_at_ms, now)) " by " (event_type.updated_by) } }
        }
        @if !event_type.tags.is_empty() {
            ul.tags aria-label="Tags" {
                @for tag in &event_type.tags {
                    li { a.chip href={ "/ui/search" (query_string(&[("tag", tag)])) } { (tag) } }
                }
            }
        }
        section.card.description aria-labelledby="desc-h" {
            h2 #desc-h { "Description" }
            @if event_type.description.trim().is_empty() {
                p.muted { "No description yet." }
            } @else {
                div.markdown { (markdown::render(&event_type.description)) }
            }
        }
        section.card #quality aria-labelledby="quality-h" {
            h2 #quality-h { "Quality" }
            nav.ranges aria-label="Chart range" {
                @for (key, label, _) in RANGES {
                    @if key == range_key {
                        span aria-current="true" { (label) }
                    } @else {
                        a href={ (here) (query_string(&[("range", key)])) "#quality" } { (label) }
                    }
                }
            }
            dl.facts.compact {
                div { dt { "Events" } dd { (format::count(totals.volume)) } }
                div { dt { "Dead-lettered" } dd { (format::count(totals.rejected)) @if let Some(rate) = totals.dead_letter_rate { " (" (format::percent(rate)) ")" } } }
                div { dt { "Duplicates" } dd { (format::count(totals.duplicates)) } }
                div { dt { "Freshness lag p50 / p99" } dd {
                    (totals.lag_p50_ms.map(format::duration_ms).unwrap_or_else(|| "—".into())) " / "
                    (totals.lag_p99_ms.map(format::duration_ms).unwrap_or_else(|| "—".into()))
                } }
            }
            (chart::quality_chart(
                &format!("Quality of {name} over the last {range_label}"),
                Span { from_ms: report.from_ms, to_ms: report.to_ms, bucket_ms: report.resolution_ms },
                points,
            ))
            @if !failures.is_empty() {
                h3 { "Rules failed most" }
                table.list {
                    thead { tr { th scope="col" { "Rule" } th scope="col" { "Events failing" } } }
                    tbody { @for (rule, n) in &failures { tr { td { code { (rule) } } td.num { (format::count(**n)) } } } }
                }
            }
        }
        (fields_section(&fields, &pii))
        (versions_section(&here, &versions, &params))
        (samples_section(&samples, now))
        (dead_letters_section(&reasons, now))
        section.card #producers aria-labelledby="producers-h" {
            h2 #producers-h { "Producers" }
            @if producers.is_empty() {
                p.muted { "No events from any producer in the last 30 days." }
            } @else {
                table.list {
                    caption.visually-hidden { "Producers of " (name) " in the last 30 days" }
                    thead { tr { th scope="col" { "Producer" } th scope="col" { "Schema versions sent" } th scope="col" { "Last seen" } } }
                    tbody {
                        @for seen in &producers {
                            tr {
                                td { a href={ "/ui/producers#" (format::segment(&seen.producer)) } { (seen.producer) } }
                                td { @for v in &seen.schema_versions { span.chip { "v" (v) } " " } }
                                td { (format::when(seen.last_seen_ms, now)) }
                            }
                        }
                    }
                }
            }
        }
        section.card #replays aria-labelledby="replays-h" {
            h2 #replays-h { "Replay history" }
            @if replays.is_empty() {
                p.muted { "Never replayed." }
            } @else {
                (super::replays::jobs_table(&replays, now))
            }
        }
    };
    Page::new(&name, Section::Catalog).respond(&body)
}

/// Everything the page shows besides the event type itself.
struct Loaded {
    versions: Vec<SubjectVersion>,
    fields: Vec<Field>,
    report: tributary_quality::QualityReport,
    producers: Vec<tributary_quality::ProducerSeen>,
    pii: Vec<String>,
    samples: Vec<Sample>,
    reasons: Vec<DeadLetterReason>,
    replays: Vec<tributary_replay::JobView>,
}

impl Loaded {
    /// All of it at once; on failure, what could not be read and why.
    async fn read(
        state: &UiState,
        name: &str,
        from: i64,
        now: i64,
    ) -> Result<Loaded, (&'static str, String)> {
        fn failed<E: std::fmt::Display>(
            what: &'static str,
        ) -> impl FnOnce(E) -> (&'static str, String) {
            move |error| (what, error.to_string())
        }
        let (versions, fields, report, producers, pii, samples, reasons, replays) = tokio::join!(
            state.event_types.schema_versions(name),
            state.rules.fields(name),
            state.history.report(name, from, now, None),
            state
                .history
                .producers(Some(name), now - PRODUCERS_WINDOW_MS),
            state.event_types.pii_marks(name),
            state.samples.recent(name),
            state.samples.dead_letter_reasons(name, REASONS_LISTED),
            state.replays.list(Some(name), REPLAYS_LISTED),
        );
        Ok(Loaded {
            replays: replays.map_err(failed("the replay jobs"))?,
            versions: versions.map_err(failed("the schema versions"))?.1,
            // A schema whose fields cannot be listed still shows everything else.
            fields: fields.unwrap_or_else(|error| {
                tracing::warn!(event_type = %name, %error, "cannot list the fields for the catalog page");
                Vec::new()
            }),
            report: report.map_err(failed("the quality history"))?,
            producers: producers.map_err(failed("the producers seen"))?,
            pii: pii
                .map_err(failed("the PII marks"))?
                .into_iter()
                .map(|m| m.pointer)
                .collect(),
            samples: samples.map_err(failed("the samples"))?,
            reasons: reasons.map_err(failed("the dead-letter reasons"))?,
        })
    }
}

fn fields_section(fields: &[Field], pii: &[String]) -> Markup {
    html! {
        section.card #fields aria-labelledby="fields-h" {
            h2 #fields-h { "Fields of the latest version" }
            @if fields.is_empty() {
                p.muted { "No schema registered yet, or its fields cannot be listed." }
            } @else {
                div.table-scroll {
                    table.list.fields {
                        caption.visually-hidden { "Fields: JSON pointer, type, required, PII, documentation" }
                        thead { tr { th scope="col" { "Field" } th scope="col" { "Type" } th scope="col" { "Required" } th scope="col" { "PII" } th scope="col" { "Documentation" } } }
                        tbody {
                            @for field in fields {
                                tr {
                                    td { code.path { (field.pointer) } }
                                    td { (field.types.join(" | ")) }
                                    td { @if field.required { "yes" } @else { span.muted { "no" } } }
                                    td { @if pii.contains(&field.pointer) { span.badge.band-poor { "PII" } } }
                                    td { (field.doc.as_deref().unwrap_or("")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The latest samples of each version, PII redacted (by the store, on read).
fn samples_section(samples: &[Sample], now: i64) -> Markup {
    html! {
        section.card #samples aria-labelledby="samples-h" {
            h2 #samples-h { "Samples" }
            @if samples.is_empty() {
                p.muted { "No events sampled yet. The gateway keeps the latest few accepted events of each schema version, with PII fields redacted." }
            } @else {
                p.help { "The latest accepted events of each schema version; fields marked PII show as " code { "[redacted]" } "." }
                @for sample in samples {
                    details.sample {
                        summary {
                            span.chip { "v" (sample.schema_version) } " from " (sample.producer) ", " (format::when(sample.received_at_ms, now))
                        }
                        pre.schema { (format::clip(&pretty(&sample.event), SAMPLE_CHARS)) }
                    }
                }
            }
        }
    }
}

/// Why events were dead-lettered, most frequent first, with the latest example of each.
fn dead_letters_section(reasons: &[DeadLetterReason], now: i64) -> Markup {
    html! {
        section.card #dead-letters aria-labelledby="dead-letters-h" {
            h2 #dead-letters-h { "Dead-letter reasons" }
            @if reasons.is_empty() {
                p.muted { "No event of this type has been dead-lettered." }
            } @else {
                @for reason in reasons {
                    details.reason {
                        summary {
                            code { (reason.reason) } " — " (format::count(u64::try_from(reason.count).unwrap_or(0)))
                            " event" @if reason.count != 1 { "s" } ", last " (format::when(reason.last_seen_ms, now))
                        }
                        @if !reason.violations.is_empty() {
                            table.list {
                                caption.visually-hidden { "Violations of the latest " (reason.reason) " example" }
                                thead { tr { th scope="col" { "Where" } th scope="col" { "What" } } }
                                tbody {
                                    @for v in &reason.violations {
                                        tr {
                                            td { code.path { @if v.pointer.is_empty() { "(the event)" } @else { (v.pointer) } } }
                                            td { (v.message) }
                                        }
                                    }
                                }
                            }
                        }
                        @match &reason.example {
                            Some(example) => pre.schema { (format::clip(&pretty(example), SAMPLE_CHARS)) },
                            None => p.muted { "The example could not be read as JSON." },
                        }
                    }
                }
            }
        }
    }
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// The versions list and the side-by-side diff of two of them (`?from=&to=`, by default the
/// previous and the latest).
fn versions_section(
    here: &str,
    versions: &[SubjectVersion],
    params: &HashMap<String, String>,
) -> Markup {
    let numbers: Vec<i32> = versions.iter().map(|v| v.version).collect();
    let pick = |key: &str, default: Option<i32>| {
        params
            .get(key)
            .and_then(|v| v.parse::<i32>().ok())
            .filter(|v| numbers.contains(v))
            .or(default)
    };
    let latest = numbers.last().copied();
    let previous = numbers.len().checked_sub(2).map(|i| numbers[i]);
    let from = pick("from", previous);
    let to = pick("to", latest);
    let schema_of = |n: i32| versions.iter().find(|v| v.version == n);
    html! {
        section.card #versions aria-labelledby="versions-h" {
            h2 #versions-h { "Schema versions" }
            @if versions.is_empty() {
                p.muted { "No schema registered yet." }
            } @else {
                table.list {
                    caption.visually-hidden { "Schema versions" }
                    thead { tr { th scope="col" { "Version" } th scope="col" { "Schema id" } th scope="col" { "Format" } } }
                    tbody {
                        @for v in versions.iter().rev() {
                            tr {
                                td { "v" (v.version) @if Some(v.version) == latest { " " span.chip { "latest" } } }
                                td { (v.schema.id) }
                                td { (v.schema.schema_type.as_str()) }
                            }
                        }
                    }
                }
                @if versions.len() >= 2 {
                    form.diff-pick method="get" action={ (here) "#versions" } {
                        label for="diff-from" { "Compare version" }
                        select #diff-from name="from" {
                            @for n in &numbers { option value=(n) selected[Some(*n) == from] { "v" (n) } }
                        }
                        label for="diff-to" { "with" }
                        select #diff-to name="to" {
                            @for n in &numbers { option value=(n) selected[Some(*n) == to] { "v" (n) } }
                        }
                        button type="submit" { "Compare" }
                    }
                    @if let (Some(a), Some(b)) = (from.and_then(schema_of), to.and_then(schema_of)) {
                        (diff::table(a.version, &a.schema.schema, b.version, &b.schema.schema))
                    }
                } @else if let Some(only) = versions.first() {
                    details {
                        summary { "Schema text of v" (only.version) }
                        pre.schema { (diff::comparable(&only.schema.schema)) }
                    }
                }
            }
        }
    }
}

/// The owner's form: description, tags.
pub(crate) async fn edit_form(
    State(state): State<UiState>,
    Path(name): Path<String>,
    principal: Option<Extension<Principal>>,
) -> Response {
    let event_type = match editable(&state, &name, principal.as_ref().map(|e| &e.0)).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let tags = event_type.tags.join(", ");
    let choices = match pii_choices(&state, &name).await {
        Ok(choices) => choices,
        Err(response) => return response,
    };
    let form = EditForm {
        description: &event_type.description,
        tags: &tags,
        pii: &choices,
    };
    edit_page(&event_type, &form, None, StatusCode::OK)
}

/// What the edit form shows.
struct EditForm<'a> {
    description: &'a str,
    tags: &'a str,
    /// Every field of the latest schema and every marked pointer, with whether it is marked.
    pii: &'a [(String, bool)],
}

/// The fields the form offers for PII marking: those of the latest schema, and any pointer
/// already marked (a field of an older version keeps its mark until unticked).
async fn pii_choices(state: &UiState, name: &str) -> Result<Vec<(String, bool)>, Response> {
    let marks = match state.event_types.pii_marks(name).await {
        Ok(marks) => marks,
        Err(error) => return Err(unavailable("the PII marks", &error)),
    };
    let fields = state.rules.fields(name).await.unwrap_or_default();
    let mut choices: Vec<(String, bool)> = fields
        .into_iter()
        .map(|f| {
            let marked = marks.iter().any(|m| m.pointer == f.pointer);
            (f.pointer, marked)
        })
        .collect();
    for mark in marks {
        if !choices.iter().any(|(p, _)| *p == mark.pointer) {
            choices.push((mark.pointer, true));
        }
    }
    Ok(choices)
}

fn edit_page(
    event_type: &EventType,
    form: &EditForm<'_>,
    problem: Option<&str>,
    status: StatusCode,
) -> Response {
    let name = event_type.name.as_str();
    let here = format!("/ui/types/{}", format::segment(name));
    let title = format!("Edit {name}");
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" { a href="/ui" { "Catalog" } " / " a href=(here) { (name) } " / " span aria-current="page" { "Edit" } }
        h1 { "Edit " span.type-name { (name) } }
        @if let Some(problem) = problem {
            div.card.error role="alert" #problem { p { (problem) } }
        }
        form.card.edit method="post" action={ (here) "/edit" } {
            label for="description" { "Description (Markdown)" }
            textarea #description name="description" rows="12" aria-describedby="description-help" { (form.description) }
            p.help #description-help { "Shown on the event type's page. HTML is shown as text." }
            label for="tags" { "Tags" }
            input #tags type="text" name="tags" value=(form.tags) aria-describedby="tags-help";
            p.help #tags-help { "Comma-separated, e.g. " code { "orders, pii, tier-1" } "." }
            fieldset.pii {
                legend { "Fields holding personal data (PII)" }
                p.help { "Marked fields are redacted in samples and dead-letter examples." }
                input type="hidden" name="pii_form" value="1";
                @if form.pii.is_empty() {
                    p.muted { "No schema fields yet." }
                }
                ul.plain {
                    @for (i, (pointer, marked)) in form.pii.iter().enumerate() {
                        li {
                            input type="checkbox" id={ "pii-" (i) } name="pii" value=(pointer) checked[*marked];
                            " "
                            label for={ "pii-" (i) } { code.path { (pointer) } }
                        }
                    }
                }
            }
            input type="hidden" name="revision" value=(event_type.revision);
            div.actions {
                button type="submit" { "Save" }
                " "
                a href=(here) { "Cancel" }
            }
        }
    };
    let mut response = Page::new(&title, Section::Catalog).respond(&body);
    *response.status_mut() = status;
    response
}

/// Applies the owner's form and goes back to the page.
pub(crate) async fn edit(
    State(state): State<UiState>,
    Path(name): Path<String>,
    principal: Option<Extension<Principal>>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let who = principal.map(|e| e.0);
    let event_type = match editable(&state, &name, who.as_ref()).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(who) = who else {
        return forbidden(&event_type);
    };
    let value = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let description = value("description")
        .unwrap_or(&event_type.description)
        .replace("\r\n", "\n");
    let tags_text = value("tags").unwrap_or_default().to_owned();
    let mut tags: Vec<String> = tags_text
        .split(',')
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    tags.sort();
    tags.dedup();
    let pii: Option<Vec<String>> = value("pii_form").map(|_| {
        pairs
            .iter()
            .filter(|(k, _)| k == "pii")
            .map(|(_, v)| v.clone())
            .collect()
    });
    let choices: Vec<(String, bool)> = match &pii {
        Some(marked) => {
            let mut all = pii_choices(&state, &name).await.unwrap_or_default();
            for (pointer, on) in &mut all {
                *on = marked.contains(pointer);
            }
            all
        }
        None => Vec::new(),
    };
    let form = EditForm {
        description: &description,
        tags: &tags_text,
        pii: &choices,
    };
    if let Some(revision) = value("revision").and_then(|r| r.parse::<i64>().ok())
        && revision != event_type.revision
    {
        return edit_page(
            &event_type,
            &form,
            Some(
                "Someone changed this event type while you were editing; your text is kept below — check the page and save again.",
            ),
            StatusCode::CONFLICT,
        );
    }
    if pii.as_ref().is_some_and(|p| p.len() > MAX_PII_MARKS) {
        return edit_page(
            &event_type,
            &form,
            Some(&format!(
                "At most {MAX_PII_MARKS} fields can be marked PII."
            )),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let patch = EventTypePatch {
        description: Some(description.clone()),
        tags: Some(tags),
        ..EventTypePatch::default()
    };
    let saved = match state.event_types.update(&who, &name, patch).await {
        Ok(_) => match pii {
            Some(pointers) => state
                .event_types
                .set_pii_marks(&who, &name, pointers)
                .await
                .map(|_| ()),
            None => Ok(()),
        },
        Err(error) => Err(error),
    };
    match saved {
        Ok(()) => (
            StatusCode::SEE_OTHER,
            [(
                header::LOCATION,
                format!("/ui/types/{}", format::segment(&name)),
            )],
        )
            .into_response(),
        Err(EventTypeError::Invalid { field, reason }) => edit_page(
            &event_type,
            &form,
            Some(&format!("{field}: {reason}")),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(EventTypeError::Forbidden(_)) => forbidden(&event_type),
        Err(EventTypeError::NotFound(_)) => no_such_type(&name),
        Err(error) => unavailable("the event type", &error),
    }
}

/// The live event type `name`, if `who` may change it; else the page to answer with.
async fn editable(
    state: &UiState,
    name: &str,
    who: Option<&Principal>,
) -> Result<EventType, Response> {
    let event_type = match state.event_types.get(name).await {
        Ok(found) if found.deleted_at_ms.is_none() => found,
        Ok(_) | Err(EventTypeError::NotFound(_)) => return Err(no_such_type(name)),
        Err(error) => return Err(unavailable("the event type", &error)),
    };
    if who.is_some_and(|w| w.acts_for(&event_type.owner)) {
        Ok(event_type)
    } else {
        Err(forbidden(&event_type))
    }
}

fn forbidden(event_type: &EventType) -> Response {
    Page::error(
        StatusCode::FORBIDDEN,
        "Not allowed",
        &format!(
            "Only team {} (the owner) or an admin may change {}.",
            event_type.owner,
            event_type.name.as_str()
        ),
    )
}

fn no_such_type(name: &str) -> Response {
    Page::error(
        StatusCode::NOT_FOUND,
        "No such event type",
        &format!("There is no event type named {}.", format::clip(name, 200)),
    )
}
