//! Replay jobs: selecting retained events, targets, rate limits, checkpoints, audit export and the job API.
//!
//! This crate is filled in by its own issue; until then it only reserves its place in the
//! workspace and its position in the dependency order (see DESIGN.md, "Workspace").
