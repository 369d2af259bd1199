//! The registry's error contract: every refusal carries Confluent's `error_code`, and the
//! messages of Confluent's own errors keep Confluent's wording (clients and people grep them).

use crate::error::SchemaError;

/// Why a registry operation was refused or failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    #[error("Subject '{0}' not found.")]
    SubjectNotFound(String),
    #[error("Version {0} not found.")]
    VersionNotFound(i32),
    #[error("Schema {0} not found.")]
    SchemaNotFound(i64),
    /// `POST /subjects/{subject}` found no version holding the schema.
    #[error("Schema not found")]
    SchemaNotRegistered,
    #[error("Subject '{0}' was soft deleted. Set permanent=true to delete permanently")]
    SubjectSoftDeleted(String),
    #[error("Subject '{0}' was not deleted first before being permanently deleted")]
    SubjectNotSoftDeleted(String),
    #[error(
        "Subject '{subject}' Version {version} was soft deleted. Set permanent=true to delete permanently"
    )]
    VersionSoftDeleted { subject: String, version: i32 },
    #[error(
        "Subject '{subject}' Version {version} was not deleted first before being permanently deleted"
    )]
    VersionNotSoftDeleted { subject: String, version: i32 },
    #[error("Subject '{0}' does not have subject-level compatibility configured")]
    SubjectCompatibilityNotConfigured(String),
    #[error("Subject '{0}' does not have subject-level mode configured")]
    SubjectModeNotConfigured(String),
    /// The schema breaks the subject's compatibility level; one message per incompatibility.
    #[error(
        "Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}]",
        .messages.join(", ")
    )]
    Incompatible {
        subject: String,
        messages: Vec<String>,
    },
    /// The schema (or one of its references) is invalid, or the compatibility level is unknown.
    #[error("{}", invalid_schema_message(.0))]
    InvalidSchema(SchemaError),
    #[error("Empty schema")]
    EmptySchema,
    #[error(
        "The specified version '{0}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""
    )]
    InvalidVersion(String),
    #[error("Invalid mode {0:?}. Valid values are READWRITE, READONLY and IMPORT")]
    InvalidMode(String),
    #[error("{0}")]
    OperationNotPermitted(String),
    #[error("One or more references exist to the schema {{subject={subject},version={version}}}.")]
    ReferenceExists { subject: String, version: i32 },
    /// The database failed; the message says how (lowercase, no credentials).
    #[error("Error in the backend data store: {0}")]
    Store(String),
}

fn invalid_schema_message(error: &SchemaError) -> String {
    match error {
        SchemaError::InvalidCompatibilityLevel(_) => error.to_string(),
        _ => format!("Invalid schema: {error}"),
    }
}

impl RegistryError {
    /// Confluent's `error_code` for this error.
    pub fn confluent_code(&self) -> u32 {
        match self {
            RegistryError::SubjectNotFound(_) => 40401,
            RegistryError::VersionNotFound(_) => 40402,
            RegistryError::SchemaNotFound(_) => 40403,
            RegistryError::SchemaNotRegistered => 40403,
            RegistryError::SubjectSoftDeleted(_) => 40404,
            RegistryError::SubjectNotSoftDeleted(_) => 40405,
            RegistryError::VersionSoftDeleted { .. } => 40406,
            RegistryError::VersionNotSoftDeleted { .. } => 40407,
            RegistryError::SubjectCompatibilityNotConfigured(_) => 40408,
            RegistryError::SubjectModeNotConfigured(_) => 40409,
            RegistryError::Incompatible { .. } => 409,
            RegistryError::InvalidSchema(error) => error.confluent_code(),
            RegistryError::EmptySchema => 42201,
            RegistryError::InvalidVersion(_) => 42202,
            RegistryError::InvalidMode(_) => 42204,
            RegistryError::OperationNotPermitted(_) => 42205,
            RegistryError::ReferenceExists { .. } => 42206,
            RegistryError::Store(_) => 50001,
        }
    }

    /// The HTTP status: the first three digits of the code.
    pub fn http_status(&self) -> u16 {
        let code = self.confluent_code();
        if code < 1000 {
            code as u16
        } else {
            (code / 100) as u16
        }
    }
}

impl From<SchemaError> for RegistryError {
    fn from(error: SchemaError) -> Self {
        RegistryError::InvalidSchema(error)
    }
}

impl From<sqlx::Error> for RegistryError {
    fn from(error: sqlx::Error) -> Self {
        RegistryError::Store(error.to_string())
    }
}
