//! Keyword-by-keyword rules of the subset check (type, numbers, strings, arrays, objects).

use serde_json::{Map, Value};

use super::resolve::{FALSE_SCHEMA, Node, TRUE_SCHEMA};
use super::{Checker, is_annotation, is_true};
use crate::compat::IncompatibilityKind as Kind;
use crate::schema::JsonDraft;

pub(super) const NULL: u8 = 1;
pub(super) const BOOLEAN: u8 = 2;
pub(super) const OBJECT: u8 = 4;
pub(super) const ARRAY: u8 = 8;
pub(super) const STRING: u8 = 16;
pub(super) const INTEGER: u8 = 32;
/// Numbers that are not integers; `number` is `INTEGER | FRACTION`.
pub(super) const FRACTION: u8 = 64;
pub(super) const ALL: u8 = 127;

/// Keywords the checker understands; other reader keywords must appear unchanged in the writer.
const HANDLED: [&str; 33] = [
    "type",
    "enum",
    "const",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "items",
    "prefixItems",
    "additionalItems",
    "minItems",
    "maxItems",
    "uniqueItems",
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "minProperties",
    "maxProperties",
    "propertyNames",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "$ref",
];

/// A set of JSON types as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TypeSet(pub(super) u8);

impl TypeSet {
    pub(super) fn is_disjoint(self, other: TypeSet) -> bool {
        self.0 & other.0 == 0
    }

    fn names(self) -> String {
        let mut names = Vec::new();
        for (bit, name) in [
            (NULL, "null"),
            (BOOLEAN, "boolean"),
            (OBJECT, "object"),
            (ARRAY, "array"),
            (STRING, "string"),
            (INTEGER, "integer"),
            (FRACTION, "non-integer number"),
        ] {
            if self.0 & bit != 0 {
                names.push(name);
            }
        }
        names.join(", ")
    }
}

fn type_bits(name: &str) -> u8 {
    match name {
        "null" => NULL,
        "boolean" => BOOLEAN,
        "object" => OBJECT,
        "array" => ARRAY,
        "string" => STRING,
        "integer" => INTEGER,
        "number" => INTEGER | FRACTION,
        _ => 0,
    }
}

/// The value's JSON type as bits.
pub(super) fn value_bits(value: &Value) -> u8 {
    match value {
        Value::Null => NULL,
        Value::Bool(_) => BOOLEAN,
        Value::Object(_) => OBJECT,
        Value::Array(_) => ARRAY,
        Value::String(_) => STRING,
        Value::Number(n) => {
            let integral = n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0);
            if integral { INTEGER } else { FRACTION }
        }
    }
}

/// The types a schema admits, judged from `type`, `enum` and `const` only.
pub(super) fn type_set(schema: &Value) -> TypeSet {
    let Some(object) = schema.as_object() else {
        return TypeSet(if schema == &Value::Bool(false) {
            0
        } else {
            ALL
        });
    };
    let mut bits = ALL;
    match object.get("type") {
        Some(Value::String(name)) => bits = type_bits(name),
        Some(Value::Array(names)) => {
            bits = 0;
            for name in names {
                bits |= name.as_str().map_or(0, type_bits);
            }
        }
        _ => {}
    }
    if let Some(value) = object.get("const") {
        bits &= value_bits(value);
    } else if let Some(Value::Array(values)) = object.get("enum") {
        let mut enum_bits = 0;
        for value in values {
            enum_bits |= value_bits(value);
        }
        bits &= enum_bits;
    }
    TypeSet(bits)
}

/// All keyword rules for a writer without combinators or a finite value set.
pub(super) fn check_keywords<'a>(
    checker: &mut Checker<'a>,
    w: Node<'a>,
    r: Node<'a>,
    path: &str,
) -> bool {
    let Some(reader) = r.schema.as_object() else {
        return true;
    };
    let writer_types = type_set(w.schema);
    let reader_types = type_set(r.schema);
    let mut ok = true;
    // Rule "type".
    let extra = TypeSet(writer_types.0 & !reader_types.0);
    if extra.0 != 0 {
        ok = checker.fail(
            Kind::TypeNarrowed,
            &format!("{path}/type"),
            format!(
                "the writer allows {} values, which the reader's type excludes",
                extra.names()
            ),
        );
    }
    // Rule "enum and const", reader side (a finite writer was handled before).
    if reader.contains_key("enum") || reader.contains_key("const") {
        let keyword = if reader.contains_key("enum") {
            "enum"
        } else {
            "const"
        };
        ok = checker.fail(
            Kind::EnumArrayNarrowed,
            &format!("{path}/{keyword}"),
            format!("the reader restricts values with {keyword}, but the writer has no such limit"),
        ) && ok;
    }
    let live = writer_types.0 & reader_types.0;
    if live & (INTEGER | FRACTION) != 0 {
        ok = numbers(checker, w, r, path, live) && ok;
    }
    if live & STRING != 0 {
        ok = strings(checker, w.schema, reader, path) && ok;
    }
    if live & ARRAY != 0 {
        ok = arrays(checker, w, r, path) && ok;
    }
    if live & OBJECT != 0 {
        ok = objects(checker, w, r, path) && ok;
    }
    // Rule "unknown keywords".
    for (keyword, value) in reader {
        if is_annotation(keyword) || HANDLED.contains(&keyword.as_str()) {
            continue;
        }
        if w.schema.get(keyword) != Some(value) {
            ok = checker.fail(
                Kind::NotProvablyCompatible,
                &format!("{path}/{}", crate::error::pointer_token(keyword)),
                format!(
                    "reader keyword {keyword:?} differs from the writer's; the checker only \
                     accepts it unchanged"
                ),
            ) && ok;
        }
    }
    ok
}

/// A numeric bound: value and whether it is exclusive.
type Bound = (f64, bool);

fn bound(schema: &Value, draft: JsonDraft, inclusive: &str, exclusive: &str) -> Option<Bound> {
    let object = schema.as_object()?;
    let mut best: Option<Bound> = None;
    let lower = inclusive == "minimum";
    let mut consider = |candidate: Bound| {
        best = Some(match best {
            None => candidate,
            Some(current) => {
                let tighter = if lower {
                    candidate.0 > current.0 || (candidate.0 == current.0 && candidate.1)
                } else {
                    candidate.0 < current.0 || (candidate.0 == current.0 && candidate.1)
                };
                if tighter { candidate } else { current }
            }
        });
    };
    if let Some(v) = object.get(inclusive).and_then(Value::as_f64) {
        let exclusive_flag =
            draft == JsonDraft::Draft4 && object.get(exclusive) == Some(&Value::Bool(true));
        consider((v, exclusive_flag));
    }
    if draft != JsonDraft::Draft4
        && let Some(v) = object.get(exclusive).and_then(Value::as_f64)
    {
        consider((v, true));
    }
    best
}

/// Rule "numeric bounds" and "multipleOf".
fn numbers<'a>(checker: &mut Checker<'a>, w: Node<'a>, r: Node<'a>, path: &str, live: u8) -> bool {
    let mut ok = true;
    for (inclusive, exclusive, lower) in [
        ("minimum", "exclusiveMinimum", true),
        ("maximum", "exclusiveMaximum", false),
    ] {
        let Some(rb) = bound(r.schema, r.draft, inclusive, exclusive) else {
            continue;
        };
        let wb = bound(w.schema, w.draft, inclusive, exclusive);
        let implied = match wb {
            None => false,
            Some(wb) => {
                let inside = if lower { wb.0 > rb.0 } else { wb.0 < rb.0 };
                inside || (wb.0 == rb.0 && (!rb.1 || wb.1))
            }
        };
        if !implied {
            let keyword = if rb.1 { exclusive } else { inclusive };
            let writer = match wb {
                Some((v, true)) => format!("the writer's exclusive {v}"),
                Some((v, false)) => format!("the writer's {v}"),
                None => "the writer has none".to_string(),
            };
            ok = checker.fail(
                Kind::BoundNarrowed,
                &format!("{path}/{keyword}"),
                format!("reader {keyword} {} is tighter: {writer}", rb.0),
            ) && ok;
        }
    }
    if let Some(rm) = r.schema.get("multipleOf").and_then(Value::as_f64) {
        let wm = w.schema.get("multipleOf").and_then(Value::as_f64);
        let integers_only = live & FRACTION == 0;
        let implied = match wm {
            Some(wm) => {
                let ratio = wm / rm;
                (ratio - ratio.round()).abs() < 1e-9 && ratio.round() >= 1.0
            }
            None => false,
        } || (integers_only && rm == 1.0);
        if !implied {
            ok = checker.fail(
                Kind::MultipleOfChanged,
                &format!("{path}/multipleOf"),
                format!(
                    "reader multipleOf {rm} is not implied by the writer's multipleOf {}",
                    wm.map_or("(none)".to_string(), |m| m.to_string())
                ),
            ) && ok;
        }
    }
    ok
}

fn count(schema: &Value, keyword: &str) -> Option<u64> {
    schema.get(keyword).and_then(Value::as_u64)
}

/// `min*`/`max*` integer bounds: the writer's must be at least as tight.
fn count_bounds(
    checker: &mut Checker<'_>,
    w: &Value,
    r: &Value,
    path: &str,
    min: &str,
    max: &str,
) -> bool {
    let mut ok = true;
    if let Some(rmin) = count(r, min)
        && rmin > 0
        && count(w, min).is_none_or(|wmin| wmin < rmin)
    {
        ok = checker.fail(
            Kind::BoundNarrowed,
            &format!("{path}/{min}"),
            format!(
                "reader {min} {rmin} is above the writer's {:?}",
                count(w, min)
            ),
        );
    }
    if let Some(rmax) = count(r, max)
        && count(w, max).is_none_or(|wmax| wmax > rmax)
    {
        ok = checker.fail(
            Kind::BoundNarrowed,
            &format!("{path}/{max}"),
            format!(
                "reader {max} {rmax} is below the writer's {:?}",
                count(w, max)
            ),
        ) && ok;
    }
    ok
}

/// Rule "string bounds": lengths compare, `pattern` and `format` must be identical.
fn strings(checker: &mut Checker<'_>, w: &Value, reader: &Map<String, Value>, path: &str) -> bool {
    let r = Value::Object(reader.clone());
    let mut ok = count_bounds(checker, w, &r, path, "minLength", "maxLength");
    for keyword in ["pattern", "format"] {
        let Some(rv) = reader.get(keyword) else {
            continue;
        };
        if w.get(keyword) != Some(rv) {
            ok = checker.fail(
                Kind::PatternChanged,
                &format!("{path}/{keyword}"),
                format!(
                    "reader {keyword} {rv} differs from the writer's {}; whether one regular \
                     language contains another is not decided here, so any change is refused",
                    w.get(keyword)
                        .map_or("(none)".to_string(), Value::to_string)
                ),
            ) && ok;
        }
    }
    ok
}

/// The positional item schemas and the schema for the remaining items.
fn item_schemas(schema: &Value, draft: JsonDraft) -> (Vec<&Value>, &Value) {
    let Some(object) = schema.as_object() else {
        return (Vec::new(), schema);
    };
    if draft == JsonDraft::Draft202012 {
        let prefix = match object.get("prefixItems") {
            Some(Value::Array(items)) => items.iter().collect(),
            _ => Vec::new(),
        };
        return (prefix, object.get("items").unwrap_or(&TRUE_SCHEMA));
    }
    match object.get("items") {
        Some(Value::Array(items)) => (
            items.iter().collect(),
            object.get("additionalItems").unwrap_or(&TRUE_SCHEMA),
        ),
        Some(items) => (Vec::new(), items),
        None => (Vec::new(), &TRUE_SCHEMA),
    }
}

/// Rule "arrays": items position by position, then the rest; counts; `uniqueItems`.
fn arrays<'a>(checker: &mut Checker<'a>, w: Node<'a>, r: Node<'a>, path: &str) -> bool {
    let (w_prefix, w_rest) = item_schemas(w.schema, w.draft);
    let (r_prefix, r_rest) = item_schemas(r.schema, r.draft);
    let mut ok = true;
    let positions = w_prefix.len().max(r_prefix.len());
    let prefix_keyword = if r.draft == JsonDraft::Draft202012 {
        "prefixItems"
    } else {
        "items"
    };
    for i in 0..positions {
        let wi = w_prefix.get(i).copied().unwrap_or(w_rest);
        let ri = r_prefix.get(i).copied().unwrap_or(r_rest);
        let at = if i < r_prefix.len() {
            format!("{path}/{prefix_keyword}/{i}")
        } else {
            format!("{path}/items")
        };
        ok = checker.subset(w.child(wi), r.child(ri), &at) && ok;
    }
    let rest_keyword = if !r_prefix.is_empty() && r.draft != JsonDraft::Draft202012 {
        "additionalItems"
    } else {
        "items"
    };
    ok = checker.subset(
        w.child(w_rest),
        r.child(r_rest),
        &format!("{path}/{rest_keyword}"),
    ) && ok;
    ok = count_bounds(checker, w.schema, r.schema, path, "minItems", "maxItems") && ok;
    if r.schema.get("uniqueItems") == Some(&Value::Bool(true))
        && w.schema.get("uniqueItems") != Some(&Value::Bool(true))
    {
        ok = checker.fail(
            Kind::BoundNarrowed,
            &format!("{path}/uniqueItems"),
            "the reader requires unique items; the writer allows duplicates".to_string(),
        ) && ok;
    }
    ok
}

fn schema_map<'a>(schema: &'a Value, keyword: &str) -> Option<&'a Map<String, Value>> {
    schema.get(keyword).and_then(Value::as_object)
}

/// Rule "objects": required, properties, the content model, counts, property names.
fn objects<'a>(checker: &mut Checker<'a>, w: Node<'a>, r: Node<'a>, path: &str) -> bool {
    let mut ok = true;
    // required
    let required = |s: &Value| -> Vec<String> {
        match s.get("required") {
            Some(Value::Array(names)) => names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    };
    let w_required = required(w.schema);
    let added: Vec<String> = required(r.schema)
        .into_iter()
        .filter(|name| !w_required.contains(name))
        .collect();
    if !added.is_empty() {
        ok = checker.fail(
            Kind::RequiredAttributeAdded,
            &format!("{path}/required"),
            format!(
                "the reader requires {:?}, which the writer does not require",
                added
            ),
        );
    }
    let w_props = schema_map(w.schema, "properties");
    let r_props = schema_map(r.schema, "properties");
    let w_patterns = w.schema.get("patternProperties");
    let r_patterns = r.schema.get("patternProperties");
    let same_patterns = w_patterns == r_patterns;
    // Rule "undeclared properties carry no contract": a writer whose additionalProperties
    // is absent or `true` is taken to send only the properties it declares; a schema-valued
    // additionalProperties is taken literally.
    let w_additional = match w.schema.get("additionalProperties") {
        None | Some(Value::Bool(true)) => &FALSE_SCHEMA,
        Some(schema) => schema,
    };
    let r_additional = r.schema.get("additionalProperties").unwrap_or(&TRUE_SCHEMA);
    // What the writer allows under a name it does not list.
    let w_other: &Value = if w_patterns.is_some() && !same_patterns {
        &TRUE_SCHEMA
    } else {
        w_additional
    };
    let mut names: Vec<&String> = Vec::new();
    for map in [w_props, r_props].into_iter().flatten() {
        for name in map.keys() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    for name in names {
        let token = crate::error::pointer_token(name);
        let w_schema = match w_props.and_then(|m| m.get(name)) {
            Some(s) => s,
            None if w_patterns.is_some() => &TRUE_SCHEMA,
            None => w_additional,
        };
        if w_schema == &Value::Bool(false) {
            continue;
        }
        match r_props.and_then(|m| m.get(name)) {
            Some(r_schema) => {
                let at = format!("{path}/properties/{token}");
                ok = checker.subset(w.child(w_schema), r.child(r_schema), &at) && ok;
            }
            None => {
                ok = additional(
                    checker,
                    w.child(w_schema),
                    r.child(r_additional),
                    path,
                    Some(name),
                ) && ok;
            }
        }
        if !same_patterns {
            ok = pattern_schemas(checker, w.child(w_schema), r, path) && ok;
        }
    }
    // Names neither side lists.
    ok = additional(checker, w.child(w_other), r.child(r_additional), path, None) && ok;
    if !same_patterns {
        ok = pattern_schemas(checker, w.child(w_other), r, path) && ok;
    }
    ok = count_bounds(
        checker,
        w.schema,
        r.schema,
        path,
        "minProperties",
        "maxProperties",
    ) && ok;
    if let Some(r_names) = r.schema.get("propertyNames") {
        let w_names = w.schema.get("propertyNames").unwrap_or(&TRUE_SCHEMA);
        ok = checker.subset(
            w.child(w_names),
            r.child(r_names),
            &format!("{path}/propertyNames"),
        ) && ok;
    }
    ok
}

/// A writer property value (named, or any unlisted name) against the reader's
/// `additionalProperties`.
fn additional<'a>(
    checker: &mut Checker<'a>,
    w: Node<'a>,
    r: Node<'a>,
    path: &str,
    name: Option<&str>,
) -> bool {
    if is_true(r.schema) || w.schema == &Value::Bool(false) {
        return true;
    }
    if r.schema == &Value::Bool(false) {
        let message = match name {
            Some(name) => format!(
                "the writer allows property {name:?}, which the reader's closed content model \
                 (additionalProperties: false) forbids"
            ),
            None => "the writer's additionalProperties allows properties that the reader's \
                     closed content model (additionalProperties: false) forbids"
                .to_string(),
        };
        return checker.fail(
            Kind::PropertyAddedToClosedContentModel,
            &format!("{path}/additionalProperties"),
            message,
        );
    }
    let mark = checker.findings.len();
    if checker.subset(w, r, &format!("{path}/additionalProperties")) {
        return true;
    }
    if checker.findings.len() == mark {
        checker.fail(
            Kind::AdditionalPropertiesNarrowed,
            &format!("{path}/additionalProperties"),
            "the reader's additionalProperties admits less than the writer allows".to_string(),
        );
    }
    false
}

/// Without knowing which names a pattern matches, a writer value must satisfy every reader
/// `patternProperties` schema (conservative).
fn pattern_schemas<'a>(checker: &mut Checker<'a>, w: Node<'a>, r: Node<'a>, path: &str) -> bool {
    let Some(patterns) = schema_map(r.schema, "patternProperties") else {
        return true;
    };
    let mut ok = true;
    for (pattern, schema) in patterns {
        let at = format!(
            "{path}/patternProperties/{}",
            crate::error::pointer_token(pattern)
        );
        ok = checker.subset(w, r.child(schema), &at) && ok;
    }
    ok
}
