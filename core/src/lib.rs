//! Tributary's shared vocabulary.
//!
//! This crate owns the names every other crate speaks in: event-type names and ids, the
//! record header names written on the wire, the stable error codes of the HTTP API, and the
//! handle to the metadata database. It holds no domain logic and starts no servers; the only
//! I/O it does is opening and migrating the metadata database it hands out.

mod db;
mod envelope;
mod error_code;
mod names;
mod problem;

pub use db::{Database, DatabaseBackend, DbError, MigrationReport, MigrationState, redact_url};
pub use envelope::headers;
pub use error_code::ErrorCode;
pub use names::{EventTypeName, MAX_EVENT_TYPE_LEN, NameError};
pub use problem::{PROBLEM_JSON, Problem};
