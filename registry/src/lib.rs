//! Schemas (Avro, JSON Schema), canonical forms, compatibility, the validator cache, the Confluent-compatible REST API, event-type metadata and the catalog search index.
//!
//! This crate is filled in by its own issue; until then it only reserves its place in the
//! workspace and its position in the dependency order (see DESIGN.md, "Workspace").
