//! Writers with a finite set of values (`enum`, `const`): each value is evaluated against the
//! reader directly.

use serde_json::Value;

use super::keywords::{self, ALL, FRACTION, INTEGER};
use super::resolve::{self, Node};
use super::{Checker, is_annotation};
use crate::compat::IncompatibilityKind as Kind;
use crate::schema::JsonDraft;

type Refusal = (Kind, String);

/// Deepest evaluation (bounds `$ref` loops that make no progress).
const MAX_DEPTH: usize = 64;

/// The values a writer can produce when it lists them (`const`, or `enum`).
pub(super) fn finite_values(schema: &Value) -> Option<Vec<Value>> {
    let object = schema.as_object()?;
    if let Some(value) = object.get("const") {
        return Some(vec![value.clone()]);
    }
    match object.get("enum") {
        Some(Value::Array(values)) => Some(values.clone()),
        _ => None,
    }
}

/// Whether every pair of `oneOf` branches is type-disjoint (so at most one can match).
pub(super) fn pairwise_type_disjoint(branches: &[Value]) -> bool {
    let mut seen = 0u8;
    for branch in branches {
        let bits = keywords::type_set(branch).0;
        if bits == ALL || bits & seen != 0 {
            return false;
        }
        seen |= bits;
    }
    true
}

/// Does the reader accept this concrete value?
pub(super) fn accepts<'a>(
    checker: &Checker<'a>,
    r: Node<'a>,
    value: &Value,
) -> Result<(), Refusal> {
    evaluate(checker, r, value, 0)
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn unprovable(keyword: &str) -> Refusal {
    (
        Kind::NotProvablyCompatible,
        format!("cannot evaluate reader keyword {keyword:?} on the writer's enum values"),
    )
}

fn evaluate<'a>(
    checker: &Checker<'a>,
    r: Node<'a>,
    value: &Value,
    depth: usize,
) -> Result<(), Refusal> {
    if depth > MAX_DEPTH {
        return Err(unprovable("$ref"));
    }
    let r = resolve::deref(checker.reader_docs, r).map_err(|m| (Kind::UnresolvedReference, m))?;
    let object = match r.schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => {
            return Err((
                Kind::TypeNarrowed,
                format!("the reader accepts no value, not {value}"),
            ));
        }
        Value::Object(object) => object,
        _ => return Err(unprovable("(non-schema)")),
    };
    let bits = keywords::value_bits(value);
    for (keyword, rv) in object {
        if is_annotation(keyword) {
            continue;
        }
        match keyword.as_str() {
            "type" => {
                if keywords::type_set(&serde_json::json!({ "type": rv })).0 & bits == 0 {
                    return Err((
                        Kind::TypeNarrowed,
                        format!("writer value {value} is not of the reader's type {rv}"),
                    ));
                }
            }
            "enum" | "const" => {
                let allowed = match (keyword.as_str(), rv) {
                    ("const", c) => same_value(c, value),
                    (_, Value::Array(list)) => list.iter().any(|c| same_value(c, value)),
                    _ => false,
                };
                if !allowed {
                    return Err((
                        Kind::EnumArrayNarrowed,
                        format!("writer value {value} is not allowed by the reader's {keyword}"),
                    ));
                }
            }
            "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" | "multipleOf" => {
                if bits & (INTEGER | FRACTION) != 0 {
                    number_keyword(object, keyword, rv, value, r.draft)?;
                }
            }
            "minLength" | "maxLength" => {
                if let (Value::String(s), Some(limit)) = (value, rv.as_u64()) {
                    let len = s.chars().count() as u64;
                    let fits = if keyword == "minLength" {
                        len >= limit
                    } else {
                        len <= limit
                    };
                    if !fits {
                        return Err((
                            Kind::BoundNarrowed,
                            format!("writer value {value} violates the reader's {keyword} {limit}"),
                        ));
                    }
                }
            }
            "allOf" | "anyOf" | "oneOf" => {
                let Value::Array(branches) = rv else {
                    return Err(unprovable(keyword));
                };
                let mut matched = 0;
                let mut last = None;
                for branch in branches {
                    match evaluate(checker, r.child(branch), value, depth + 1) {
                        Ok(()) => matched += 1,
                        Err(refusal) => last = Some(refusal),
                    }
                }
                let fine = match keyword.as_str() {
                    "allOf" => matched == branches.len(),
                    "anyOf" => matched >= 1,
                    _ => matched == 1,
                };
                if !fine {
                    return Err(last.unwrap_or_else(|| {
                        (
                            Kind::NotProvablyCompatible,
                            format!("writer value {value} matches {matched} reader oneOf branches"),
                        )
                    }));
                }
            }
            "not" => {
                if evaluate(checker, r.child(rv), value, depth + 1).is_ok() {
                    return Err((
                        Kind::NotProvablyCompatible,
                        format!("writer value {value} is excluded by the reader's not"),
                    ));
                }
            }
            "$ref" => {
                let target =
                    resolve::ref_target(checker.reader_docs, r, rv.as_str().unwrap_or_default())
                        .map_err(|m| (Kind::UnresolvedReference, m))?;
                evaluate(checker, target, value, depth + 1)?;
            }
            // Structural keywords only matter for their own type.
            "pattern" | "format" if !value.is_string() => {}
            "items" | "prefixItems" | "additionalItems" | "minItems" | "maxItems"
            | "uniqueItems" | "contains"
                if !value.is_array() => {}
            "properties"
            | "required"
            | "additionalProperties"
            | "patternProperties"
            | "minProperties"
            | "maxProperties"
            | "propertyNames"
            | "dependentRequired"
            | "dependencies"
                if !value.is_object() => {}
            other => return Err(unprovable(other)),
        }
    }
    Ok(())
}

fn number_keyword(
    object: &serde_json::Map<String, Value>,
    keyword: &str,
    rv: &Value,
    value: &Value,
    draft: JsonDraft,
) -> Result<(), Refusal> {
    let (Some(v), Some(limit)) = (value.as_f64(), rv.as_f64()) else {
        // Draft 4 boolean exclusive flags are read together with minimum/maximum.
        return Ok(());
    };
    let draft4_exclusive =
        |flag: &str| draft == JsonDraft::Draft4 && object.get(flag) == Some(&Value::Bool(true));
    let fits = match keyword {
        "minimum" if draft4_exclusive("exclusiveMinimum") => v > limit,
        "minimum" => v >= limit,
        "maximum" if draft4_exclusive("exclusiveMaximum") => v < limit,
        "maximum" => v <= limit,
        "exclusiveMinimum" => v > limit,
        "exclusiveMaximum" => v < limit,
        _ => {
            let ratio = v / limit;
            (ratio - ratio.round()).abs() < 1e-9
        }
    };
    if fits {
        return Ok(());
    }
    let kind = if keyword == "multipleOf" {
        Kind::MultipleOfChanged
    } else {
        Kind::BoundNarrowed
    };
    Err((
        kind,
        format!("writer value {value} violates the reader's {keyword} {limit}"),
    ))
}
