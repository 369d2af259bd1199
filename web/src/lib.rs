//! The web UI: server-rendered HTML pages and assets, read-only over the other crates.
//!
//! This crate is filled in by its own issue; until then it only reserves its place in the
//! workspace and its position in the dependency order (see DESIGN.md, "Workspace").
