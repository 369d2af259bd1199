//! The ingest API and pipeline: producer identity and permissions, validation, dead-letter routing, idempotency and back-pressure.
//!
//! This crate is filled in by its own issue; until then it only reserves its place in the
//! workspace and its position in the dependency order (see DESIGN.md, "Workspace").
