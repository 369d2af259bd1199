//! Canonical text, Confluent-style normalization, and fingerprints.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{SchemaReference, SchemaType};

/// Compact JSON with object keys sorted (byte order), arrays in their order, strings escaped
/// the way serde_json escapes them.
pub(crate) fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(object) => {
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*key).clone()).to_string());
                out.push(':');
                write_canonical(&object[key.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// SHA-256 hex over the schema type, the canonical text and the references.
pub(crate) fn fingerprint(
    schema_type: SchemaType,
    canonical: &str,
    references: &[SchemaReference],
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(schema_type.as_str().as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical.as_bytes());
    for reference in references {
        hasher.update(b"\n");
        hasher.update(
            format!(
                "{}\u{0}{}\u{0}{}",
                reference.name, reference.subject, reference.version
            )
            .as_bytes(),
        );
    }
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

const AVRO_PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// Avro normalization: `{"type":"x"}` with nothing else becomes `"x"`, named types get their
/// full name and lose `namespace`, references to named types are fully qualified, and
/// aliases are qualified against the type's namespace.
pub(crate) fn normalize_avro(value: &Value) -> Value {
    normalize_avro_in(value, None)
}

fn qualify(name: &str, namespace: Option<&str>) -> String {
    if name.contains('.') || AVRO_PRIMITIVES.contains(&name) {
        return name.to_string();
    }
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}.{name}"),
        _ => name.to_string(),
    }
}

fn normalize_avro_in(value: &Value, namespace: Option<&str>) -> Value {
    match value {
        Value::String(name) => Value::String(qualify(name, namespace)),
        Value::Array(branches) => Value::Array(
            branches
                .iter()
                .map(|b| normalize_avro_in(b, namespace))
                .collect(),
        ),
        Value::Object(object) => normalize_avro_object(object, namespace),
        other => other.clone(),
    }
}

fn normalize_avro_object(object: &Map<String, Value>, namespace: Option<&str>) -> Value {
    if object.len() == 1
        && let Some(Value::String(kind)) = object.get("type")
        && AVRO_PRIMITIVES.contains(&kind.as_str())
    {
        return Value::String(kind.clone());
    }
    let kind = object.get("type").and_then(Value::as_str).unwrap_or("");
    let named = matches!(kind, "record" | "error" | "enum" | "fixed");
    let mut own_namespace = namespace.map(str::to_string);
    let mut out = Map::new();
    if named {
        if let Some(Value::String(ns)) = object.get("namespace") {
            own_namespace = Some(ns.clone());
        }
        if let Some(Value::String(name)) = object.get("name") {
            let full = qualify(name, own_namespace.as_deref());
            own_namespace = full.rfind('.').map(|dot| full[..dot].to_string());
            out.insert("name".to_string(), Value::String(full));
        }
    }
    for (key, item) in object {
        match key.as_str() {
            "name" | "namespace" if named => {}
            "aliases" if named => {
                let aliases = match item {
                    Value::Array(list) => Value::Array(
                        list.iter()
                            .map(|a| match a {
                                Value::String(s) => {
                                    Value::String(qualify(s, own_namespace.as_deref()))
                                }
                                other => other.clone(),
                            })
                            .collect(),
                    ),
                    other => other.clone(),
                };
                out.insert(key.clone(), aliases);
            }
            "type" if !named => {
                out.insert(key.clone(), normalize_avro_in(item, namespace));
            }
            "items" | "values" => {
                out.insert(
                    key.clone(),
                    normalize_avro_in(item, own_namespace.as_deref()),
                );
            }
            "fields" if named => {
                let fields = match item {
                    Value::Array(list) => Value::Array(
                        list.iter()
                            .map(|f| normalize_field(f, own_namespace.as_deref()))
                            .collect(),
                    ),
                    other => other.clone(),
                };
                out.insert(key.clone(), fields);
            }
            _ => {
                out.insert(key.clone(), item.clone());
            }
        }
    }
    Value::Object(out)
}

fn normalize_field(field: &Value, namespace: Option<&str>) -> Value {
    let Value::Object(object) = field else {
        return field.clone();
    };
    let mut out = object.clone();
    if let Some(field_type) = object.get("type") {
        out.insert("type".to_string(), normalize_avro_in(field_type, namespace));
    }
    Value::Object(out)
}

/// JSON Schema normalization: `required` and `type` arrays sorted and de-duplicated, a
/// one-element `type` array unwrapped; recursively through every subschema-bearing keyword.
pub(crate) fn normalize_json(value: &Value) -> Value {
    match value {
        Value::Object(object) => {
            let mut out = Map::new();
            for (key, item) in object {
                let normalized = match (key.as_str(), item) {
                    ("required", Value::Array(list)) => Value::Array(sorted_unique(list)),
                    ("type", Value::Array(list)) => {
                        let list = sorted_unique(list);
                        if list.len() == 1 {
                            list[0].clone()
                        } else {
                            Value::Array(list)
                        }
                    }
                    ("enum" | "const" | "default" | "examples", _) => item.clone(),
                    _ => normalize_json(item),
                };
                out.insert(key.clone(), normalized);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(normalize_json).collect()),
        other => other.clone(),
    }
}

fn sorted_unique(list: &[Value]) -> Vec<Value> {
    let mut keyed: Vec<(String, Value)> = list
        .iter()
        .map(|v| (canonical_json(v), v.clone()))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.dedup_by(|a, b| a.0 == b.0);
    keyed.into_iter().map(|(_, v)| v).collect()
}
