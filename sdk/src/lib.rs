//! The Rust producer SDK for Tributary.
//!
//! Filled in by the gateway work; until then it only reserves its place in the workspace.
