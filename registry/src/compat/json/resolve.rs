//! Schema nodes, `$ref` resolution over the in-memory documents, and writer simplification.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::is_annotation;
use crate::schema::JsonDraft;

/// The `true` schema, for writer references that cannot be followed.
pub(super) static TRUE_SCHEMA: Value = Value::Bool(true);
/// The `false` schema, for properties a writer does not send.
pub(super) static FALSE_SCHEMA: Value = Value::Bool(false);

use crate::schema::BASE_URI;
/// Most `$ref` hops followed in a row.
const MAX_HOPS: usize = 32;

/// A subschema together with the document its local `#...` references resolve in.
#[derive(Debug, Clone, Copy)]
pub(super) struct Node<'a> {
    pub(super) schema: &'a Value,
    pub(super) doc: &'a Value,
    pub(super) draft: JsonDraft,
}

impl<'a> Node<'a> {
    pub(super) fn root(schema: &'a Value, draft: JsonDraft) -> Node<'a> {
        Node {
            schema,
            doc: schema,
            draft,
        }
    }

    pub(super) fn child(&self, schema: &'a Value) -> Node<'a> {
        Node {
            schema,
            doc: self.doc,
            draft: self.draft,
        }
    }

    /// Whether `$ref` siblings apply too (2019-09 and later) rather than being ignored.
    pub(super) fn ref_has_siblings(&self) -> bool {
        matches!(self.draft, JsonDraft::Draft201909 | JsonDraft::Draft202012)
    }
}

/// Follows `$ref` until a schema without one. In drafts 4–7 a `$ref` replaces its siblings;
/// from 2019-09 on, a node with a `$ref` *and* other constraints is returned unchanged and
/// the caller checks both (see [`ref_target`]).
pub(super) fn deref<'a>(
    docs: &'a HashMap<String, Value>,
    node: Node<'a>,
) -> Result<Node<'a>, String> {
    let mut current = node;
    for _ in 0..MAX_HOPS {
        let Some(object) = current.schema.as_object() else {
            return Ok(current);
        };
        for keyword in ["$dynamicRef", "$recursiveRef"] {
            if object.contains_key(keyword) {
                return Err(format!(
                    "{keyword} is not supported by the compatibility checker"
                ));
            }
        }
        let Some(reference) = object.get("$ref") else {
            return Ok(current);
        };
        let Value::String(reference) = reference else {
            return Err("$ref must be a string".to_string());
        };
        if current.ref_has_siblings() && has_constraints_besides_ref(object) {
            return Ok(current);
        }
        current = ref_target(docs, current, reference)?;
    }
    Err(format!("more than {MAX_HOPS} $ref hops in a row"))
}

fn has_constraints_besides_ref(object: &Map<String, Value>) -> bool {
    object.keys().any(|k| k != "$ref" && !is_annotation(k))
}

/// The schema a `$ref` string points at.
pub(super) fn ref_target<'a>(
    docs: &'a HashMap<String, Value>,
    from: Node<'a>,
    reference: &str,
) -> Result<Node<'a>, String> {
    let (base, fragment) = match reference.split_once('#') {
        Some((base, fragment)) => (base, fragment),
        None => (reference, ""),
    };
    let doc = if base.is_empty() {
        from.doc
    } else {
        match find_document(docs, base) {
            Some(doc) => doc,
            None => {
                return Err(format!(
                    "$ref {reference:?} points at a document that is not among the references"
                ));
            }
        }
    };
    let target = if fragment.is_empty() {
        Some(doc)
    } else if fragment.starts_with('/') {
        doc.pointer(&percent_decode(fragment))
    } else {
        find_anchor(doc, fragment)
    };
    match target {
        Some(schema) => Ok(Node {
            schema,
            doc,
            draft: from.draft,
        }),
        None => Err(format!("$ref {reference:?} points at nothing")),
    }
}

fn find_document<'a>(docs: &'a HashMap<String, Value>, base: &str) -> Option<&'a Value> {
    if let Some(doc) = docs.get(base) {
        return Some(doc);
    }
    let joined = format!("{BASE_URI}{}", base.trim_start_matches('/'));
    if let Some(doc) = docs.get(&joined) {
        return Some(doc);
    }
    let suffix = format!("/{}", base.trim_start_matches("./"));
    let mut found = None;
    for (uri, doc) in docs {
        if uri.ends_with(&suffix) {
            if found.is_some() {
                return None;
            }
            found = Some(doc);
        }
    }
    found
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn find_anchor<'a>(value: &'a Value, anchor: &str) -> Option<&'a Value> {
    match value {
        Value::Object(object) => {
            if object.get("$anchor").and_then(Value::as_str) == Some(anchor) {
                return Some(value);
            }
            for key in ["$id", "id"] {
                if let Some(Value::String(id)) = object.get(key)
                    && id.strip_prefix('#') == Some(anchor)
                {
                    return Some(value);
                }
            }
            for (key, child) in object {
                if matches!(key.as_str(), "enum" | "const" | "default" | "examples") {
                    continue;
                }
                if let Some(found) = find_anchor(child, anchor) {
                    return Some(found);
                }
            }
            None
        }
        Value::Array(items) => items.iter().find_map(|item| find_anchor(item, anchor)),
        _ => None,
    }
}

/// Simplifies every referenced document (see [`simplify`]).
pub(super) fn simplify_documents(docs: &HashMap<String, Value>) -> HashMap<String, Value> {
    docs.iter()
        .map(|(uri, doc)| (uri.clone(), simplify(doc)))
        .collect()
}

/// Keywords that read each other; merging two schemas that each use one of a group could
/// change what either means (e.g. `additionalProperties` depends on `properties`).
const GROUPS: [&[&str]; 7] = [
    &[
        "properties",
        "patternProperties",
        "additionalProperties",
        "unevaluatedProperties",
    ],
    &[
        "items",
        "additionalItems",
        "prefixItems",
        "unevaluatedItems",
    ],
    &["if", "then", "else"],
    &["contains", "minContains", "maxContains"],
    &["minimum", "exclusiveMinimum"],
    &["maximum", "exclusiveMaximum"],
    &["$ref", "$dynamicRef", "$recursiveRef"],
];

/// Rewrites a schema into an equivalent one that is easier to compare: an `allOf` whose
/// branches (and the object's own keywords) share no keyword, nor two keywords of one
/// interacting group, is merged into one schema — for independent keywords, "all of them
/// hold" is the same as one object holding all of them. Otherwise the `allOf` is left as it
/// is. (Anchors and definitions inside merged branches are dropped; a reference to them then
/// fails to resolve, which the checker reports rather than guesses.)
pub(super) fn simplify(value: &Value) -> Value {
    match value {
        Value::Object(object) => {
            let mut out = Map::new();
            for (key, child) in object {
                let simplified =
                    if matches!(key.as_str(), "enum" | "const" | "default" | "examples") {
                        child.clone()
                    } else {
                        simplify(child)
                    };
                out.insert(key.clone(), simplified);
            }
            merge_all_of(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(simplify).collect()),
        other => other.clone(),
    }
}

fn group_of(key: &str) -> Option<usize> {
    GROUPS.iter().position(|group| group.contains(&key))
}

fn merge_all_of(object: Map<String, Value>) -> Value {
    let Some(Value::Array(branches)) = object.get("allOf") else {
        return Value::Object(object);
    };
    let mut merged = object.clone();
    merged.remove("allOf");
    for branch in branches {
        let Value::Object(branch) = branch else {
            return Value::Object(object);
        };
        for (key, v) in branch {
            if is_annotation(key) {
                continue;
            }
            let clash = merged.contains_key(key)
                || group_of(key).is_some_and(|g| merged.keys().any(|k| group_of(k) == Some(g)));
            if clash {
                return Value::Object(object);
            }
            merged.insert(key.clone(), v.clone());
        }
    }
    Value::Object(merged)
}
