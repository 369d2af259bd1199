//! Avro schemas: a path-reporting structural check, then apache-avro's parser.

use std::collections::{HashMap, HashSet};

use apache_avro::Schema;
use apache_avro::schema::{InnerDecimalSchema, UuidSchema};
use serde_json::{Map, Value};

use super::ResolvedReference;
use crate::error::SchemaError;

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// A parsed Avro schema with the named types it (and its references) define.
#[derive(Debug, Clone)]
pub(crate) struct AvroSchema {
    /// The schema itself.
    pub(crate) root: Schema,
    /// The referenced schemas, dependencies first.
    pub(crate) schemata: Vec<Schema>,
    /// Every named type by full name, for resolving `Schema::Ref`.
    pub(crate) names: HashMap<String, Schema>,
}

impl AvroSchema {
    /// Parses `text` (already read as `value`) with the referenced schemas in scope.
    pub(crate) fn parse(
        text: &str,
        value: &Value,
        references: &[ResolvedReference],
    ) -> Result<AvroSchema, SchemaError> {
        let mut known = HashSet::new();
        for reference in references {
            check_structure(&reference.value, None, "", &mut known).map_err(|e| {
                SchemaError::InvalidAvro(format!("in reference {:?}: {e}", reference.name))
            })?;
        }
        check_structure(value, None, "", &mut known).map_err(SchemaError::InvalidAvro)?;
        let texts: Vec<&str> = references.iter().map(|r| r.text.as_str()).collect();
        let (root, schemata) = if texts.is_empty() {
            let root = Schema::parse_str(text).map_err(|e| avro_error(&e))?;
            (root, Vec::new())
        } else {
            Schema::parse_str_with_list(text, texts).map_err(|e| avro_error(&e))?
        };
        let mut names = HashMap::new();
        for schema in schemata.iter().chain(std::iter::once(&root)) {
            collect_names(schema, &mut names);
        }
        Ok(AvroSchema {
            root,
            schemata,
            names,
        })
    }

    /// Follows a `Schema::Ref` to its definition (other schemas are returned as they are).
    pub(crate) fn deref<'a>(&'a self, schema: &'a Schema) -> &'a Schema {
        let mut current = schema;
        // Refs never point at refs, but bound the loop anyway.
        for _ in 0..4 {
            match current {
                Schema::Ref { name } => match self.names.get(&name.fullname(None)) {
                    Some(found) => current = found,
                    None => return current,
                },
                _ => return current,
            }
        }
        current
    }
}

fn avro_error(error: &apache_avro::Error) -> SchemaError {
    let message = error.to_string();
    let mut lower = String::with_capacity(message.len());
    let mut chars = message.chars();
    if let Some(first) = chars.next() {
        lower.extend(first.to_lowercase());
        lower.extend(chars);
    }
    SchemaError::InvalidAvro(lower)
}

/// Records every named type under its full name.
fn collect_names(schema: &Schema, names: &mut HashMap<String, Schema>) {
    match schema {
        Schema::Record(record) => {
            names.insert(record.name.fullname(None), schema.clone());
            for field in &record.fields {
                collect_names(&field.schema, names);
            }
        }
        Schema::Enum(e) => {
            names.insert(e.name.fullname(None), schema.clone());
        }
        Schema::Fixed(f) | Schema::Duration(f) | Schema::Uuid(UuidSchema::Fixed(f)) => {
            names.insert(f.name.fullname(None), schema.clone());
        }
        Schema::Decimal(d) => {
            if let InnerDecimalSchema::Fixed(f) = &d.inner {
                names.insert(f.name.fullname(None), schema.clone());
            }
        }
        Schema::Array(a) => collect_names(&a.items, names),
        Schema::Map(m) => collect_names(&m.types, names),
        Schema::Union(u) => {
            for variant in u.variants() {
                collect_names(variant, names);
            }
        }
        _ => {}
    }
}

fn at(path: &str) -> String {
    if path.is_empty() {
        "at the top level".to_string()
    } else {
        format!("at {path}")
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn full_name(name: &str, namespace: Option<&str>) -> String {
    if name.contains('.') {
        return name.to_string();
    }
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}.{name}"),
        _ => name.to_string(),
    }
}

/// Walks the JSON of an Avro schema and reports the first structural error with its path,
/// e.g. `unknown type "strng" at fields[2].type`. apache-avro does the full check afterwards;
/// this pass exists to say *where* the common mistakes are.
fn check_structure(
    value: &Value,
    namespace: Option<&str>,
    path: &str,
    known: &mut HashSet<String>,
) -> Result<(), String> {
    match value {
        Value::String(name) => {
            if PRIMITIVES.contains(&name.as_str()) {
                return Ok(());
            }
            if known.contains(&full_name(name, namespace)) || known.contains(name.as_str()) {
                return Ok(());
            }
            Err(format!("unknown type {name:?} {}", at(path)))
        }
        Value::Array(branches) => {
            for (i, branch) in branches.iter().enumerate() {
                if branch.is_array() {
                    return Err(format!(
                        "a union cannot directly contain a union {}",
                        at(&format!("{path}[{i}]"))
                    ));
                }
                check_structure(branch, namespace, &format!("{path}[{i}]"), known)?;
            }
            Ok(())
        }
        Value::Object(object) => check_object(object, namespace, path, known),
        other => Err(format!(
            "a type must be a name, an object or a union array, not {other} {}",
            at(path)
        )),
    }
}

fn check_object(
    object: &Map<String, Value>,
    namespace: Option<&str>,
    path: &str,
    known: &mut HashSet<String>,
) -> Result<(), String> {
    let Some(kind) = object.get("type") else {
        return Err(format!("missing \"type\" {}", at(path)));
    };
    let Value::String(kind) = kind else {
        // {"type": {...}} or {"type": [...]}: a nested type definition.
        return check_structure(kind, namespace, &join(path, "type"), known);
    };
    match kind.as_str() {
        "record" | "error" | "enum" | "fixed" => {}
        "array" => {
            let Some(items) = object.get("items") else {
                return Err(format!("array without \"items\" {}", at(path)));
            };
            return check_structure(items, namespace, &join(path, "items"), known);
        }
        "map" => {
            let Some(values) = object.get("values") else {
                return Err(format!("map without \"values\" {}", at(path)));
            };
            return check_structure(values, namespace, &join(path, "values"), known);
        }
        other => {
            return check_structure(
                &Value::String(other.to_string()),
                namespace,
                &join(path, "type"),
                known,
            );
        }
    }
    let Some(Value::String(name)) = object.get("name") else {
        return Err(format!("{kind} without a string \"name\" {}", at(path)));
    };
    let own_namespace = match object.get("namespace") {
        Some(Value::String(ns)) => Some(ns.as_str()),
        Some(Value::Null) | None => namespace,
        Some(_) => return Err(format!("\"namespace\" must be a string {}", at(path))),
    };
    let full = full_name(name, own_namespace);
    let inner_namespace = full.rfind('.').map(|dot| &full[..dot]);
    match kind.as_str() {
        "enum" => {
            if !matches!(object.get("symbols"), Some(Value::Array(_))) {
                return Err(format!(
                    "enum {name:?} without a \"symbols\" array {}",
                    at(path)
                ));
            }
            known.insert(full);
            Ok(())
        }
        "fixed" => {
            if !matches!(object.get("size"), Some(Value::Number(n)) if n.is_u64()) {
                return Err(format!(
                    "fixed {name:?} needs a non-negative integer \"size\" {}",
                    at(path)
                ));
            }
            known.insert(full);
            Ok(())
        }
        _ => {
            let Some(Value::Array(fields)) = object.get("fields") else {
                return Err(format!(
                    "record {name:?} without a \"fields\" array {}",
                    at(path)
                ));
            };
            // A record's own name is in scope inside its fields (recursive types).
            known.insert(full.clone());
            let inner_namespace = inner_namespace.map(str::to_string);
            for (i, field) in fields.iter().enumerate() {
                let field_path = join(path, &format!("fields[{i}]"));
                let Value::Object(field) = field else {
                    return Err(format!("a field must be an object {}", at(&field_path)));
                };
                if !matches!(field.get("name"), Some(Value::String(_))) {
                    return Err(format!(
                        "field without a string \"name\" {}",
                        at(&field_path)
                    ));
                }
                let Some(field_type) = field.get("type") else {
                    return Err(format!("field without \"type\" {}", at(&field_path)));
                };
                check_structure(
                    field_type,
                    inner_namespace.as_deref(),
                    &join(&field_path, "type"),
                    known,
                )?;
            }
            Ok(())
        }
    }
}
