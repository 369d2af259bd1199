//! The feature and inference layer: feature views, the materializer, the online store and model endpoints.
//!
//! This crate is filled in by its own issue; until then it only reserves its place in the
//! workspace and its position in the dependency order (see DESIGN.md, "Workspace").
