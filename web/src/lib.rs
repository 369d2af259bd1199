//! The catalog and the web UI, read-only over the other crates' data: this crate turns event
//! types, their schemas and their quality history into the catalog's search index (kept
//! current from the audit log), serves the catalog's search, and renders the UI under `/ui`.
//! The only changes it makes — an owner's description, tags and PII marks — go through the
//! registry's own service, with its owner checks and audit entries. It never touches an event.

mod catalog;
mod search_http;
mod ui;

pub use catalog::{CatalogError, CatalogFeed, CatalogOptions, CatalogTask, spawn_catalog};
pub use search_http::{CATALOG_TAG, search_routes};
pub use ui::{CONTENT_SECURITY_POLICY, UiState, ui_routes};
