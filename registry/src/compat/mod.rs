//! Compatibility levels and the checks between a new schema and the registered versions.

mod avro;
mod json;

use std::fmt;
use std::str::FromStr;

use crate::error::SchemaError;
use crate::schema::{ParsedSchema, SchemaKind};

/// Confluent's compatibility levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompatibilityLevel {
    /// The new schema can read data written with the latest version.
    Backward,
    /// The new schema can read data written with every version.
    BackwardTransitive,
    /// The latest version can read data written with the new schema.
    Forward,
    /// Every version can read data written with the new schema.
    ForwardTransitive,
    /// Backward and forward against the latest version.
    Full,
    /// Backward and forward against every version.
    FullTransitive,
    /// No check.
    None,
}

impl CompatibilityLevel {
    /// Every level, in Confluent's documentation order.
    pub const ALL: [CompatibilityLevel; 7] = [
        CompatibilityLevel::Backward,
        CompatibilityLevel::BackwardTransitive,
        CompatibilityLevel::Forward,
        CompatibilityLevel::ForwardTransitive,
        CompatibilityLevel::Full,
        CompatibilityLevel::FullTransitive,
        CompatibilityLevel::None,
    ];

    /// The Confluent spelling, e.g. `BACKWARD_TRANSITIVE`.
    pub fn as_str(self) -> &'static str {
        match self {
            CompatibilityLevel::Backward => "BACKWARD",
            CompatibilityLevel::BackwardTransitive => "BACKWARD_TRANSITIVE",
            CompatibilityLevel::Forward => "FORWARD",
            CompatibilityLevel::ForwardTransitive => "FORWARD_TRANSITIVE",
            CompatibilityLevel::Full => "FULL",
            CompatibilityLevel::FullTransitive => "FULL_TRANSITIVE",
            CompatibilityLevel::None => "NONE",
        }
    }

    /// Whether the level checks every version rather than the latest only.
    pub fn is_transitive(self) -> bool {
        matches!(
            self,
            CompatibilityLevel::BackwardTransitive
                | CompatibilityLevel::ForwardTransitive
                | CompatibilityLevel::FullTransitive
        )
    }

    fn checks_backward(self) -> bool {
        matches!(
            self,
            CompatibilityLevel::Backward
                | CompatibilityLevel::BackwardTransitive
                | CompatibilityLevel::Full
                | CompatibilityLevel::FullTransitive
        )
    }

    fn checks_forward(self) -> bool {
        matches!(
            self,
            CompatibilityLevel::Forward
                | CompatibilityLevel::ForwardTransitive
                | CompatibilityLevel::Full
                | CompatibilityLevel::FullTransitive
        )
    }
}

impl fmt::Display for CompatibilityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CompatibilityLevel {
    type Err = SchemaError;

    /// Parses Confluent's spelling (case-insensitive); anything else is error 42203.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        for level in CompatibilityLevel::ALL {
            if level.as_str().eq_ignore_ascii_case(s.trim()) {
                return Ok(level);
            }
        }
        Err(SchemaError::InvalidCompatibilityLevel(s.to_string()))
    }
}

/// Which way a pair was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The new schema reads data written with the old one (backward).
    NewReadsOld,
    /// The old schema reads data written with the new one (forward).
    OldReadsNew,
}

/// The kind of an incompatibility; the names are Confluent's (Java's `SchemaCompatibility`)
/// where Confluent has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IncompatibilityKind {
    /// The two schemas are of different formats (AVRO vs JSON).
    SchemaTypeMismatch,
    /// Avro: a reader field absent from the writer has no default.
    ReaderFieldMissingDefaultValue,
    /// Avro: the reader type cannot read the writer type.
    TypeMismatch,
    /// Avro: a writer union branch (or a writer type) matches no reader branch.
    MissingUnionBranch,
    /// Avro: writer enum symbols missing from a reader enum without a default.
    MissingEnumSymbols,
    /// Avro: named types whose names (and aliases) do not match.
    NameMismatch,
    /// Avro: fixed types of different sizes.
    FixedSizeMismatch,
    /// JSON Schema: the reader accepts fewer types than the writer.
    TypeNarrowed,
    /// JSON Schema: the reader requires a property the writer does not.
    RequiredAttributeAdded,
    /// JSON Schema: the writer allows a property that a closed reader forbids.
    PropertyAddedToClosedContentModel,
    /// JSON Schema: the reader's `additionalProperties` (or `items`) admits less.
    AdditionalPropertiesNarrowed,
    /// JSON Schema: the reader's `enum` / `const` admits fewer values.
    EnumArrayNarrowed,
    /// JSON Schema: a numeric, length, item-count or property-count bound is tighter.
    BoundNarrowed,
    /// JSON Schema: `multipleOf` changed so old values may not be multiples.
    MultipleOfChanged,
    /// JSON Schema: `pattern` (or `format`) differs; regex containment is not decided.
    PatternChanged,
    /// JSON Schema: a `$ref` could not be resolved for comparison.
    UnresolvedReference,
    /// JSON Schema: a construct (combinator, keyword) the checker cannot prove compatible.
    NotProvablyCompatible,
    /// The schemas are too deep or too large to check within the checker's budget.
    CheckBudgetExceeded,
}

impl IncompatibilityKind {
    /// The upper-case name used in messages, e.g. `READER_FIELD_MISSING_DEFAULT_VALUE`.
    pub fn as_str(self) -> &'static str {
        match self {
            IncompatibilityKind::SchemaTypeMismatch => "SCHEMA_TYPE_MISMATCH",
            IncompatibilityKind::ReaderFieldMissingDefaultValue => {
                "READER_FIELD_MISSING_DEFAULT_VALUE"
            }
            IncompatibilityKind::TypeMismatch => "TYPE_MISMATCH",
            IncompatibilityKind::MissingUnionBranch => "MISSING_UNION_BRANCH",
            IncompatibilityKind::MissingEnumSymbols => "MISSING_ENUM_SYMBOLS",
            IncompatibilityKind::NameMismatch => "NAME_MISMATCH",
            IncompatibilityKind::FixedSizeMismatch => "FIXED_SIZE_MISMATCH",
            IncompatibilityKind::TypeNarrowed => "TYPE_NARROWED",
            IncompatibilityKind::RequiredAttributeAdded => "REQUIRED_ATTRIBUTE_ADDED",
            IncompatibilityKind::PropertyAddedToClosedContentModel => {
                "PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL"
            }
            IncompatibilityKind::AdditionalPropertiesNarrowed => "ADDITIONAL_PROPERTIES_NARROWED",
            IncompatibilityKind::EnumArrayNarrowed => "ENUM_ARRAY_NARROWED",
            IncompatibilityKind::BoundNarrowed => "BOUND_NARROWED",
            IncompatibilityKind::MultipleOfChanged => "MULTIPLE_OF_CHANGED",
            IncompatibilityKind::PatternChanged => "PATTERN_CHANGED",
            IncompatibilityKind::UnresolvedReference => "UNRESOLVED_REFERENCE",
            IncompatibilityKind::NotProvablyCompatible => "NOT_PROVABLY_COMPATIBLE",
            IncompatibilityKind::CheckBudgetExceeded => "CHECK_BUDGET_EXCEEDED",
        }
    }
}

impl fmt::Display for IncompatibilityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason a new schema is not compatible with a registered version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incompatibility {
    /// What kind of problem.
    pub kind: IncompatibilityKind,
    /// JSON-pointer-like location in the reader schema, e.g. `/fields/2/type`; `/` is the root.
    pub path: String,
    /// Lowercase explanation.
    pub message: String,
    /// Index into the `previous` slice given to [`check`] of the version this concerns.
    pub version_index: usize,
    /// Whether the new schema was the reader or the writer.
    pub direction: Direction,
}

impl fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match self.direction {
            Direction::NewReadsOld => "new schema reading old data",
            Direction::OldReadsNew => "old schema reading new data",
        };
        write!(
            f,
            "{} at {} ({}): {}",
            self.kind, self.path, who, self.message
        )
    }
}

/// A problem found by a pair check, before it is tagged with version and direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub(crate) kind: IncompatibilityKind,
    pub(crate) path: String,
    pub(crate) message: String,
}

impl Finding {
    pub(crate) fn new(kind: IncompatibilityKind, path: &str, message: String) -> Finding {
        let path = if path.is_empty() { "/" } else { path };
        Finding {
            kind,
            path: path.to_string(),
            message,
        }
    }
}

/// Checks `new` against the registered versions (`previous`, oldest first) at `level`.
///
/// Non-transitive levels check the last element of `previous` only; transitive levels check
/// every element. An empty result means compatible. Sync and CPU-bound: call it from
/// `spawn_blocking` when `previous` is long.
pub fn check(
    level: CompatibilityLevel,
    new: &ParsedSchema,
    previous: &[ParsedSchema],
) -> Vec<Incompatibility> {
    let mut out = Vec::new();
    if level == CompatibilityLevel::None || previous.is_empty() {
        return out;
    }
    let first = if level.is_transitive() {
        0
    } else {
        previous.len() - 1
    };
    for (index, old) in previous.iter().enumerate().skip(first) {
        if level.checks_backward() {
            for finding in check_pair(new, old) {
                out.push(tag(finding, index, Direction::NewReadsOld));
            }
        }
        if level.checks_forward() {
            for finding in check_pair(old, new) {
                out.push(tag(finding, index, Direction::OldReadsNew));
            }
        }
    }
    out
}

/// Whether [`check`] finds nothing.
pub fn is_compatible(
    level: CompatibilityLevel,
    new: &ParsedSchema,
    previous: &[ParsedSchema],
) -> bool {
    check(level, new, previous).is_empty()
}

fn tag(finding: Finding, version_index: usize, direction: Direction) -> Incompatibility {
    Incompatibility {
        kind: finding.kind,
        path: finding.path,
        message: finding.message,
        version_index,
        direction,
    }
}

/// Can `reader` read everything `writer` describes?
fn check_pair(reader: &ParsedSchema, writer: &ParsedSchema) -> Vec<Finding> {
    match (&reader.kind, &writer.kind) {
        (SchemaKind::Avro(r), SchemaKind::Avro(w)) => avro::check(r, w),
        (SchemaKind::Json(r), SchemaKind::Json(w)) => json::check(r, w),
        _ => vec![Finding::new(
            IncompatibilityKind::SchemaTypeMismatch,
            "",
            format!(
                "a {} schema cannot read {} data",
                reader.schema_type(),
                writer.schema_type()
            ),
        )],
    }
}
