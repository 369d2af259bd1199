//! Avro schema resolution (specification 1.11, "Schema Resolution"): can a reader schema
//! read data written with a writer schema?
//!
//! The rules are the specification's, in the shape of Java's `SchemaCompatibility` (which
//! Confluent uses): matching types recurse, a writer union needs every branch readable, a
//! reader union needs one branch that reads the writer, and the primitive promotions apply.
//! Logical types resolve by their underlying type, except that two decimals must agree on
//! precision and scale (specification, "Logical Types: Decimal"). Recursive named types are
//! handled coinductively: a pair of named types already under check is assumed compatible.

use std::collections::HashSet;

use apache_avro::Schema;
use apache_avro::schema::{
    EnumSchema, FixedSchema, InnerDecimalSchema, Name, RecordSchema, UnionSchema, UuidSchema,
};

use super::{Finding, IncompatibilityKind};
use crate::schema::AvroSchema;

/// Most type pairs one check visits before giving up (bounds time on hostile schemas).
const MAX_STEPS: usize = 1_000_000;
/// Deepest recursion of one check (bounds the stack).
const MAX_DEPTH: usize = 512;

/// Every reason `reader` cannot read data written with `writer`; empty when it can.
pub(super) fn check(reader: &AvroSchema, writer: &AvroSchema) -> Vec<Finding> {
    let mut checker = Checker {
        reader,
        writer,
        in_progress: HashSet::new(),
        findings: Vec::new(),
        steps: 0,
        depth: 0,
        exhausted: false,
    };
    checker.check(&reader.root, &writer.root, "");
    if checker.exhausted {
        checker.findings.push(Finding::new(
            IncompatibilityKind::CheckBudgetExceeded,
            "",
            "schemas are too large or too deeply nested to check; refusing rather than guessing"
                .to_string(),
        ));
    }
    checker.findings
}

/// The resolution-relevant shape of a schema: logical types replaced by what they annotate.
#[derive(Clone, Copy)]
enum Shape<'a> {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Array(&'a Schema),
    Map(&'a Schema),
    Union(&'a UnionSchema),
    Record(&'a RecordSchema),
    Enum(&'a EnumSchema),
    Fixed(&'a FixedSchema),
}

impl Shape<'_> {
    fn name(&self) -> &'static str {
        match self {
            Shape::Null => "null",
            Shape::Boolean => "boolean",
            Shape::Int => "int",
            Shape::Long => "long",
            Shape::Float => "float",
            Shape::Double => "double",
            Shape::Bytes => "bytes",
            Shape::String => "string",
            Shape::Array(_) => "array",
            Shape::Map(_) => "map",
            Shape::Union(_) => "union",
            Shape::Record(_) => "record",
            Shape::Enum(_) => "enum",
            Shape::Fixed(_) => "fixed",
        }
    }
}

fn shape(schema: &Schema) -> Shape<'_> {
    match schema {
        Schema::Null => Shape::Null,
        Schema::Boolean => Shape::Boolean,
        Schema::Int | Schema::Date | Schema::TimeMillis => Shape::Int,
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => Shape::Long,
        Schema::Float => Shape::Float,
        Schema::Double => Shape::Double,
        Schema::Bytes | Schema::BigDecimal | Schema::Uuid(UuidSchema::Bytes) => Shape::Bytes,
        Schema::String | Schema::Uuid(UuidSchema::String) => Shape::String,
        Schema::Array(a) => Shape::Array(&a.items),
        Schema::Map(m) => Shape::Map(&m.types),
        Schema::Union(u) => Shape::Union(u),
        Schema::Record(r) => Shape::Record(r),
        Schema::Enum(e) => Shape::Enum(e),
        Schema::Fixed(f) | Schema::Duration(f) | Schema::Uuid(UuidSchema::Fixed(f)) => {
            Shape::Fixed(f)
        }
        Schema::Decimal(d) => match &d.inner {
            InnerDecimalSchema::Bytes => Shape::Bytes,
            InnerDecimalSchema::Fixed(f) => Shape::Fixed(f),
        },
        // An unresolvable ref cannot happen after parsing; treat it as null so that the
        // mismatch is reported rather than panicking.
        Schema::Ref { .. } => Shape::Null,
        // `Schema` is non-exhaustive upstream; anything new is reported as a mismatch.
        #[allow(unreachable_patterns)]
        _ => Shape::Null,
    }
}

struct Checker<'s> {
    reader: &'s AvroSchema,
    writer: &'s AvroSchema,
    /// Named (reader, writer) pairs under check: met again, they are assumed compatible.
    in_progress: HashSet<(String, String)>,
    findings: Vec<Finding>,
    steps: usize,
    depth: usize,
    exhausted: bool,
}

impl<'s> Checker<'s> {
    /// Checks one pair, recording findings; returns whether it is compatible.
    fn check(&mut self, reader: &'s Schema, writer: &'s Schema, path: &str) -> bool {
        self.steps += 1;
        if self.exhausted || self.steps > MAX_STEPS || self.depth > MAX_DEPTH {
            self.exhausted = true;
            return false;
        }
        let reader = self.reader.deref(reader);
        let writer = self.writer.deref(writer);
        let key = match (named(reader), named(writer)) {
            (Some(r), Some(w)) => Some((r.fullname(None), w.fullname(None))),
            _ => None,
        };
        if let Some(key) = &key {
            if self.in_progress.contains(key) {
                return true;
            }
            self.in_progress.insert(key.clone());
        }
        self.depth += 1;
        let compatible = self.check_resolved(reader, writer, path);
        self.depth -= 1;
        if let Some(key) = &key {
            self.in_progress.remove(key);
        }
        compatible
    }

    /// Runs a check without recording its findings (for "does some union branch match?").
    fn probe(&mut self, reader: &'s Schema, writer: &'s Schema) -> bool {
        let mark = self.findings.len();
        let compatible = self.check(reader, writer, "");
        self.findings.truncate(mark);
        compatible
    }

    fn fail(&mut self, kind: IncompatibilityKind, path: &str, message: String) -> bool {
        self.findings.push(Finding::new(kind, path, message));
        false
    }

    fn check_resolved(&mut self, reader: &'s Schema, writer: &'s Schema, path: &str) -> bool {
        if let (Schema::Decimal(r), Schema::Decimal(w)) = (reader, writer)
            && (r.precision != w.precision || r.scale != w.scale)
        {
            return self.fail(
                IncompatibilityKind::TypeMismatch,
                path,
                format!(
                    "reader decimal({}, {}) cannot read writer decimal({}, {}): precision \
                         and scale must match",
                    r.precision, r.scale, w.precision, w.scale
                ),
            );
        }
        let r = shape(reader);
        let w = shape(writer);
        match (r, w) {
            (Shape::Union(ru), Shape::Union(wu)) => {
                let mut ok = true;
                for (i, branch) in wu.variants().iter().enumerate() {
                    if !self.probe_union(ru, branch) {
                        ok = self.fail(
                            IncompatibilityKind::MissingUnionBranch,
                            &format!("{path}/{i}"),
                            format!(
                                "reader union lacks a branch that reads writer branch {i} ({})",
                                describe(self.writer.deref(branch))
                            ),
                        ) && ok;
                    }
                }
                ok
            }
            (_, Shape::Union(wu)) => {
                let mut ok = true;
                for (i, branch) in wu.variants().iter().enumerate() {
                    let before = self.findings.len();
                    if !self.check(reader, branch, path) {
                        ok = false;
                        if self.findings.len() == before {
                            self.fail(
                                IncompatibilityKind::TypeMismatch,
                                path,
                                format!("reader cannot read writer union branch {i}"),
                            );
                        }
                    }
                }
                ok
            }
            (Shape::Union(ru), _) => {
                if self.probe_union(ru, writer) {
                    return true;
                }
                self.fail(
                    IncompatibilityKind::MissingUnionBranch,
                    path,
                    format!(
                        "reader union lacks a branch that reads writer type {}",
                        describe(writer)
                    ),
                )
            }
            (Shape::Null, Shape::Null)
            | (Shape::Boolean, Shape::Boolean)
            | (Shape::Int, Shape::Int)
            | (Shape::Long, Shape::Long | Shape::Int)
            | (Shape::Float, Shape::Float | Shape::Long | Shape::Int)
            | (Shape::Double, Shape::Double | Shape::Float | Shape::Long | Shape::Int)
            | (Shape::Bytes, Shape::Bytes | Shape::String)
            | (Shape::String, Shape::String | Shape::Bytes) => true,
            (Shape::Array(ri), Shape::Array(wi)) => self.check(ri, wi, &format!("{path}/items")),
            (Shape::Map(rv), Shape::Map(wv)) => self.check(rv, wv, &format!("{path}/values")),
            (Shape::Fixed(rf), Shape::Fixed(wf)) => {
                let names = self.check_names(&rf.name, rf.aliases.as_deref(), &wf.name, path);
                if rf.size != wf.size {
                    return self.fail(
                        IncompatibilityKind::FixedSizeMismatch,
                        &format!("{path}/size"),
                        format!(
                            "fixed {} has size {} in the reader and {} in the writer",
                            rf.name.fullname(None),
                            rf.size,
                            wf.size
                        ),
                    );
                }
                names
            }
            (Shape::Enum(re), Shape::Enum(we)) => {
                let names = self.check_names(&re.name, re.aliases.as_deref(), &we.name, path);
                let missing: Vec<&str> = we
                    .symbols
                    .iter()
                    .filter(|s| !re.symbols.contains(s))
                    .map(String::as_str)
                    .collect();
                let has_default = re.default.as_ref().is_some_and(|d| re.symbols.contains(d));
                if !missing.is_empty() && !has_default {
                    return self.fail(
                        IncompatibilityKind::MissingEnumSymbols,
                        &format!("{path}/symbols"),
                        format!(
                            "reader enum {} lacks writer symbols [{}] and has no default",
                            re.name.fullname(None),
                            missing.join(", ")
                        ),
                    );
                }
                names
            }
            (Shape::Record(rr), Shape::Record(wr)) => {
                let names = self.check_names(&rr.name, rr.aliases.as_deref(), &wr.name, path);
                self.check_fields(rr, wr, path) && names
            }
            (r, w) => self.fail(
                IncompatibilityKind::TypeMismatch,
                path,
                format!(
                    "reader type {} cannot read writer type {}",
                    r.name(),
                    w.name()
                ),
            ),
        }
    }

    fn probe_union(&mut self, reader: &'s UnionSchema, writer: &'s Schema) -> bool {
        for branch in reader.variants() {
            if self.probe(branch, writer) {
                return true;
            }
        }
        false
    }

    /// Named types match on unqualified name, or when a reader alias (qualified against the
    /// reader's namespace) is the writer's full name.
    fn check_names(
        &mut self,
        reader: &Name,
        aliases: Option<&[apache_avro::schema::Alias]>,
        writer: &Name,
        path: &str,
    ) -> bool {
        if reader.name() == writer.name() {
            return true;
        }
        let writer_full = writer.fullname(None);
        for alias in aliases.unwrap_or_default() {
            let qualified = alias.fully_qualified_name(reader.namespace());
            if qualified.fullname(None) == writer_full || alias.fullname(None) == writer_full {
                return true;
            }
        }
        self.fail(
            IncompatibilityKind::NameMismatch,
            &format!("{path}/name"),
            format!(
                "reader type {} does not match writer type {} (by name or alias)",
                reader.fullname(None),
                writer_full
            ),
        )
    }

    fn check_fields(
        &mut self,
        reader: &'s RecordSchema,
        writer: &'s RecordSchema,
        path: &str,
    ) -> bool {
        let mut ok = true;
        for (i, field) in reader.fields.iter().enumerate() {
            let field_path = format!("{path}/fields/{i}");
            // By name, then by the reader field's aliases; the writer's aliases play no part
            // (apache-avro's `lookup` also holds aliases, so it is not used here).
            let mut found = writer.fields.iter().find(|w| w.name == field.name);
            if found.is_none() {
                for alias in &field.aliases {
                    found = writer.fields.iter().find(|w| &w.name == alias);
                    if found.is_some() {
                        break;
                    }
                }
            }
            match found {
                Some(writer_field) => {
                    ok = self.check(
                        &field.schema,
                        &writer_field.schema,
                        &format!("{field_path}/type"),
                    ) && ok;
                }
                None => {
                    if field.default.is_none() {
                        ok = self.fail(
                            IncompatibilityKind::ReaderFieldMissingDefaultValue,
                            &field_path,
                            format!(
                                "reader field {:?} of {} is not in the writer and has no default",
                                field.name,
                                reader.name.fullname(None)
                            ),
                        );
                    }
                }
            }
        }
        ok
    }
}

fn named(schema: &Schema) -> Option<&Name> {
    match schema {
        Schema::Record(r) => Some(&r.name),
        Schema::Enum(e) => Some(&e.name),
        Schema::Fixed(f) | Schema::Duration(f) | Schema::Uuid(UuidSchema::Fixed(f)) => {
            Some(&f.name)
        }
        Schema::Decimal(d) => match &d.inner {
            InnerDecimalSchema::Fixed(f) => Some(&f.name),
            InnerDecimalSchema::Bytes => None,
        },
        _ => None,
    }
}

fn describe(schema: &Schema) -> String {
    match named(schema) {
        Some(name) => format!("{} {}", shape(schema).name(), name.fullname(None)),
        None => shape(schema).name().to_string(),
    }
}
