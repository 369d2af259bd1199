//! Schema types, references, and parsing into a [`ParsedSchema`].

mod avro;
mod canonical;
mod json;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::compiled::CompiledSchema;
use crate::error::SchemaError;
use crate::limits::SchemaLimits;

pub(crate) use avro::AvroSchema;
pub use json::JsonDraft;
pub(crate) use json::{BASE_URI, JsonSchemaDoc, JsonValidators};

/// The schema formats the registry accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaType {
    /// Apache Avro (Confluent name `AVRO`, the default when `schemaType` is absent).
    Avro,
    /// JSON Schema, drafts 4, 6, 7, 2019-09 and 2020-12 (Confluent name `JSON`).
    Json,
}

impl SchemaType {
    /// The Confluent spelling: `AVRO` or `JSON`.
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Json => "JSON",
        }
    }
}

impl fmt::Display for SchemaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SchemaType {
    type Err = SchemaError;

    /// Parses Confluent's `schemaType` (case-insensitive); `PROTOBUF` and anything else is refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("AVRO") {
            return Ok(SchemaType::Avro);
        }
        if s.eq_ignore_ascii_case("JSON") {
            return Ok(SchemaType::Json);
        }
        Err(SchemaError::UnsupportedSchemaType(s.to_string()))
    }
}

/// A reference from one schema to a schema registered under another subject (Confluent's
/// `references` entry).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchemaReference {
    /// How the referencing schema names it: the full name of an Avro named type, or the
    /// `$ref` URI of a JSON Schema (e.g. `address.json`).
    pub name: String,
    /// The subject the referenced schema is registered under.
    pub subject: String,
    /// The version of that subject.
    pub version: i32,
}

/// A registered schema as storage hands it back when a reference is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredSchema {
    /// Its format; must equal the referencing schema's.
    pub schema_type: SchemaType,
    /// Its text as registered.
    pub schema: String,
    /// Its own references (resolved in turn, transitively).
    pub references: Vec<SchemaReference>,
}

/// Looks up the schema a reference points to. Storage implements this (or fills an
/// [`InMemoryReferences`] beforehand); the schema core itself does no I/O.
pub trait ReferenceResolver {
    /// The schema registered under `reference.subject` at `reference.version`, if any.
    fn resolve(&self, reference: &SchemaReference) -> Option<RegisteredSchema>;
}

impl<F> ReferenceResolver for F
where
    F: Fn(&SchemaReference) -> Option<RegisteredSchema>,
{
    fn resolve(&self, reference: &SchemaReference) -> Option<RegisteredSchema> {
        self(reference)
    }
}

/// A resolver over an in-memory map of `(subject, version)` to schema.
#[derive(Debug, Clone, Default)]
pub struct InMemoryReferences {
    schemas: HashMap<(String, i32), RegisteredSchema>,
}

impl InMemoryReferences {
    /// An empty resolver: every reference is unknown.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the schema registered under `subject` at `version`.
    pub fn insert(&mut self, subject: &str, version: i32, schema: RegisteredSchema) {
        self.schemas.insert((subject.to_string(), version), schema);
    }
}

impl ReferenceResolver for InMemoryReferences {
    fn resolve(&self, reference: &SchemaReference) -> Option<RegisteredSchema> {
        self.schemas
            .get(&(reference.subject.clone(), reference.version))
            .cloned()
    }
}

/// A referenced schema after resolution, with the name the referencing schema used for it.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedReference {
    pub(crate) name: String,
    pub(crate) text: String,
    pub(crate) value: serde_json::Value,
}

/// A schema that has been parsed, checked and compiled: the unit the registry stores,
/// compares and hands to the validator cache.
#[derive(Debug, Clone)]
pub struct ParsedSchema {
    schema_type: SchemaType,
    text: String,
    references: Vec<SchemaReference>,
    canonical: String,
    normalized: String,
    pub(crate) kind: SchemaKind,
    compiled: Arc<CompiledSchema>,
}

/// The format-specific model of a parsed schema, used by the compatibility checker.
#[derive(Debug, Clone)]
pub(crate) enum SchemaKind {
    Avro(Arc<AvroSchema>),
    Json(Arc<JsonSchemaDoc>),
}

impl ParsedSchema {
    /// Parses and checks `text` as a schema of `schema_type`, resolving `references` (and their
    /// references, transitively) through `resolver`, within the default [`SchemaLimits`].
    pub fn parse(
        schema_type: SchemaType,
        text: &str,
        references: &[SchemaReference],
        resolver: &dyn ReferenceResolver,
    ) -> Result<ParsedSchema, SchemaError> {
        Self::parse_with_limits(
            schema_type,
            text,
            references,
            resolver,
            &SchemaLimits::default(),
        )
    }

    /// [`ParsedSchema::parse`] with explicit limits.
    pub fn parse_with_limits(
        schema_type: SchemaType,
        text: &str,
        references: &[SchemaReference],
        resolver: &dyn ReferenceResolver,
        limits: &SchemaLimits,
    ) -> Result<ParsedSchema, SchemaError> {
        let value = limits.parse_json(text)?;
        let resolved = resolve_references(schema_type, references, resolver, limits)?;
        let (kind, compiled) = match schema_type {
            SchemaType::Avro => {
                let schema = Arc::new(AvroSchema::parse(text, &value, &resolved)?);
                let compiled = CompiledSchema::from_avro(Arc::clone(&schema));
                (SchemaKind::Avro(schema), compiled)
            }
            SchemaType::Json => {
                let (doc, validators) = JsonSchemaDoc::parse(&value, &resolved)?;
                let doc = Arc::new(doc);
                let compiled = CompiledSchema::from_json(validators);
                (SchemaKind::Json(doc), compiled)
            }
        };
        let canonical = canonical::canonical_json(&value);
        let normalized = match schema_type {
            SchemaType::Avro => canonical::canonical_json(&canonical::normalize_avro(&value)),
            SchemaType::Json => canonical::canonical_json(&canonical::normalize_json(&value)),
        };
        Ok(ParsedSchema {
            schema_type,
            text: text.to_string(),
            references: references.to_vec(),
            canonical,
            normalized,
            kind,
            compiled: Arc::new(compiled),
        })
    }

    /// The schema's format.
    pub fn schema_type(&self) -> SchemaType {
        self.schema_type
    }

    /// The text as submitted.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The references as submitted (direct ones only).
    pub fn references(&self) -> &[SchemaReference] {
        &self.references
    }

    /// Canonical text: compact JSON with object keys sorted. Keeps everything else (field
    /// order, defaults, docs, aliases, logical types), so two schemas with the same canonical
    /// text are the same schema for the "same schema, same id" rule.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// Canonical text after Confluent-style `normalize=true`: equivalent spellings unified
    /// (Avro: `{"type":"string"}` → `"string"`, names fully qualified, `namespace` dropped;
    /// JSON Schema: `required` and `type` arrays sorted and de-duplicated, one-element `type`
    /// arrays unwrapped).
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// SHA-256 (hex) over type, canonical text and references: the lookup key of
    /// "is this schema already registered?".
    pub fn fingerprint(&self) -> String {
        canonical::fingerprint(self.schema_type, &self.canonical, &self.references)
    }

    /// [`ParsedSchema::fingerprint`] over the normalized text.
    pub fn normalized_fingerprint(&self) -> String {
        canonical::fingerprint(self.schema_type, &self.normalized, &self.references)
    }

    /// The compiled form for validation and decoding; cheap to clone, share it through the
    /// [`crate::ValidatorCache`].
    pub fn compiled(&self) -> Arc<CompiledSchema> {
        Arc::clone(&self.compiled)
    }
}

/// Resolves references depth-first, dependencies first, refusing cycles, unknown references,
/// other schema types, and more than `limits.max_references` references in all.
fn resolve_references(
    schema_type: SchemaType,
    references: &[SchemaReference],
    resolver: &dyn ReferenceResolver,
    limits: &SchemaLimits,
) -> Result<Vec<ResolvedReference>, SchemaError> {
    let mut out = Vec::new();
    let mut done: Vec<(String, i32)> = Vec::new();
    let mut stack: Vec<(String, i32)> = Vec::new();
    let mut visited = 0usize;
    for reference in references {
        visit(
            schema_type,
            reference,
            resolver,
            limits,
            &mut stack,
            &mut done,
            &mut visited,
            &mut out,
        )?;
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn visit(
    schema_type: SchemaType,
    reference: &SchemaReference,
    resolver: &dyn ReferenceResolver,
    limits: &SchemaLimits,
    stack: &mut Vec<(String, i32)>,
    done: &mut Vec<(String, i32)>,
    visited: &mut usize,
    out: &mut Vec<ResolvedReference>,
) -> Result<(), SchemaError> {
    let key = (reference.subject.clone(), reference.version);
    if stack.contains(&key) {
        let mut path: Vec<String> = stack.iter().map(|(s, v)| format!("{s}/{v}")).collect();
        path.push(format!("{}/{}", key.0, key.1));
        return Err(SchemaError::ReferenceCycle(path.join(" -> ")));
    }
    if done.contains(&key) {
        return Ok(());
    }
    *visited += 1;
    if *visited > limits.max_references {
        return Err(SchemaError::TooManyReferences {
            max: limits.max_references,
        });
    }
    if reference.name.is_empty() || reference.subject.is_empty() {
        return Err(SchemaError::InvalidReference(format!(
            "reference {:?} needs a name and a subject",
            reference.name
        )));
    }
    let Some(registered) = resolver.resolve(reference) else {
        return Err(SchemaError::ReferenceNotFound {
            name: reference.name.clone(),
            subject: reference.subject.clone(),
            version: reference.version,
        });
    };
    if registered.schema_type != schema_type {
        return Err(SchemaError::InvalidReference(format!(
            "reference {:?} is a {} schema; a {} schema can only reference {} schemas",
            reference.name, registered.schema_type, schema_type, schema_type
        )));
    }
    let value = limits.parse_json(&registered.schema)?;
    stack.push(key.clone());
    for inner in &registered.references {
        visit(
            schema_type,
            inner,
            resolver,
            limits,
            stack,
            done,
            visited,
            out,
        )?;
    }
    stack.pop();
    done.push(key);
    out.push(ResolvedReference {
        name: reference.name.clone(),
        text: registered.schema,
        value,
    });
    Ok(())
}
