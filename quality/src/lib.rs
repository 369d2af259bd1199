//! Quality rules, the per-event score, windowed aggregates per event type, producer and schema version, and alerts.
//!
//! This crate is filled in by its own issue; until then it only reserves its place in the
//! workspace and its position in the dependency order (see DESIGN.md, "Workspace").
