//! The web UI under `/ui`: HTML rendered on the server with [`maud`], one stylesheet, no
//! JavaScript.
//!
//! Why server-rendered: the catalog is read far more than it is changed, its readers arrive
//! from links in chat and runbooks, and every page is a handful of SQL reads away from being
//! complete. Rendering on the server gives a page that is whole on first paint, works without
//! JavaScript (and so with every screen reader and text browser), needs no build step or
//! client bundle to keep current, and keeps untrusted text on one path — `maud` escapes every
//! value interpolated into a page unless it is wrapped in `PreEscaped`, which only the
//! Markdown renderer and the chart/diff builders (whose own inputs are escaped) produce.
//!
//! Every answer carries a Content-Security-Policy that allows only this server's stylesheet
//! (no scripts at all, no inline styles, no frames), `nosniff` and a same-origin referrer.
//! Changes (description, tags, PII marks) are plain form posts, accepted only from this
//! origin (see [`same_origin`]) and made through the registry's own service, so the owner
//! checks and the audit log are the API's.

mod chart;
mod diff;
mod event_type;
mod format;
mod home;
mod layout;
mod markdown;
mod producers;
mod replays;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tributary_gateway::Producers;
use tributary_quality::{History, RuleService, Samples};
use tributary_registry::{CatalogIndex, EventTypes};
use tributary_replay::ReplayService;

pub(crate) use layout::Page;

/// The policy every UI answer carries: this server's stylesheet and images from `data:` URLs,
/// nothing else — no script of any origin, no inline style, no frames, forms post here only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What the pages read from.
#[derive(Clone)]
pub struct UiState {
    pub event_types: EventTypes,
    pub rules: RuleService,
    pub history: History,
    pub index: CatalogIndex,
    pub producers: Arc<Producers>,
    /// Recent samples and dead-letter reasons (PII redacted on read).
    pub samples: Samples,
    /// Replay jobs and their live progress.
    pub replays: ReplayService,
}

impl std::fmt::Debug for UiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UiState").finish_non_exhaustive()
    }
}

/// The UI's routes, under `/ui`.
pub fn ui_routes(state: UiState) -> Router {
    Router::new()
        .route("/ui", get(home::home))
        .route("/ui/", get(home::home))
        .route("/ui/search", get(home::search))
        .route("/ui/types/{name}", get(event_type::page))
        .route(
            "/ui/types/{name}/edit",
            get(event_type::edit_form).post(event_type::edit),
        )
        .route("/ui/producers", get(producers::page))
        .route("/ui/replays", get(replays::list))
        .route("/ui/replays/{id}", get(replays::job))
        .route("/ui/assets/app.css", get(stylesheet))
        .route("/ui/{*rest}", get(not_found))
        .with_state(state)
        .layer(middleware::from_fn(secure_headers))
}

/// Adds the security headers to every UI answer, and refuses changes posted from elsewhere.
async fn secure_headers(request: Request, next: Next) -> Response {
    if request.method() != Method::GET
        && request.method() != Method::HEAD
        && !same_origin(request.headers())
    {
        return Page::error(
            StatusCode::FORBIDDEN,
            "Refused",
            "Changes are accepted only from pages of this server.",
        );
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Whether a state-changing request comes from this server's own pages. Browsers send
/// `Sec-Fetch-Site` on every request (`same-origin` from our forms); older ones send
/// `Origin` on form posts, which must then name the host the request was sent to. A request
/// with neither is not from a browser (curl, a test), and a browser attack cannot strip both,
/// so it is let through — its credentials are checked like any API call.
fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (origin.to_str().ok(), host) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host),
        _ => false,
    }
}

const STYLESHEET: &str = include_str!("app.css");

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

async fn not_found(uri: axum::http::Uri) -> Response {
    Page::error(
        StatusCode::NOT_FOUND,
        "Not found",
        &format!("There is no page at {}.", uri.path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn posts_from_this_origin_only() {
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(same_origin(&headers(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080")
        ])));
        assert!(!same_origin(&headers(&[
            ("origin", "http://evil.example"),
            ("host", "127.0.0.1:8080")
        ])));
        assert!(!same_origin(&headers(&[("origin", "null")])));
        // Not a browser: its key (or the loopback rule) decides.
        assert!(same_origin(&HeaderMap::new()));
    }
}
