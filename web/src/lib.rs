//! The catalog and the web UI, read-only over the other crates: this crate turns event types,
//! their schemas and their quality history into the catalog's search index (kept current from
//! the audit log) and serves the catalog's search. The HTML pages come with the catalog issue.
//! It never changes an event type, a schema or an event.

mod catalog;
mod search_http;

pub use catalog::{CatalogError, CatalogFeed, CatalogOptions, CatalogTask, spawn_catalog};
pub use search_http::{CATALOG_TAG, search_routes};
