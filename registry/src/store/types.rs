//! The values the registry service takes and hands back.

use std::fmt;
use std::str::FromStr;

use crate::cache::SchemaId;
use crate::schema::{SchemaReference, SchemaType};

use super::error::RegistryError;

/// A version as a request names it: a number or the latest one (`latest` or `-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSpec {
    Latest,
    Number(i32),
}

impl FromStr for VersionSpec {
    type Err = RegistryError;

    /// Confluent's rule: a positive int32, `latest`, or `-1`; anything else is error 42202.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("latest") || s == "-1" {
            return Ok(VersionSpec::Latest);
        }
        match s.parse::<i32>() {
            Ok(n) if n >= 1 => Ok(VersionSpec::Number(n)),
            _ => Err(RegistryError::InvalidVersion(s.to_string())),
        }
    }
}

/// Confluent's registry modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Normal operation.
    ReadWrite,
    /// Every write is refused with 42205.
    ReadOnly,
    /// Registrations keep the ids and versions they are given; no compatibility checks.
    Import,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ReadWrite => "READWRITE",
            Mode::ReadOnly => "READONLY",
            Mode::Import => "IMPORT",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = RegistryError;

    /// Case-insensitive; anything else is error 42204.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        for mode in [Mode::ReadWrite, Mode::ReadOnly, Mode::Import] {
            if mode.as_str().eq_ignore_ascii_case(s.trim()) {
                return Ok(mode);
            }
        }
        Err(RegistryError::InvalidMode(s.to_string()))
    }
}

/// A schema as registered under its global id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSchema {
    pub id: SchemaId,
    pub schema_type: SchemaType,
    /// The text as registered (the normalized text when registered with `normalize=true`).
    pub schema: String,
    /// Direct references, each with a concrete version.
    pub references: Vec<SchemaReference>,
}

/// One version of a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectVersion {
    pub subject: String,
    pub version: i32,
    pub deleted: bool,
    pub schema: StoredSchema,
}

/// A schema submitted for registration, lookup or a compatibility check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSchema {
    pub schema_type: SchemaType,
    pub schema: String,
    /// References as submitted; version `-1` means the referenced subject's latest version.
    pub references: Vec<SchemaReference>,
}

/// How to register.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegisterOptions {
    /// Register (and compare) the normalized form.
    pub normalize: bool,
    /// IMPORT mode only: the id to keep.
    pub id: Option<i64>,
    /// IMPORT mode only: the version to keep.
    pub version: Option<i32>,
}

/// Which deleted items a listing includes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeletedFilter {
    /// Live items only.
    #[default]
    Exclude,
    /// Live and soft-deleted items.
    Include,
    /// Soft-deleted items only.
    Only,
}

/// The answer of a compatibility check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatibilityReport {
    pub is_compatible: bool,
    /// One message per incompatibility, in Confluent's verbose style.
    pub messages: Vec<String>,
}
