//! Property tests of the compatibility checker over generated Avro schemas.

use proptest::prelude::*;
use serde_json::{Value, json};
use tributary_registry::{CompatibilityLevel, InMemoryReferences, ParsedSchema, SchemaType, check};

fn primitive() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("null")),
        Just(json!("boolean")),
        Just(json!("int")),
        Just(json!("long")),
        Just(json!("float")),
        Just(json!("double")),
        Just(json!("bytes")),
        Just(json!("string")),
    ]
}

/// Field types: primitives, arrays, maps, unions of distinct primitives, enums, fixed.
fn field_type() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        4 => primitive(),
        1 => prop::sample::subsequence(vec!["A", "B", "C", "D"], 1..4)
            .prop_map(|s| json!({"type": "enum", "name": "E", "symbols": s})),
        1 => (1u64..5).prop_map(|n| json!({"type": "fixed", "name": "F", "size": n})),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            inner
                .clone()
                .prop_map(|t| json!({"type": "array", "items": t})),
            inner.prop_map(|t| json!({"type": "map", "values": t})),
            prop::sample::subsequence(vec!["null", "int", "string", "double"], 1..4)
                .prop_map(|b| json!(b)),
        ]
    })
}

/// Records whose named types have unique names (E, F renamed per field).
fn record() -> impl Strategy<Value = Value> {
    prop::collection::vec((field_type(), any::<bool>()), 0..5).prop_map(|fields| {
        let mut out = Vec::new();
        for (i, (mut t, nullable)) in fields.into_iter().enumerate() {
            rename(&mut t, i);
            if nullable && !t.is_array() {
                out.push(json!({"name": format!("f{i}"), "type": ["null", t], "default": null}));
            } else {
                out.push(json!({"name": format!("f{i}"), "type": t}));
            }
        }
        json!({"type": "record", "name": "R", "fields": out})
    })
}

fn rename(t: &mut Value, i: usize) {
    if let Some(obj) = t.as_object_mut() {
        if let Some(Value::String(name)) = obj.get("name").cloned() {
            obj.insert("name".into(), json!(format!("{name}{i}")));
        }
        for key in ["items", "values"] {
            if let Some(inner) = obj.get_mut(key) {
                rename(inner, i * 10 + 1);
            }
        }
    }
}

fn parse(v: &Value) -> Option<ParsedSchema> {
    ParsedSchema::parse(
        SchemaType::Avro,
        &v.to_string(),
        &[],
        &InMemoryReferences::new(),
    )
    .ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_schema_is_compatible_with_itself(schema in record()) {
        let Some(s) = parse(&schema) else { return Ok(()); };
        for level in CompatibilityLevel::ALL {
            prop_assert!(check(level, &s, std::slice::from_ref(&s)).is_empty(), "{level} {schema}");
        }
    }

    #[test]
    fn adding_a_field_with_default_is_backward_compatible(schema in record(), t in primitive()) {
        if t == json!("null") { return Ok(()); }
        let Some(old) = parse(&schema) else { return Ok(()); };
        let mut new = schema.clone();
        new["fields"].as_array_mut().unwrap().push(json!({"name": "added", "type": ["null", t], "default": null}));
        let new = parse(&new).unwrap();
        prop_assert!(check(CompatibilityLevel::Backward, &new, std::slice::from_ref(&old)).is_empty());
        prop_assert!(check(CompatibilityLevel::Forward, &new, &[old]).is_empty());
    }

    #[test]
    fn full_is_backward_and_forward_and_never_panics(a in record(), b in record()) {
        let (Some(a), Some(b)) = (parse(&a), parse(&b)) else { return Ok(()); };
        let backward = check(CompatibilityLevel::Backward, &a, std::slice::from_ref(&b)).is_empty();
        let forward = check(CompatibilityLevel::Forward, &a, std::slice::from_ref(&b)).is_empty();
        let full = check(CompatibilityLevel::Full, &a, std::slice::from_ref(&b)).is_empty();
        prop_assert_eq!(full, backward && forward);
        let transitive = check(CompatibilityLevel::FullTransitive, &a, &[b.clone(), b]).is_empty();
        prop_assert_eq!(transitive, full);
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = ParsedSchema::parse(SchemaType::Avro, &text, &[], &InMemoryReferences::new());
        let _ = ParsedSchema::parse(SchemaType::Json, &text, &[], &InMemoryReferences::new());
    }

    #[test]
    fn json_checker_never_panics_and_is_reflexive(a in json_schema(), b in json_schema()) {
        let (Some(a), Some(b)) = (parse_json(&a), parse_json(&b)) else { return Ok(()); };
        let _ = check(CompatibilityLevel::Full, &a, std::slice::from_ref(&b));
        prop_assert!(check(CompatibilityLevel::Full, &a, std::slice::from_ref(&a)).is_empty());
    }
}

fn parse_json(v: &Value) -> Option<ParsedSchema> {
    ParsedSchema::parse(
        SchemaType::Json,
        &v.to_string(),
        &[],
        &InMemoryReferences::new(),
    )
    .ok()
}

fn json_schema() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(json!({"type": "string"})),
        Just(json!({"type": "integer", "minimum": 0})),
        Just(json!({"type": "number", "maximum": 10})),
        Just(json!({"enum": ["a", "b", 1]})),
        Just(json!({"type": "string", "maxLength": 4})),
        Just(json!(true)),
        Just(json!({"type": "null"})),
    ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::btree_map("[a-c]", inner.clone(), 0..3)
                .prop_map(|p| { json!({"type": "object", "properties": p, "required": ["a"]}) }),
            prop::collection::btree_map("[a-c]", inner.clone(), 0..3).prop_map(
                |p| json!({"type": "object", "properties": p, "additionalProperties": false})
            ),
            inner
                .clone()
                .prop_map(|i| json!({"type": "array", "items": i})),
            prop::collection::vec(inner.clone(), 1..3).prop_map(|b| json!({"anyOf": b})),
            prop::collection::vec(inner.clone(), 1..3).prop_map(|b| json!({"oneOf": b})),
            prop::collection::vec(inner, 1..3).prop_map(|b| json!({"allOf": b})),
        ]
    })
}
