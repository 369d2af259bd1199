//! The error contract of the schema core: every variant maps to a Confluent error code.

/// Why a schema, a reference or a compatibility level was refused.
///
/// Every variant answers HTTP 422 in the Confluent API; [`SchemaError::confluent_code`] gives
/// the `error_code` of Confluent's error body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// `schemaType` is neither `AVRO` nor `JSON` (`PROTOBUF` included: it is not supported).
    #[error("unsupported schema type {0:?}: use AVRO or JSON")]
    UnsupportedSchemaType(String),
    /// The schema text (or a referenced schema's text) is larger than the configured limit.
    #[error("schema is {size} bytes long; at most {max} bytes are allowed")]
    TooLarge {
        /// Size of the refused text in bytes.
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// The schema text nests arrays and objects deeper than the configured limit.
    #[error("schema nests arrays and objects deeper than {max} levels")]
    TooDeep {
        /// The configured limit.
        max: usize,
    },
    /// The schema text is not JSON.
    #[error("invalid json: {0}")]
    InvalidJson(String),
    /// The text is JSON but not a valid Avro schema.
    #[error("invalid avro schema: {0}")]
    InvalidAvro(String),
    /// The text is JSON but not a valid JSON Schema (or one that does not compile).
    #[error("invalid json schema: {0}")]
    InvalidJsonSchema(String),
    /// A reference names a subject and version the resolver does not know.
    #[error("reference {name:?} to subject {subject:?} version {version} not found")]
    ReferenceNotFound {
        /// The reference's name as the schema uses it.
        name: String,
        /// The subject it points to.
        subject: String,
        /// The version it points to.
        version: i32,
    },
    /// References form a cycle; the message lists the path, e.g. `a/1 -> b/1 -> a/1`.
    #[error("reference cycle: {0}")]
    ReferenceCycle(String),
    /// More references (counted transitively) than the configured limit.
    #[error("schema has more than {max} references (counted transitively)")]
    TooManyReferences {
        /// The configured limit.
        max: usize,
    },
    /// A reference is malformed or of another schema type than the schema using it.
    #[error("invalid reference: {0}")]
    InvalidReference(String),
    /// A compatibility level that is not one of Confluent's seven.
    #[error(
        "invalid compatibility level {0:?}: use one of BACKWARD, BACKWARD_TRANSITIVE, FORWARD, \
         FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE, NONE"
    )]
    InvalidCompatibilityLevel(String),
}

/// Confluent's `error_code` for an invalid schema.
pub const INVALID_SCHEMA: u32 = 42201;
/// Confluent's `error_code` for an invalid compatibility level.
pub const INVALID_COMPATIBILITY_LEVEL: u32 = 42203;

impl SchemaError {
    /// The `error_code` Confluent's Schema Registry answers with for this error.
    pub fn confluent_code(&self) -> u32 {
        match self {
            SchemaError::InvalidCompatibilityLevel(_) => INVALID_COMPATIBILITY_LEVEL,
            _ => INVALID_SCHEMA,
        }
    }

    /// The HTTP status of the Confluent error body (always 422, "unprocessable entity").
    pub fn http_status(&self) -> u16 {
        422
    }
}

/// One place where a data value does not fit its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer (RFC 6901) into the validated value; `""` is the whole value.
    pub pointer: String,
    /// What is wrong there, lowercase.
    pub message: String,
}

impl Violation {
    pub(crate) fn new(pointer: &str, message: impl Into<String>) -> Violation {
        Violation {
            pointer: pointer.to_string(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.pointer.is_empty() {
            write!(f, "at the root: {}", self.message)
        } else {
            write!(f, "at {}: {}", self.pointer, self.message)
        }
    }
}

/// Why binary data could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes do not start with Confluent's magic byte 0 and a 4-byte schema id.
    #[error("missing confluent wire-format prefix (magic byte 0 and a 4-byte schema id)")]
    MissingPrefix,
    /// The schema is not an Avro schema.
    #[error("schema is not an avro schema")]
    NotAvro,
    /// The payload is not a valid Avro binary encoding of the schema.
    #[error("invalid avro binary: {0}")]
    InvalidAvro(String),
    /// Bytes remain after the decoded value.
    #[error("{0} trailing bytes after the avro value")]
    TrailingBytes(usize),
}

/// Escapes one JSON-pointer token (RFC 6901).
pub(crate) fn pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}
