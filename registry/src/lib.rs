//! The schema core of Tributary's registry: parsing Avro and JSON Schema, canonical forms and
//! fingerprints, schema references, compatibility checking, and the cache of compiled
//! validators the ingest path uses.
//!
//! This crate owns what a schema *means*. Its schema core is pure: it does no I/O, starts no
//! servers, and never fetches anything a schema points at — references arrive already
//! resolved through a [`ReferenceResolver`] that storage implements. Every refusal is a
//! [`SchemaError`] carrying Confluent's error code. Parsing and compatibility checks are sync
//! and CPU-bound; async callers run them on a blocking pool.
//!
//! On top of that core sit the storage of schemas in SQL ([`Registry`], SQLite or
//! PostgreSQL through `tributary_core::Database`) and the Confluent-compatible REST API
//! ([`router`]), which the binary mounts at the root paths.
//!
//! Event types ([`EventTypes`], `/v1/event-types` through [`api_routes`]) tie a schema
//! subject to an owning team, a topic in the event log and an audit trail; the same
//! ownership guards the Confluent write routes.
//!
//! The catalog search index ([`CatalogIndex`], tantivy) is a cache of the catalog: it can be
//! wiped and rebuilt from SQL at any time.

mod api;
mod avro_json;
mod avro_scan;
mod cache;
mod compat;
mod compiled;
mod error;
mod event_types;
mod fields;
mod limits;
mod redact;
mod schema;
mod search;
mod store;
mod tape;

pub use api::{MAX_BODY_BYTES, SCHEMA_REGISTRY_JSON, not_found_response, router, routes};
pub use cache::{SchemaId, ValidatorCache};
pub use compat::{
    CompatibilityLevel, Direction, Incompatibility, IncompatibilityKind, check, is_compatible,
};
pub use compiled::{CompiledSchema, confluent_frame, confluent_prefix, split_confluent_frame};
pub use error::{DecodeError, INVALID_COMPATIBILITY_LEVEL, INVALID_SCHEMA, SchemaError, Violation};
pub use event_types::{
    Caller, Enforcement, EventType, EventTypeError, EventTypePatch, EventTypeSettings,
    EventTypeView, EventTypes, IncompatibilityOut, JsonBody, LatestSchema, MAX_DESCRIPTION_BYTES,
    MAX_METADATA_BODY_BYTES, MAX_PII_MARKS, MAX_TAGS, NewEventType, PiiMark, RegisteredVersion,
    api_routes, authenticate, identify, pii_pointers, problem_response,
};
pub use fields::{
    Field, MAX_FIELD_DEPTH, MAX_FIELDS, check_field_pointer, escape_segment, schema_fields,
};
pub use jsonschema::types::JsonType;
pub use limits::SchemaLimits;
pub use redact::{REDACTED, redact_pii};
pub use schema::{
    InMemoryReferences, JsonDraft, ParsedSchema, ReferenceResolver, RegisteredSchema,
    SchemaReference, SchemaType,
};
pub use search::{
    COMMIT_DELAY, CatalogDocument, CatalogIndex, DEFAULT_SEARCH_LIMIT, Facets, MAX_FACET_VALUES,
    MAX_SEARCH_LIMIT, MAX_SEARCH_OFFSET, QualityBand, SearchError, SearchField, SearchHit,
    SearchRequest, SearchResults,
};
pub use store::{
    CompatibilityReport, DeletedFilter, Mode, NewSchema, RegisterOptions, Registry, RegistryError,
    StoredSchema, SubjectVersion, VersionSpec,
};
pub use tape::{JsonTape, MemberCursor, TapeError, TapeJson, TapeNode};
