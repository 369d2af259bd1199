//! Tributary's shared vocabulary.
//!
//! This crate owns the names every other crate speaks in: event-type names and ids, the
//! record header names written on the wire, the stable error codes of the HTTP API, the
//! principal a request acts as, and the handle to the metadata database and its audit log.
//! It holds no domain logic and starts no servers; the only I/O it does is on the metadata
//! database it hands out (migrations and audit entries).

mod audit;
mod db;
mod envelope;
mod error_code;
mod names;
mod principal;
mod problem;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use audit::{AuditEntry, AuditRecord, now_ms, record_audit_in};
pub use db::{Database, DatabaseBackend, DbError, MigrationReport, MigrationState, redact_url};
pub use envelope::headers;
pub use error_code::ErrorCode;
pub use names::{EventTypeName, MAX_EVENT_TYPE_LEN, NameError};
pub use principal::{
    AuthMode, Authenticated, Authentication, KeyVerifier, MAX_GRANT_PATTERN_LEN,
    MAX_PARTY_NAME_LEN, PRINCIPAL_HEADER, Principal, PrincipalError, PrincipalKind, PublishGrants,
    VerifyFuture, check_grant_pattern, checked_party_name, grant_matches,
};
pub use problem::{PROBLEM_JSON, Problem};
