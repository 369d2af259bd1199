//! The frame every page shares: document head, the top bar with the search box, and the
//! landmarks (`header`, `nav`, `main`) a screen reader jumps between.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

/// Which top-level section a page belongs to (marked `aria-current` in the navigation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Catalog,
    Producers,
    Replays,
    None,
}

/// A page about to be sent.
#[derive(Debug)]
pub(crate) struct Page<'a> {
    pub(crate) title: &'a str,
    pub(crate) section: Section,
    /// Shown in the top bar's search box.
    pub(crate) query: &'a str,
    /// Seconds after which the browser reloads the page (live progress without a script).
    pub(crate) refresh_secs: Option<u32>,
}

impl<'a> Page<'a> {
    pub(crate) fn new(title: &'a str, section: Section) -> Page<'a> {
        Page {
            title,
            section,
            query: "",
            refresh_secs: None,
        }
    }

    /// Reloads itself every `secs` seconds (`<meta http-equiv="refresh">`).
    pub(crate) fn refreshing(mut self, secs: u32) -> Page<'a> {
        self.refresh_secs = Some(secs);
        self
    }

    pub(crate) fn with_query(mut self, query: &'a str) -> Page<'a> {
        self.query = query;
        self
    }

    /// The whole document around `body`.
    pub(crate) fn render(&self, body: &Markup) -> Markup {
        let current = |section: Section| (self.section == section).then_some("page");
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    @if let Some(secs) = self.refresh_secs {
                        meta http-equiv="refresh" content=(secs);
                    }
                    title { (self.title) " · Tributary" }
                    link rel="stylesheet" href="/ui/assets/app.css";
                }
                body {
                    a.skip href="#main" { "Skip to content" }
                    header.topbar {
                        a.brand href="/ui" { "Tributary" }
                        nav aria-label="Sections" {
                            a href="/ui" aria-current=[current(Section::Catalog)] { "Catalog" }
                            a href="/ui/producers" aria-current=[current(Section::Producers)] { "Producers" }
                            a href="/ui/replays" aria-current=[current(Section::Replays)] { "Replays" }
                        }
                        form.topsearch role="search" action="/ui/search" method="get" {
                            label.visually-hidden for="top-q" { "Search event types" }
                            input #top-q type="search" name="q" value=(self.query)
                                placeholder="Search event types, fields, owners…" autocomplete="off";
                            button type="submit" { "Search" }
                        }
                    }
                    main #main tabindex="-1" { (body) }
                }
            }
        }
    }

    /// A 200 answer with the whole document.
    pub(crate) fn respond(&self, body: &Markup) -> Response {
        html_response(StatusCode::OK, self.render(body))
    }

    /// An error page: what went wrong, in words, with the status it deserves.
    pub(crate) fn error(status: StatusCode, title: &str, detail: &str) -> Response {
        let page = Page::new(title, Section::None);
        let body = html! {
            section.card.error role="alert" {
                h1 { (title) }
                p { (detail) }
                p { a href="/ui" { "Back to the catalog" } }
            }
        };
        html_response(status, page.render(&body))
    }
}

pub(crate) fn html_response(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        markup.into_string(),
    )
        .into_response()
}
